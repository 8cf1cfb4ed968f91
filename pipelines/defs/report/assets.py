"""The report: findings.json and the self-contained HTML report, the last step of the main job."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from observatory.report import write_report
from pipelines.defs.adoption.assets import ADOPTION_KEYS
from pipelines.defs.cascades.assets import POWERLAW_KEY
from pipelines.defs.cooperation.assets import COOPERATION_KEYS
from pipelines.defs.population.assets import AGENT_ACTIVITY
from pipelines.defs.roles.assets import ROLE_KEYS
from pipelines.defs.resources import reports_dir


@dg.asset(key=["report", "findings"], group_name="report", kinds={"html", "json"}, deps=[AGENT_ACTIVITY, ROLE_KEYS["agent_roles"], POWERLAW_KEY, ADOPTION_KEYS["adoption_cox"],
                     COOPERATION_KEYS["cooperation_outcomes"]])
def report(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Write findings.json and index.html for every analysis that has run."""
    out = reports_dir()
    with duckdb.get_connection() as con:
        _db.configure(con)
        # The run's configuration (seeds, thresholds, bootstrap sizes) is what a reader needs to rerun it.
        parameters = {"dagster_run_id": context.run_id, "run_config": context.run.run_config}
        html = write_report(con, out, parameters=parameters)
        try:
            headline = con.execute("SELECT key, value, ci_lower, ci_upper, n, study FROM headline").df()
        except Exception:  # noqa: BLE001 - the headline view needs every analysis; without them the report says so
            headline = None
    _db.publish(duckdb.database)  # the read copy `status` and `sql` fall back to while a run writes
    context.log.info(f"report written to {html.resolve()}")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(html.resolve())),
            "findings": dg.MetadataValue.path(str((out / "findings.json").resolve())),
            **({"headline": dg.MetadataValue.md(headline.to_markdown(index=False, floatfmt=".4g"))}
               if headline is not None else {}),
        }
    )
