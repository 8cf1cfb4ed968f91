"""Task events without task annotations: the heuristic detector and its outcome, worked out by hand."""

from __future__ import annotations

import pytest

from observatory import db as _db
from observatory.ingest.load import ingest_drop
from observatory.studies.cooperation import run_cooperation

from .test_cascades import at, comment
from .test_ingest import write_jsonl


def post(pid, author, hours, title):
    return {"id": pid, "submolt": "general", "author": {"id": author, "name": f"agent{author[1:]}"},
            "created_at": at(hours), "title": title, "content": ""}


def scored(c, score):
    return dict(c, score=score)


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tasks")
    drop, db = tmp / "drop", tmp / "obs.duckdb"
    write_jsonl(drop / "agents.jsonl", [{"id": f"a{i}", "name": f"agent{i}", "created_at": at(0), "karma": 10 * i}
                                        for i in range(1, 6)])
    write_jsonl(drop / "posts.jsonl", [
        post("p1", "a1", 1, "python bug in my parser"),
        post("p2", "a4", 1, "deploy error help"),
        post("p3", "a4", 5, "api question"),
        post("p4", "a3", 5, "lunch thoughts"),
        post("p5", "a5", 8, "sql query slow"),
    ])
    write_jsonl(drop / "comments.jsonl", [
        # p1: two contributors before the requester's thanks, code and a positive score: a solved multi-agent task
        scored(comment("c1", "p1", "agent2", 2, "try this ```fix()```"), 2),
        comment("c2", "p1", "agent3", 2.5, "use a regex"),
        comment("c3", "p1", "agent1", 3, "thanks, solved"),
        comment("c4", "p1", "agent2", 3.5, "welcome"),
        # p2: only one agent besides the requester: not a task by the detector (needs two participants)
        comment("c5", "p2", "agent5", 1.5, "check logs"),
        comment("c6", "p2", "agent5", 2, "maybe restart"),
        comment("c7", "p2", "agent4", 2.2, "still broken"),
        comment("c8", "p2", "agent5", 2.5, "hmm"),
        # p3: three contributors, no sign of a solution: an unsolved multi-agent task
        comment("c9", "p3", "agent2", 5.5, "no idea"),
        comment("c10", "p3", "agent3", 6, "same"),
        comment("c11", "p3", "agent5", 6.2, "?"),
        comment("c12", "p3", "agent2", 6.4, "ok"),
        # p4: no technical keyword
        comment("c13", "p4", "agent1", 5.5, "pizza"),
        comment("c14", "p4", "agent2", 6, "tacos"),
        comment("c15", "p4", "agent1", 6.5, "both"),
        comment("c16", "p4", "agent2", 7, "fine"),
        # p5: one contributor before the requester's thanks (a2 comes later): a solved single-agent task; the
        # requester had written 4 comments before posting it (c5, c6, c8, c11)
        scored(comment("c17", "p5", "agent1", 8.5, "```select 1```"), 1),
        comment("c18", "p5", "agent5", 9, "works now, thanks"),
        comment("c19", "p5", "agent1", 9.2, "np"),
        comment("c20", "p5", "agent2", 9.5, "late"),
    ])
    ingest_drop(drop, db)
    con = _db.connect(db)
    result = run_cooperation(con)
    rows = con.execute(
        "SELECT task_id, outcome_source, contributors, team, resolved, round(quality, 4), resolved_at, "
        "requester_karma, requester_prior_activity FROM task_events ORDER BY task_id"
    ).fetchall()
    con.close()
    return rows, result


def test_heuristic_detector_and_outcome(events):
    rows, _ = events
    assert rows == [
        ("heuristic:p1", "heuristic", 2, "multi", True, 1.0, __import__("datetime").datetime.fromisoformat(at(3).replace("Z", "+00:00")), 10, 0),
        ("heuristic:p3", "heuristic", 3, "multi", False, 0.0, None, 40, 2),
        ("heuristic:p5", "heuristic", 1, "single", True, 1.0, __import__("datetime").datetime.fromisoformat(at(9).replace("Z", "+00:00")), 50, 4),
    ]


def test_too_few_events_to_compare_is_said_not_computed(events):
    _, result = events
    assert result.matcher is None
    assert "heuristic" in str(result) and "too few" in str(result)
