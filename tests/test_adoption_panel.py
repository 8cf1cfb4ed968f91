"""The exposure panel in counting-process form, on the hand-built log of test_cascades, rows written out by hand."""

from __future__ import annotations

import math

import pytest

from observatory import db as _db
from observatory.steps import build_agent_activity

from .test_cascades import build_hand_log

URL = "https://example.com/Page"
S = 1 / 3600  # one second, in hours: an adoption in the same comment as its last exposure


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    db = build_hand_log(tmp_path_factory.mktemp("panel"))
    con = _db.connect(db)
    build_agent_activity(con)
    _db.build_table(con, "adoption_subjects")
    _db.build_table(con, "adoption_panel")
    rows = con.execute(
        "SELECT item, agent_id, round(start, 6), round(stop, 6), event, exposures, round(log_activity, 6), "
        "item_adopters_before, round(item_age_hours, 6) FROM adoption_panel ORDER BY item, agent_id, start"
    ).fetchall()
    subjects = con.execute(
        "SELECT item, agent_id, exposures, adopted, round(hours_at_risk, 6) FROM adoption_subjects "
        "WHERE item IN ('#ai', 'https://example.com/Page', 'm/general') ORDER BY item, agent_id"
    ).fetchall()
    con.close()
    return rows, subjects


def ln(n):
    return round(math.log(n), 6)


def test_panel_rows_match_the_hand_worked_intervals(panel):
    rows, _ = panel
    r = lambda x: round(x, 6)  # noqa: E731
    # (item, agent, start, stop, event, exposures, log(1 + posts + comments), adopters before start, item age)
    # Window end: c12 at hour 14. #ai first seen at hour 1 (p1); the URL at 1; m/general at 12.
    expected = [
        ("#ai", "a2", 0.0, 2.0, 1, 1, ln(4), 1, 2.0),        # exposed at 3 (c1), adopts at 5 (c3)
        ("#ai", "a3", 0.0, 7.0, 0, 1, ln(3), 1, 3.0),        # exposed at 4 (c2) ...
        ("#ai", "a3", 7.0, r(7 + S), 1, 2, ln(3), 3, 10.0),  # ... and in c9 at 11, the comment it adopts in
        ("#ai", "a4", 0.0, 1.0, 1, 1, ln(3), 2, 5.0),        # exposed at 6 (c4), adopts at 7 (c5)
        ("#ai", "a5", 0.0, 1.0, 0, 1, ln(4), 3, 7.0),        # exposed at 8 and 9, never adopts: censored at 14
        ("#ai", "a5", 1.0, 6.0, 0, 2, ln(4), 3, 8.0),
        ("#ai", "a6", 0.0, 2.0, 0, 1, ln(3), 4, 11.0),       # exposed at 12 (c10), censored at 14
        (URL, "a2", 0.0, 11.0, 0, 1, ln(4), 1, 2.0),
        (URL, "a3", 0.0, 7.0, 0, 1, ln(3), 1, 3.0),
        (URL, "a3", 7.0, 10.0, 0, 2, ln(3), 3, 10.0),
        (URL, "a5", 0.0, 2.0, 1, 1, ln(4), 2, 7.0),          # exposed at 8 (c6), adopts at 10 (c8)
        (URL, "a6", 0.0, 2.0, 0, 1, ln(3), 3, 11.0),
        ("m/general", "a1", 0.0, r(S), 1, 1, ln(3), 1, 1.0),  # replies to c10 and adopts in the same comment
    ]
    assert rows == expected


def test_subjects_are_censored_at_the_window_end_not_at_the_last_adoption(panel):
    _, subjects = panel
    assert subjects == [
        ("#ai", "a2", 1, True, 2.0), ("#ai", "a3", 2, True, 7.0), ("#ai", "a4", 1, True, 1.0),
        ("#ai", "a5", 2, False, 6.0), ("#ai", "a6", 1, False, 2.0),
        (URL, "a2", 1, False, 11.0), (URL, "a3", 2, False, 10.0), (URL, "a5", 1, True, 2.0), (URL, "a6", 1, False, 2.0),
        ("m/general", "a1", 1, True, 0.0),
    ]
