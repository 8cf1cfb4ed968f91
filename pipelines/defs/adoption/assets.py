"""Adoption hazards: the exposure panel, Cox models and the exposure curve (observatory.adoption)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from observatory._charts import markdown_image
from observatory.adoption import run_adoption
from pipelines.defs.cascades.assets import CASCADE_KEYS
from pipelines.defs.population.assets import AGENT_ACTIVITY
from pipelines.defs.roles.assets import ROLE_KEYS

ADOPTION_KEYS = {name: dg.AssetKey(["adoption", name])
                 for name in ("adoption_subjects", "adoption_panel", "adoption_cox", "exposure_curve")}


class AdoptionConfig(dg.Config):
    max_rows: int = 2_000_000  # above this, case-control sampling of non-event rows (weighted)
    max_exposures: int = 10
    seed: int = 0


@dg.multi_asset(
    specs=[dg.AssetSpec(key, group_name="adoption", kinds={"duckdb"},
                        deps=[CASCADE_KEYS["exposures"], CASCADE_KEYS["adoptions"], CASCADE_KEYS["items"],
                              AGENT_ACTIVITY, ROLE_KEYS["agent_features"]])
           for key in ADOPTION_KEYS.values()],
    can_subset=False,
)
def adoption(context: dg.AssetExecutionContext, config: AdoptionConfig, duckdb: DuckDBResource):
    """Counting-process panel -> Cox (linear and log1p exposure, clustered SEs, PH test) -> exposure curve."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        result = run_adoption(con, max_rows=config.max_rows, max_exposures=config.max_exposures, seed=config.seed,
                              progress=context.log.info)
        counts = {name: _db.row_count(con, name) for name in ADOPTION_KEYS}
        plots = {"adoption_cox": markdown_image(con, "hazard_forest"), "exposure_curve": markdown_image(con, "exposure_curve")}
    context.log.info("\n" + result.summary())
    for name, key in ADOPTION_KEYS.items():
        metadata = {"rows": dg.MetadataValue.int(int(counts[name]))}
        if name == "adoption_cox" and result.linear is not None:
            lo, hi = result.linear.hazard_ratio_ci_
            metadata.update({
                "hazard_ratio": dg.MetadataValue.float(float(result.linear.hazard_ratio_)),
                "hazard_ratio_ci": dg.MetadataValue.json([float(lo), float(hi)]),
                "concordance": dg.MetadataValue.float(float(result.linear.concordance_)),
                "events": dg.MetadataValue.int(result.n_events),
                "subjects": dg.MetadataValue.int(result.n_subjects),
                "verdict": dg.MetadataValue.text(result.verdict),
            })
        if plots.get(name):
            metadata["plot"] = dg.MetadataValue.md(plots[name])
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
