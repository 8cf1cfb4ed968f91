"""Whether each analysis could be estimated on the data at hand, and if not, why.

Real scrapes are sparse: a few hundred active agents, no task annotations, too few cascades for a bootstrap. Each
step checks what it needs before it fits anything; where the data fall short it records one line saying why
(`analysis_status`), writes no estimate, and the report shows the section as "not estimable: <why>" instead of
failing. The thresholds live here, in one place, and `docs/methods.md` states them.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

__all__ = ["MIN_AGENTS_PER_ROLE", "MIN_CASCADES", "MIN_DISTINCT_SIZES", "MIN_ADOPTIONS", "MIN_TASKS_PER_ARM",
           "NotEstimableWarning", "record", "read"]

# Roles: k clusters need at least this many active agents each (k = 2..10 needs 20..100 active agents).
MIN_AGENTS_PER_ROLE = 10
# Power-law fit: cascades and distinct cascade sizes.
MIN_CASCADES = 50
MIN_DISTINCT_SIZES = 3
# Cox models: adoption events.
MIN_ADOPTIONS = 10
# Matching: task threads in each arm (multi-agent and single-agent).
MIN_TASKS_PER_ARM = 2

TABLE = "analysis_status"


class NotEstimableWarning(UserWarning):
    """An analysis was skipped because the data cannot support it; the message says why."""


def record(con, step: str, reason: str | None = None, note: str | None = None) -> None:
    """Record that `step` was estimated (`reason` None, perhaps with a `note` on what was restricted) or was not
    estimable for `reason`. A not-estimable step also warns, so that a notebook or the CLI says so in one line."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (step VARCHAR PRIMARY KEY, estimable BOOLEAN NOT NULL, "
        "reason VARCHAR, note VARCHAR, recorded_at TIMESTAMPTZ NOT NULL)"
    )
    con.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
                [step, reason is None, reason, note, datetime.now(timezone.utc)])
    if reason is not None:
        warnings.warn(f"{step}: not estimable: {reason}", NotEstimableWarning, stacklevel=2)


def read(con) -> dict[str, dict]:
    """{step: {"estimable", "reason", "note"}} for every step recorded so far."""
    from observatory import db

    if not db.table_exists(con, TABLE, "table"):
        return {}
    return {step: {"estimable": estimable, "reason": reason, "note": note}
            for step, estimable, reason, note in con.execute(
                f"SELECT step, estimable, reason, note FROM {TABLE} ORDER BY step").fetchall()}
