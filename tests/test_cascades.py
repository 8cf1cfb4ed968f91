"""Items, adoptions, exposures and cascade trees on a hand-built log whose answers are worked out below."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from observatory import db as _db
from observatory.ingest.load import ingest_drop
from observatory.studies.cascades import CascadeConfig, build_cascades

from .test_ingest import write_jsonl

T0 = datetime(2026, 1, 28, tzinfo=timezone.utc)
URL = "https://example.com/Page"


def at(hours: int) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ts(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def comment(cid, post, author, hours, content, parent=None):
    return {"id": cid, "post_id": post, "parent_id": parent, "author": author, "created_at": at(hours), "content": content}


def build_hand_log(tmp):
    """Ingest the hand-built log into `tmp/obs.duckdb` and build the cascade tables; returns the database path."""
    drop, db = tmp / "drop", tmp / "obs.duckdb"
    write_jsonl(drop / "agents.jsonl", [{"id": f"a{i}", "name": f"agent{i}", "created_at": at(0)} for i in range(1, 7)])
    write_jsonl(drop / "posts.jsonl", [
        {"id": "p1", "submolt": "general", "author": {"id": "a1", "name": "agent1"}, "created_at": at(1),
         "title": "Check https://Example.com/Page/?utm_source=feed", "content": "#AI rocks"},
        {"id": "p2", "submolt": "general", "author": {"id": "a2", "name": "agent2"}, "created_at": at(2),
         "title": "quiet", "content": "nothing here"},
    ])
    write_jsonl(drop / "comments.jsonl", [
        comment("c1", "p1", "agent2", 3, "nice"),
        comment("c2", "p1", "agent3", 4, "hmm", parent="c1"),
        comment("c3", "p2", "agent2", 5, "using #ai now"),
        comment("c4", "p2", "agent4", 6, "cool", parent="c3"),
        comment("c5", "p2", "agent4", 7, "#ai #AI https://example.com/Page"),
        comment("c6", "p2", "agent5", 8, "ok", parent="c5"),
        comment("c7", "p2", "agent5", 9, "fine", parent="c3"),
        comment("c8", "p2", "agent5", 10, "see https://EXAMPLE.com/Page/."),
        comment("c9", "p1", "agent3", 11, "#ai"),
        comment("c10", "p1", "agent6", 12, "m/General rules", parent="c9"),
        comment("c11", "p1", "agent1", 13, "m/general", parent="c10"),
        comment("c12", "p2", "agent6", 14, "ref https://example.com/x/#frag and https://example.com/x?b=2&utm_medium=y&fbclid=z"),
    ])
    ingest_drop(drop, db)
    con = _db.connect(db)
    build_cascades(con, CascadeConfig())
    con.close()
    return db


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return build_hand_log(tmp_path_factory.mktemp("cascades"))


def rows(db, sql):
    con = _db.connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_items_are_extracted_and_normalised(db):
    assert rows(db, "SELECT item, kind, mentions, adopters FROM items ORDER BY item") == [
        ("#ai", "hashtag", 4, 4),  # p1 "#AI", c3, c5 ("#ai #AI" is one mention), c9
        ("https://example.com/Page", "url", 3, 3),  # host lower-cased, trailing slash, utm_source and "." dropped
        ("https://example.com/x", "url", 1, 1),  # fragment dropped; "/#frag" is not a hashtag
        ("https://example.com/x?b=2", "url", 1, 1),  # tracking parameters dropped, b=2 kept
        ("m/general", "mention", 2, 2),
    ]


def test_adoptions_are_first_uses(db):
    assert rows(db, "SELECT item, agent_id, adopted_at, content_id FROM adoptions WHERE item IN ('#ai', 'https://example.com/Page', 'm/general') ORDER BY item, adopted_at") == [
        ("#ai", "a1", ts(1), "p1"), ("#ai", "a2", ts(5), "c3"), ("#ai", "a4", ts(7), "c5"), ("#ai", "a3", ts(11), "c9"),
        (URL, "a1", ts(1), "p1"), (URL, "a4", ts(7), "c5"), (URL, "a5", ts(10), "c8"),
        ("m/general", "a6", ts(12), "c10"), ("m/general", "a1", ts(13), "c11"),
    ]


def test_exposures_follow_the_documented_rule(db):
    got = rows(db, "SELECT item, agent_id, comment_id, source_type, source_id, source_agent_id FROM exposures "
                   "WHERE item IN ('#ai', 'https://example.com/Page', 'm/general') ORDER BY item, agent_id, exposed_at")
    assert got == [
        # #ai: a2 read p1 (c1) before adopting in c3; a3 read p1 in c2, and again in c9, the comment it adopts in;
        # a4 replied to a2's c3; a5 replied to c5 and c3 and never adopted; a6 replied to c9 (the parent comment is
        # preferred to the thread's post as the source). a1's c11 comes after its own adoption: not an exposure.
        ("#ai", "a2", "c1", "post", "p1", "a1"),
        ("#ai", "a3", "c2", "post", "p1", "a1"),
        ("#ai", "a3", "c9", "post", "p1", "a1"),
        ("#ai", "a4", "c4", "comment", "c3", "a2"),
        ("#ai", "a5", "c6", "comment", "c5", "a4"),
        ("#ai", "a5", "c7", "comment", "c3", "a2"),
        ("#ai", "a6", "c10", "comment", "c9", "a3"),
        # The URL: a4 entered independently (never exposed); a5 read a4's c5 before adopting in c8.
        (URL, "a2", "c1", "post", "p1", "a1"),
        (URL, "a3", "c2", "post", "p1", "a1"),
        (URL, "a3", "c9", "post", "p1", "a1"),
        (URL, "a5", "c6", "comment", "c5", "a4"),
        (URL, "a6", "c10", "post", "p1", "a1"),
        # a1 adopts m/general in c11, which replies to a6's c10.
        ("m/general", "a1", "c11", "comment", "c10", "a6"),
    ]


def test_cascade_trees_and_their_statistics(db):
    edges = rows(db, "SELECT item, parent_agent_id, child_agent_id, exposures_before FROM cascade_edges "
                     "WHERE item IN ('#ai', 'https://example.com/Page', 'm/general') ORDER BY item, child_adopted_at")
    assert edges == [
        ("#ai", None, "a1", 0), ("#ai", "a1", "a2", 1), ("#ai", "a2", "a4", 1), ("#ai", "a1", "a3", 2),
        (URL, None, "a1", 0), (URL, None, "a4", 0), (URL, "a4", "a5", 1),
        ("m/general", None, "a6", 0), ("m/general", "a6", "a1", 1),
    ]
    cascades = rows(db, "SELECT item, root_agent_id, size, depth, max_breadth, round(structural_virality, 4), duration_hours "
                        "FROM cascades WHERE item IN ('#ai', 'https://example.com/Page', 'm/general') ORDER BY item, started_at")
    assert cascades == [
        # a1 -> {a2 -> a4, a3}: pairwise distances 1,1,2,2,1,3 -> mean 10/6.
        ("#ai", "a1", 4, 2, 2, round(10 / 6, 4), 10.0),
        (URL, "a1", 1, 0, 1, None, 0.0),
        (URL, "a4", 2, 1, 1, 1.0, 3.0),
        ("m/general", "a6", 2, 1, 1, 1.0, 1.0),
    ]
    assert rows(db, "SELECT item, cascades, largest_cascade, exposed_agents, exposures FROM items WHERE item = 'https://example.com/Page'") == [
        (URL, 2, 2, 4, 5)
    ]


def test_code_spans_and_memes_are_items_when_configured(tmp_path):
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    code = "```python\nprint('hello world from agent one')\n```"
    write_jsonl(drop / "agents.jsonl", [{"id": f"a{i}", "name": f"agent{i}", "created_at": at(0)} for i in range(1, 4)])
    write_jsonl(drop / "posts.jsonl", [
        {"id": "p1", "submolt": "general", "author": {"id": "a1", "name": "agent1"}, "created_at": at(1),
         "title": "snippet", "content": f"look the quick brown fox jumps here {code}"},
        {"id": "p2", "submolt": "general", "author": {"id": "a3", "name": "agent3"}, "created_at": at(2),
         "title": "other", "content": "nothing"},
    ])
    write_jsonl(drop / "comments.jsonl", [
        comment("c1", "p1", "agent2", 3, "nice"),
        # the same code with different spacing: the same skill
        comment("c2", "p2", "agent2", 4, "```python\nprint('hello world from agent one')   \n```"),
        comment("c3", "p2", "agent3", 5, "so the quick brown fox jumps again"),
        comment("c4", "p2", "agent3", 6, "```x```"),  # too short to count
    ])
    ingest_drop(drop, db)
    con = _db.connect(db)
    build_cascades(con, CascadeConfig())
    assert con.execute("SELECT count(*) FROM items WHERE kind IN ('code', 'meme')").fetchone()[0] == 0
    build_cascades(con, CascadeConfig(extract_code_spans=True, extract_memes=True, meme_min_adopters=2))
    items = con.execute("SELECT item, kind, adopters FROM items WHERE kind IN ('code', 'meme') ORDER BY kind").fetchall()
    edges = con.execute("SELECT kind, parent_agent_id, child_agent_id FROM cascade_edges WHERE kind = 'code' "
                        "ORDER BY child_adopted_at").fetchall()
    con.close()
    import hashlib

    skill = "code:" + hashlib.md5(b"print('hello world from agent one')").hexdigest()
    assert items == [(skill, "code", 2), ("meme:the quick brown fox jumps", "meme", 2)]
    # agent2 read agent1's post (c1) before using the code in c2: agent1 is its parent.
    assert edges == [("code", None, "a1"), ("code", "a1", "a2")]
