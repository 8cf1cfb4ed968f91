"""Checks on the matched comparison: covariate balance after matching."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.defs.cooperation.assets import COOPERATION_KEYS

SMD_THRESHOLD = 0.1


@dg.asset_check(asset=COOPERATION_KEYS["cooperation_balance"], name="balance_after_matching")
def balance_after_matching(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Every covariate's standardised mean difference after matching is below 0.1."""
    with duckdb.get_connection() as con:
        rows = con.execute("SELECT covariate, smd_before, smd_after FROM cooperation_balance ORDER BY covariate").fetchall()
    flagged = [c for c, _, after in rows if after is not None and abs(after) > SMD_THRESHOLD]
    return dg.AssetCheckResult(
        passed=bool(rows) and not flagged,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "covariates": len(rows),
            "above_threshold": dg.MetadataValue.json(flagged),
            "max_abs_smd_before": float(max((abs(b) for _, b, _ in rows if b is not None), default=0.0)),
            "max_abs_smd_after": float(max((abs(a) for _, _, a in rows if a is not None), default=0.0)),
        },
    )
