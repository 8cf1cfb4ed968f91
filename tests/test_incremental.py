"""The clean tables refreshed incrementally (only the keys a new drop can change) equal a full rebuild from every
raw row: drop by drop on a simulated society whose drops overlap, and on the hand-made cases where a new drop
changes rows it holds no copy of (an author named by a name that now resolves, a post that now exists, a rename)."""

from __future__ import annotations

from observatory import _db
from observatory.ingest import ingest_drop, remove_drop
from observatory.simulate import SimulationConfig, simulate

from .test_ingest import write_jsonl


def _differences(con) -> dict[str, int]:
    """For each clean table, rows it has that a full rebuild lacks, plus the converse."""
    out = {}
    for name in _db.CLEAN_TABLES:
        one = con.execute(f"SELECT count(*) FROM (SELECT * FROM {name} EXCEPT ALL SELECT * FROM stg_{name})").fetchone()[0]
        two = con.execute(f"SELECT count(*) FROM (SELECT * FROM stg_{name} EXCEPT ALL SELECT * FROM {name})").fetchone()[0]
        out[name] = one + two
    return out


def _refreshed_incrementally(con) -> bool:
    return con.execute("SELECT min(refreshed_through) FROM clean_table_state").fetchone()[0] > 0


def test_incremental_refresh_equals_a_full_rebuild_drop_by_drop(tmp_path):
    landing = tmp_path / "landing"
    simulate(landing, SimulationConfig(n_agents=1500, seed=11, n_drops=4, bad_rate=0.01))
    db = tmp_path / "obs.duckdb"
    con = _db.connect(db)
    sizes = []
    for drop in sorted(p for p in landing.iterdir() if p.is_dir() and p.name.startswith("drop-")):
        ingest_drop(drop, con=con)
        assert _differences(con) == {name: 0 for name in _db.CLEAN_TABLES}, drop.name
        sizes.append(con.execute("SELECT count(*) FROM comments").fetchone()[0])
    assert _refreshed_incrementally(con)
    assert sizes == sorted(sizes) and sizes[0] > 100 and sizes[-1] > sizes[0]
    # removing a drop makes the next refresh a full one, and it is right
    remove_drop(con, sorted(landing.glob("drop-*"))[1])
    _db.refresh_clean_tables(con)
    assert _differences(con) == {name: 0 for name in _db.CLEAN_TABLES}
    con.close()


def test_a_new_drop_changes_rows_it_holds_no_copy_of(tmp_path):
    first, second = tmp_path / "drop-1", tmp_path / "drop-2"
    write_jsonl(first / "agents.jsonl", [
        {"id": "a1", "name": "alice", "created_at": "2026-01-28T00:00:00Z", "fetched_at": "2026-01-29T00:00:00Z"},
        {"id": "a3", "name": "carol", "created_at": "2026-01-28T00:00:00Z"}])
    write_jsonl(first / "posts.jsonl", [
        {"id": "p1", "title": "by name", "author_name": "alice", "submolt": "general", "created_at": "2026-01-28T01:00:00Z"},
        {"id": "p3", "title": "by id", "author_id": "a3", "submolt": "general", "created_at": "2026-01-28T01:00:00Z"}])
    write_jsonl(first / "comments.jsonl", [
        {"id": "c1", "post_id": "p3", "author_name": "bob", "content": "who am I", "created_at": "2026-01-28T02:00:00Z"},
        {"id": "c2", "post_id": "p2", "author_id": "a1", "content": "early", "created_at": "2026-01-28T02:00:00Z"},
        {"id": "c3", "post_id": "p3", "author_id": "a3", "content": "by carol", "created_at": "2026-01-28T02:00:00Z"},
        {"id": "c4", "post_id": "p3", "author_name": "alice", "content": "named", "created_at": "2026-01-28T02:00:00Z"}])
    write_jsonl(first / "tasks.jsonl", [{"id": "t1", "post_id": "p2", "category": "code"}])
    # The second drop: bob appears (c1 resolves), p2 appears (c2 and t1 resolve), alice is renamed (p1, named by
    # "alice", no longer resolves, nor does c4), carol's name changes (shown on p3 and c3, which the drop does not hold).
    write_jsonl(second / "agents.jsonl", [
        {"id": "a2", "name": "bob", "created_at": "2026-01-28T00:10:00Z"},
        {"id": "a1", "name": "alicia", "created_at": "2026-01-28T00:00:00Z", "fetched_at": "2026-01-30T00:00:00Z"},
        {"id": "a3", "name": "caroline", "created_at": "2026-01-28T00:00:00Z"}])
    write_jsonl(second / "posts.jsonl", [
        {"id": "p2", "title": "late", "author_id": "a2", "submolt": "general", "created_at": "2026-01-28T01:30:00Z"}])
    con = _db.connect(tmp_path / "obs.duckdb")
    ingest_drop(first, con=con)
    assert con.execute("SELECT id, author_id FROM comments ORDER BY id").fetchall() == [("c3", "a3"), ("c4", "a1")]
    ingest_drop(second, con=con)
    assert _refreshed_incrementally(con)
    assert _differences(con) == {name: 0 for name in _db.CLEAN_TABLES}
    assert con.execute("SELECT id, author_id FROM comments ORDER BY id").fetchall() == [
        ("c1", "a2"), ("c2", "a1"), ("c3", "a3")]
    assert con.execute("SELECT id FROM posts ORDER BY id").fetchall() == [("p2",), ("p3",)]
    assert con.execute("SELECT author_name FROM posts WHERE id = 'p3'").fetchone() == ("caroline",)
    assert con.execute("SELECT author_name FROM comments WHERE id = 'c3'").fetchone() == ("caroline",)
    assert con.execute("SELECT id, requester_id FROM tasks").fetchall() == [("t1", "a2")]
    assert con.execute("SELECT entity, reason, detail FROM quarantine ORDER BY ALL").fetchall() == [
        ("comments", "unknown_author", "alice"), ("posts", "unknown_author", "alice")]
    con.close()
