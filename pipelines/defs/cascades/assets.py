"""Cascades: the power-law fit of cascade sizes (the cascade tables themselves are SQL assets of `sql/marts/`)."""

import dagster as dg

from observatory.studies.cascades import TABLES
from observatory.studies.powerlaw import fit_cascade_sizes
from pipelines.tables import key_for, study_asset

CASCADE_KEYS = {name: key_for(name) for name in TABLES}
POWERLAW_KEY = key_for("cascade_powerlaw")


def _metadata(fit) -> dict:
    extra: dict = {"cascade_powerlaw": {}, "cascade_ccdf": {}}
    if fit is None:
        extra["cascade_powerlaw"]["fitted"] = False
        return extra
    d = fit.to_dict()
    extra["cascade_powerlaw"].update({
        "alpha": float(d["alpha"]), "alpha_se": float(d["alpha_se"]),
        "alpha_ci": dg.MetadataValue.json([round(float(x), 4) for x in d["alpha_ci"]]),
        "xmin": float(d["xmin"]), "n_tail": int(d["n_tail"]),
        "ks_p_value": float(d["ks_p_value"]) if d["ks_p_value"] is not None else float("nan"),
        "verdict": dg.MetadataValue.text(d["verdict"]),
        "comparisons": dg.MetadataValue.md(
            fit.comparisons_.drop(columns=["parameters"]).to_markdown(index=False, floatfmt=".4g")),
    })
    return extra


def _fit(con, settings, context):
    fit = fit_cascade_sizes(con, settings)
    if fit is not None:
        context.log.info(f"alpha {fit.alpha_:.3f} +/- {fit.alpha_se_:.3f}, xmin {fit.xmin_}, "
                         f"GoF p {fit.p_value_}, verdict: {fit.verdict_}")
    return fit


cascade_powerlaw = study_asset(
    "powerlaw", {
        "cascade_powerlaw": "The power-law fit of cascade sizes: alpha with its SE and bootstrap interval, x_min, "
                            "the KS distance, the bootstrap goodness-of-fit p and the verdict.",
        "cascade_powerlaw_comparisons": "Likelihood-ratio tests of the power law against lognormal, exponential, "
                                        "truncated power law and stretched exponential (Vuong p).",
        "cascade_ccdf": "The empirical CCDF of cascade sizes with the fitted tail, for the report's plot.",
    },
    _fit, name="cascade_powerlaw",
    summary="Power-law fit of cascade sizes: alpha +/- SE, xmin, KS, bootstrap GoF p, LR tests; CCDF for the report.",
    metadata=_metadata, plots={"cascade_ccdf": "cascade_ccdf"},
)
