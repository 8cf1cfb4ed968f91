"""Cascades: the power-law fit of cascade sizes (the cascade tables themselves are SQL assets of `sql/marts/`)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory.studies.cascades import TABLES
from observatory.studies.powerlaw import fit_cascade_sizes
from pipelines.tables import key_for, step_results, step_specs

CASCADE_KEYS = {name: key_for(name) for name in TABLES}
POWERLAW_KEY = key_for("cascade_powerlaw")


class PowerLawConfig(dg.Config):
    n_bootstrap: int = 1000
    seed: int = 0
    method: str = "powerlaw"  # or "plfit": Clauset's own procedure (alpha on a 0.01 grid)


@dg.multi_asset(
    specs=step_specs("powerlaw", {
        "cascade_powerlaw": "The power-law fit of cascade sizes: alpha with its SE and bootstrap interval, x_min, "
                            "the KS distance, the bootstrap goodness-of-fit p and the verdict.",
        "cascade_powerlaw_comparisons": "Likelihood-ratio tests of the power law against lognormal, exponential, "
                                        "truncated power law and stretched exponential (Vuong p).",
        "cascade_ccdf": "The empirical CCDF of cascade sizes with the fitted tail, for the report's plot.",
    }),
    can_subset=False,
)
def cascade_powerlaw(context: dg.AssetExecutionContext, config: PowerLawConfig, duckdb: DuckDBResource):
    """Power-law fit of cascade sizes: alpha +/- SE, xmin, KS, bootstrap GoF p, LR tests; CCDF for the report."""
    with duckdb.get_connection() as con:
        fit = fit_cascade_sizes(con, n_bootstrap=config.n_bootstrap, seed=config.seed, method=config.method)
        extra: dict = {"cascade_powerlaw": {}, "cascade_ccdf": {}}
        if fit is None:
            extra["cascade_powerlaw"]["fitted"] = False
        else:
            d = fit.to_dict()
            context.log.info(f"alpha {d['alpha']:.3f} +/- {d['alpha_se']:.3f}, xmin {d['xmin']}, "
                             f"GoF p {d['ks_p_value']}, verdict: {d['verdict']}")
            extra["cascade_powerlaw"].update({
                "alpha": float(d["alpha"]), "alpha_se": float(d["alpha_se"]),
                "alpha_ci": dg.MetadataValue.json([round(float(x), 4) for x in d["alpha_ci"]]),
                "xmin": float(d["xmin"]), "n_tail": int(d["n_tail"]),
                "ks_p_value": float(d["ks_p_value"]) if d["ks_p_value"] is not None else float("nan"),
                "verdict": dg.MetadataValue.text(d["verdict"]),
                "comparisons": dg.MetadataValue.md(
                    fit.comparisons_.drop(columns=["parameters"]).to_markdown(index=False, floatfmt=".4g")),
            })
        results = step_results(con, "powerlaw", extra, plots={"cascade_ccdf": "cascade_ccdf"})
    yield from results
