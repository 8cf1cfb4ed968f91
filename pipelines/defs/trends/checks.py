"""One check per headline quantity: it warns when a shift between consecutive windows was flagged."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.defs.trends.assets import TRENDS_KEYS

# The headline quantities watched; the role shares are one check (a shift in any role's share).
WATCHED = {"hazard_ratio": "adoption.hazard_ratio", "alpha": "cascades.alpha", "role_shares": "roles.%_share",
           "matched_effect": "collab.success_rate_difference"}


def _check(name: str, pattern: str):
    @dg.asset_check(asset=TRENDS_KEYS["headline_shifts"], name=f"no_shift_in_{name}",
                    description=f"No flagged shift between consecutive windows in {pattern}.")
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            rows = con.execute(
                "SELECT quantity, window_before, window_after, estimate_before, estimate_after, p_adjusted, flagged "
                "FROM headline_shifts WHERE quantity LIKE ? ORDER BY quantity, window_before", [pattern]).fetchall()
        flagged = [r for r in rows if r[6]]
        return dg.AssetCheckResult(
            passed=not flagged,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "comparisons": len(rows),
                "flagged": dg.MetadataValue.json([
                    {"quantity": q, "windows": [int(a), int(b)], "before": round(float(x), 4),
                     "after": round(float(y), 4), "p_adjusted": float(p)} for q, a, b, x, y, p, _ in flagged]),
            },
        )

    return check


no_shift_in_hazard_ratio = _check("hazard_ratio", WATCHED["hazard_ratio"])
no_shift_in_alpha = _check("alpha", WATCHED["alpha"])
no_shift_in_role_shares = _check("role_shares", WATCHED["role_shares"])
no_shift_in_matched_effect = _check("matched_effect", WATCHED["matched_effect"])
