"""`headline_history`: every run's headline estimates, appended, never overwritten.

After each run (`observatory run`, a scheduled or sensor-triggered Dagster run) :func:`record_history` appends one
row per headline quantity for the whole observation (``scope`` 'cumulative') and one per quantity and window of
`headline_trends` (``scope`` 'window'), each with its interval and n (a cumulative quantity the run could not
estimate has a row without an estimate), the run's id, the drops the run covered and
the span of time its data observe. Recording the same run id again replaces that run's rows (a retried run), and
nothing else: earlier runs stay as they were, so the table answers "what did we report on each day, from which
data".
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from observatory import db

__all__ = ["HISTORY_TABLE", "CUMULATIVE", "record_history", "history"]

HISTORY_TABLE = "headline_history"

# The cumulative headline quantities: (quantity, the findings group, its value, its interval, its n).
CUMULATIVE = (
    ("population.agents", "population", "agents", None, "agents"),
    ("population.active_agents", "population", "active_agents", None, "agents"),
    ("population.comments", "population", "comments", None, "comments"),
    ("roles.k", "roles", "k", None, "active_agents"),
    ("roles.silhouette", "roles", "silhouette", None, "active_agents"),
    ("roles.periphery_share", "roles", "periphery_share", None, "active_agents"),
    ("cascades.n", "cascades", "n", None, "n"),
    ("cascades.alpha", "cascades", "alpha", "alpha_ci", "n_tail"),
    ("adoption.hazard_ratio", "adoption", "hazard_ratio", "hazard_ratio_ci", "events"),
    ("collab.success_rate_difference", "collab", "success_rate_difference", "success_rate_difference_ci",
     "n_matched"),
    ("collab.cohens_d", "collab", "cohens_d", "cohens_d_ci", "n_matched"),
)

_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
    run_id VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    scope VARCHAR NOT NULL,
    quantity VARCHAR NOT NULL,
    window_days DOUBLE,
    "window" INTEGER,
    window_start TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    estimate DOUBLE,
    ci_lower DOUBLE,
    ci_upper DOUBLE,
    n BIGINT,
    shift_flagged BOOLEAN,
    drops INTEGER[],
    observed_from TIMESTAMPTZ,
    observed_to TIMESTAMPTZ
)"""


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def record_history(con, run_id: str, *, recorded_at: datetime | None = None) -> int:
    """Append this run's headline estimates to `headline_history` (replacing rows of the same ``run_id``);
    returns how many rows it wrote."""
    from observatory.report.findings import collect_findings
    from observatory.studies.trends import observed_span

    if not run_id:
        raise ValueError("a run needs an id to be recorded")
    db.configure(con)
    recorded_at = recorded_at or datetime.now(timezone.utc)
    findings = collect_findings(con)
    drops = [r[0] for r in con.execute(
        "SELECT drop_seq FROM ingest_drops WHERE finished_at IS NOT NULL ORDER BY drop_seq").fetchall()] \
        if db.table_exists(con, "ingest_drops") else []
    observed = observed_span(con)
    rows = []
    for quantity, group, key, ci, n in CUMULATIVE:
        values = findings.get(group) or {}
        # A quantity this run could not estimate has its row too, without an estimate: "not estimable then" is
        # part of the history.
        estimate = _number(values.get(key))
        interval = values.get(ci) if ci else None
        lower, upper = (interval if isinstance(interval, list) and len(interval) == 2 else (None, None))
        rows.append({"scope": "cumulative", "quantity": quantity, "window_days": None, "window": None,
                     "window_start": observed[0], "window_end": observed[1], "estimate": estimate,
                     "ci_lower": _number(lower), "ci_upper": _number(upper), "n": _number(values.get(n)),
                     "shift_flagged": None})
    frame = pd.DataFrame(rows, columns=["scope", "quantity", "window_days", "window", "window_start", "window_end",
                                        "estimate", "ci_lower", "ci_upper", "n", "shift_flagged"])
    con.execute(_SCHEMA)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {HISTORY_TABLE} WHERE run_id = ?", [run_id])
        con.register("_history_rows", frame)
        con.execute(
            f"""INSERT INTO {HISTORY_TABLE}
                SELECT $run_id, $at, scope, quantity, CAST(window_days AS DOUBLE), CAST("window" AS INTEGER),
                       CAST(window_start AS TIMESTAMPTZ), CAST(window_end AS TIMESTAMPTZ), CAST(estimate AS DOUBLE),
                       CAST(ci_lower AS DOUBLE), CAST(ci_upper AS DOUBLE), CAST(n AS BIGINT),
                       CAST(shift_flagged AS BOOLEAN), $drops, $first, $last
                FROM _history_rows""",
            {"run_id": run_id, "at": recorded_at, "drops": drops, "first": observed[0], "last": observed[1]})
        con.unregister("_history_rows")
        if db.table_exists(con, "headline_trends") and db.table_exists(con, "headline_shifts"):
            con.execute(
                f"""INSERT INTO {HISTORY_TABLE}
                    SELECT $run_id, $at, 'window', t.quantity, t.window_days, t."window", t.window_start,
                           t.window_end, t.estimate, t.ci_lower, t.ci_upper, t.n,
                           coalesce(s.flagged, false), $drops, $first, $last
                    FROM headline_trends AS t
                    LEFT JOIN headline_shifts AS s ON s.quantity = t.quantity AND s.window_after = t."window"
                    ORDER BY t.quantity, t."window" """,
                {"run_id": run_id, "at": recorded_at, "drops": drops, "first": observed[0], "last": observed[1]})
        count = con.execute(f"SELECT count(*) FROM {HISTORY_TABLE} WHERE run_id = ?", [run_id]).fetchall()[0][0]
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return int(count)


def history(con, scope: str = "cumulative") -> pd.DataFrame:
    """The recorded runs' rows of one scope, oldest run first (empty when nothing was recorded)."""
    if not db.table_exists(con, HISTORY_TABLE):
        return pd.DataFrame(columns=["run_id", "recorded_at", "quantity", "estimate", "ci_lower", "ci_upper", "n"])
    return con.execute(
        f"SELECT * FROM {HISTORY_TABLE} WHERE scope = ? ORDER BY recorded_at, run_id, quantity, \"window\"",
        [scope]).df()
