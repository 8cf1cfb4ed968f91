"""Cooperation: task events and multi-agent threads against a matched single-agent baseline."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from observatory._charts import markdown_image
from observatory.cooperation import CooperationConfig, run_cooperation
from pipelines.defs.ingest.assets import STAGING_KEYS

COOPERATION_KEYS = {name: dg.AssetKey(["cooperation", name])
                    for name in ("task_events", "cooperation_matches", "cooperation_balance", "cooperation_outcomes",
                                 "cooperation_designs", "cooperation_overlap")}


class CooperationRunConfig(dg.Config):
    caliper: float = 0.2
    exact_submolt: bool = False
    replace: bool = False
    seed: int = 0
    task_min_comments: int = 4
    task_min_participants: int = 2
    task_min_span_hours: float = 0.5


@dg.multi_asset(
    specs=[dg.AssetSpec(key, group_name="cooperation", kinds={"duckdb"},
                        deps=[STAGING_KEYS["tasks"], STAGING_KEYS["comments"], STAGING_KEYS["posts"],
                              STAGING_KEYS["agents"]])
           for key in COOPERATION_KEYS.values()],
    can_subset=False,
)
def cooperation(context: dg.AssetExecutionContext, config: CooperationRunConfig, duckdb: DuckDBResource):
    """Task events -> propensity score -> 1:1 caliper matching -> balance, outcomes, power."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        result = run_cooperation(con, CooperationConfig(**config.model_dump()))
        counts = {name: _db.row_count(con, name) for name in COOPERATION_KEYS}
        plots = {"cooperation_balance": markdown_image(con, "love_plot"),
                 "cooperation_outcomes": markdown_image(con, "effects_forest"),
                 "cooperation_designs": markdown_image(con, "design_forest"),
                 "cooperation_overlap": markdown_image(con, "propensity_overlap")}
    context.log.info("\n" + result.summary())
    m = result.matcher
    for name, key in COOPERATION_KEYS.items():
        metadata = {"rows": dg.MetadataValue.int(int(counts[name]))}
        if name == "cooperation_outcomes" and m is not None:
            metadata.update({
                "n_matched": dg.MetadataValue.int(int(m.n_matched_)),
                "success_rate_difference": dg.MetadataValue.float(float(m.rate_difference_)),
                "cohens_d": dg.MetadataValue.float(float(m.cohens_d_)),
                "cohens_d_ci": dg.MetadataValue.json([float(x) for x in m.cohens_d_ci_]),
                "underpowered": dg.MetadataValue.bool(bool(m.underpowered_)),
                "design_sensitive": dg.MetadataValue.bool(bool(m.design_sensitive_)),
                "warnings": dg.MetadataValue.json(list(m.warnings_)),
                "outcome_source": dg.MetadataValue.text(result.outcome_source),
            })
        if plots.get(name):
            metadata["plot"] = dg.MetadataValue.md(plots[name])
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
