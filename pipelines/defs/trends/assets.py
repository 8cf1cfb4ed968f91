"""The headlines over time (observatory.studies.trends): every headline quantity per window, and the shifts
flagged between consecutive windows."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory.history import HISTORY_TABLE, record_history
from observatory.steps import STEPS
from observatory.studies.trends import run_trends
from pipelines.tables import OWNERS, key_for, study_asset

TRENDS_KEYS = {name: key_for(name) for name in ("headline_trends", "headline_shifts")}


def _metadata(result) -> dict:
    flagged = result.flagged
    return {
        "headline_trends": {"windows": len(result.windows), "window_days": float(result.window_days),
                            "quantities": dg.MetadataValue.json(
                                sorted(result.series["quantity"].unique().tolist()) if len(result.series) else [])},
        "headline_shifts": {"comparisons": int(result.detector.n_comparisons_), "flagged": len(flagged),
                            "level": float(result.detector.level),
                            "flagged_quantities": dg.MetadataValue.json(sorted(set(flagged["quantity"])))},
    }


trends = study_asset(
    "trends", {
        "headline_trends": "Every headline quantity per time window: estimate, 95% interval, standard error, n.",
        "headline_shifts": "Each pair of consecutive windows compared per quantity: z, p, Holm-adjusted p, whether "
                           "the shift is flagged and whether the intervals overlap.",
    },
    lambda con, settings, context: run_trends(con, settings, progress=context.log.info),
    name="trends", summary="Headlines per window -> consecutive-window z-tests -> Holm at a family-wise level.",
    metadata=_metadata,
)


@dg.asset(key=key_for(HISTORY_TABLE), group_name="trends", kinds={"duckdb"}, owners=OWNERS,
          tags={"domain": "trends"}, deps=sorted({key_for(t) for step in STEPS for t in step.tables}, key=str),
          automation_condition=dg.AutomationCondition.eager())
def headline_history(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Append this run's headline estimates (the whole observation and every window) to `headline_history`, under
    the Dagster run id: one row per quantity per run, never overwritten (a retried run replaces its own rows)."""
    with duckdb.get_connection() as con:
        written = record_history(con, context.run.run_id)
        runs, rows = con.execute(f"SELECT count(DISTINCT run_id), count(*) FROM {HISTORY_TABLE}").fetchall()[0]
    return dg.MaterializeResult(metadata={"rows_this_run": written, "runs": int(runs), "dagster/row_count": int(rows),
                                          "dagster/table_name": f"main.{HISTORY_TABLE}"})
