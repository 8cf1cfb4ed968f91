"""Population: per-agent activity and the active/inactive split that every analysis starts from."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from pipelines.defs.ingest.assets import STAGING_KEYS

AGENT_ACTIVITY = dg.AssetKey(["population", "agent_activity"])


@dg.asset(
    key=AGENT_ACTIVITY,
    group_name="population",
    kinds={"duckdb", "sql"},
    deps=[STAGING_KEYS["agents"], STAGING_KEYS["posts"], STAGING_KEYS["comments"]],
)
def agent_activity(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per agent (sql/marts/agent_activity.sql): posts, comments, active days; active = wrote anything."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        rows = _db.build_table(con, "agent_activity")
        registered, active = con.execute(
            "SELECT count(*) FILTER (WHERE registered), count(*) FILTER (WHERE active) FROM agent_activity"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(int(rows)),
            "registered_agents": dg.MetadataValue.int(int(registered)),
            "active_agents": dg.MetadataValue.int(int(active)),
            "active_share": dg.MetadataValue.float(float(active / registered) if registered else float("nan")),
        }
    )
