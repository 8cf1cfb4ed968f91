"""The report: findings.json and the self-contained HTML report, the last asset of the graph.

It follows new data by itself (eager automation: once any analysis it reads is updated) and carries a freshness
policy: a report older than a day and a bit, with the daily schedule as the backstop, is flagged in the UI.
"""

from datetime import timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import db
from observatory.history import HISTORY_TABLE
from observatory.report.html import write_report
from observatory.sqlmodels import catalogue
from observatory.steps import STEPS
from pipelines.defs.resources import reports_dir
from pipelines.tables import OWNERS, key_for

# What the report reads: every result table of every step, the marts it tabulates, and the researchers' views.
REPORT_READS = sorted({*(t for s in STEPS for t in (*s.sql, *s.tables)),
                       *(name for name, model in catalogue().items() if model.layer == "views"), "quarantine",
                       HISTORY_TABLE})


@dg.asset(key=["report", "findings"], group_name="report", kinds={"html", "json"}, owners=OWNERS,
          tags={"domain": "report"}, deps=[key_for(t) for t in REPORT_READS],
          automation_condition=dg.AutomationCondition.eager(),
          freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=30),
                                                          warn_window=timedelta(hours=25)))
def report(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Write findings.json and index.html for every analysis that has run."""
    out = reports_dir()
    with duckdb.get_connection() as con:
        # The run's configuration (seeds, thresholds, bootstrap sizes) is what a reader needs to rerun it.
        parameters = {"dagster_run_id": context.run.run_id, "run_config": context.run.run_config}
        html = write_report(con, out, parameters=parameters)
        headline = con.execute("SELECT key, value, ci_lower, ci_upper, n, study FROM headline").df() \
            if db.table_exists(con, "headline") else None
        rows = len(headline) if headline is not None else 0
    db.publish(duckdb.database)  # the read copy `status` and `sql` read while a run writes
    context.log.info(f"report written to {html.resolve()}")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(html.resolve())),
            "findings": dg.MetadataValue.path(str((out / "findings.json").resolve())),
            "dagster/row_count": dg.MetadataValue.int(rows),  # headline rows
            **({"headline": dg.MetadataValue.md(headline.to_markdown(index=False, floatfmt=".4g"))}
               if headline is not None else {}),
        }
    )
