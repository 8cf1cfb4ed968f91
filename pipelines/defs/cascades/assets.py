"""Cascades: items, adoptions, exposures, cascade trees (SQL), and the power-law fit of cascade sizes."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from observatory._charts import markdown_image
from observatory.cascades import TABLES, CascadeConfig, build_cascades, fit_cascade_sizes
from pipelines.defs.ingest.assets import STAGING_KEYS

CASCADE_KEYS = {name: dg.AssetKey(["cascades", name]) for name in TABLES}
POWERLAW_KEY = dg.AssetKey(["cascades", "cascade_powerlaw"])


class CascadesConfig(dg.Config):
    extract_code_spans: bool = False
    code_span_min_chars: int = 20
    extract_memes: bool = False
    meme_words: int = 5
    meme_min_adopters: int = 5
    meme_max_stopword_share: float = 0.5


@dg.multi_asset(
    specs=[dg.AssetSpec(key, group_name="cascades", kinds={"duckdb", "sql"},
                        deps=[STAGING_KEYS["posts"], STAGING_KEYS["comments"]])
           for key in CASCADE_KEYS.values()],
    can_subset=False,
)
def cascade_tables(config: CascadesConfig, duckdb: DuckDBResource):
    """Item mentions -> adoptions -> exposures -> cascade trees -> per-cascade statistics -> items."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        counts = build_cascades(con, CascadeConfig(**config.model_dump()))
        stats = con.execute(
            "SELECT count(*), avg(size), max(size), max(depth), avg(structural_virality) FROM cascades"
        ).fetchone()
    for name, key in CASCADE_KEYS.items():
        metadata = {"rows": dg.MetadataValue.int(int(counts[name]))}
        if name == "cascades" and stats[0]:
            metadata.update({"mean_size": float(stats[1]), "max_size": int(stats[2]), "max_depth": int(stats[3]),
                             "mean_structural_virality": float(stats[4] or 0.0)})
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


class PowerLawConfig(dg.Config):
    n_bootstrap: int = 1000
    seed: int = 0
    method: str = "powerlaw"  # or "plfit": Clauset's own procedure (alpha on a 0.01 grid)


@dg.asset(key=POWERLAW_KEY, group_name="cascades", kinds={"python", "duckdb"}, deps=[CASCADE_KEYS["cascades"]])
def cascade_powerlaw(context: dg.AssetExecutionContext, config: PowerLawConfig, duckdb: DuckDBResource):
    """Power-law fit of cascade sizes: alpha +/- SE, xmin, KS, bootstrap GoF p, LR tests; CCDF stored for the report."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        fit = fit_cascade_sizes(con, n_bootstrap=config.n_bootstrap, seed=config.seed, method=config.method)
        plot = markdown_image(con, "cascade_ccdf") if fit is not None else None
    if fit is None:
        return dg.MaterializeResult(metadata={"fitted": False})
    d = fit.to_dict()
    context.log.info(f"alpha {d['alpha']:.3f} +/- {d['alpha_se']:.3f}, xmin {d['xmin']}, GoF p {d['ks_p_value']}, "
                     f"verdict: {d['verdict']}")
    return dg.MaterializeResult(metadata={
        "alpha": dg.MetadataValue.float(float(d["alpha"])),
        "alpha_se": dg.MetadataValue.float(float(d["alpha_se"])),
        "alpha_ci": dg.MetadataValue.json(d["alpha_ci"]),
        "xmin": dg.MetadataValue.float(float(d["xmin"])),
        "n_tail": dg.MetadataValue.int(int(d["n_tail"])),
        "ks_p_value": dg.MetadataValue.float(float(d["ks_p_value"] if d["ks_p_value"] is not None else float("nan"))),
        "verdict": dg.MetadataValue.text(d["verdict"]),
        "comparisons": dg.MetadataValue.md(fit.comparisons_.drop(columns=["parameters"]).to_markdown(index=False)),
        **({"plot": dg.MetadataValue.md(plot)} if plot else {}),
    })
