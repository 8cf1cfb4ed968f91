"""Checks on the adoption panel: well-formed intervals, and the proportional-hazards assumption."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _status, db
from pipelines.defs.adoption.assets import ADOPTION_KEYS


@dg.asset_check(asset=ADOPTION_KEYS["adoption_panel"], name="panel_intervals_well_formed")
def panel_intervals_well_formed(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """stop > start everywhere, at most one event per subject, and it is on the subject's last interval."""
    with duckdb.get_connection() as con:
        empty, multi, not_last = con.execute(
            """
            SELECT
                (SELECT count(*) FROM adoption_panel WHERE stop <= start),
                (SELECT count(*) FROM (SELECT agent_id, item FROM adoption_panel GROUP BY ALL HAVING sum(event) > 1)),
                (SELECT count(*) FROM (
                    SELECT event, row_number() OVER (PARTITION BY agent_id, item ORDER BY start DESC) AS from_end
                    FROM adoption_panel) WHERE event = 1 AND from_end > 1)
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=empty == 0 and multi == 0 and not_last == 0,
        metadata={"empty_intervals": int(empty), "subjects_with_several_events": int(multi),
                  "events_not_on_last_interval": int(not_last)},
    )


@dg.asset_check(asset=ADOPTION_KEYS["adoption_cox"], name="proportional_hazards",
                blocking=False)
def proportional_hazards(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Warn when the Schoenfeld-residual test rejects proportional hazards (p < 0.05) for any term of either Cox
    model: the report shows every term, so the check covers every term."""
    with duckdb.get_connection() as con:
        if not db.table_exists(con, "adoption_cox"):
            status = _status.read(con).get("adoption") or {}
            return dg.AssetCheckResult(passed=True, metadata={"not_estimable": status.get("reason") or "not run"})
        rows = con.execute("SELECT model, term, ph_test_p FROM adoption_cox ORDER BY model, term").fetchall()
    tested = {f"{model}: {term}": (None if p is None or p != p else float(p)) for model, term, p in rows}
    rejected = sorted(name for name, p in tested.items() if p is not None and p < 0.05)
    return dg.AssetCheckResult(
        passed=not rejected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_terms": dg.MetadataValue.json(rejected), "ph_test_p": dg.MetadataValue.json(tested)},
    )
