"""Checks on the ingest beyond the tests declared beside the SQL: how much of what was read went to quarantine."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.tables import key_for

# A share of quarantined records above this is worth a warning: the drop may not follow the contract.
QUARANTINE_WARN_SHARE = 0.05


@dg.asset_check(asset=key_for("quarantine"), name="quarantine_share")
def quarantine_share(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """How many records went to quarantine, by entity and reason; warns above 5% of what was read."""
    with duckdb.get_connection() as con:
        by_reason = con.execute(
            "SELECT entity || ': ' || reason, count(*) FROM quarantine GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        read = con.execute("SELECT COALESCE(sum(rows_read), 0) FROM ingest_log").fetchone()[0]
    quarantined = sum(n for _, n in by_reason)
    share = quarantined / read if read else 0.0
    return dg.AssetCheckResult(
        passed=share <= QUARANTINE_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": int(quarantined),
            "rows_read": int(read),
            "share": float(round(share, 6)),
            "by_reason": dg.MetadataValue.json({k: int(v) for k, v in by_reason}),
        },
    )
