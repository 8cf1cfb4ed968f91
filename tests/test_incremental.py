"""The clean tables refreshed incrementally (only the keys a new drop can change) equal a full rebuild from every
raw row: drop by drop on a simulated society whose drops overlap, and on the hand-made cases where a new drop
changes rows it holds no copy of (an author named by a name that now resolves, a post that now exists, a rename)."""

from __future__ import annotations

from observatory import db as _db
from observatory.ingest.load import ingest_drop, remove_drop
from observatory.simulate.config import SimulationConfig
from observatory.simulate.run import simulate

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
        {"id": "a3", "name": "carol", "created_at": "2026-01-28T00:00:00Z"},
        {"id": "a4", "name": "sam", "created_at": "2026-01-28T00:00:00Z", "fetched_at": "2026-01-29T00:00:00Z"},
        {"id": "a5", "name": "sam", "created_at": "2026-01-28T00:00:00Z", "fetched_at": "2026-01-29T06:00:00Z"}])
    write_jsonl(first / "posts.jsonl", [
        {"id": "p5", "title": "by a shared name", "author_name": "sam", "submolt": "general",
         "created_at": "2026-01-28T01:00:00Z"},
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
        {"id": "a3", "name": "caroline", "created_at": "2026-01-28T00:00:00Z"},
        # a4 observed again, later than a5: "sam" now names a4, though neither agent's name changed
        {"id": "a4", "name": "sam", "created_at": "2026-01-28T00:00:00Z", "fetched_at": "2026-01-30T00:00:00Z"}])
    write_jsonl(second / "posts.jsonl", [
        {"id": "p2", "title": "late", "author_id": "a2", "submolt": "general", "created_at": "2026-01-28T01:30:00Z"}])
    con = _db.connect(tmp_path / "obs.duckdb")
    ingest_drop(first, con=con)
    assert con.execute("SELECT id, author_id FROM comments ORDER BY id").fetchall() == [("c3", "a3"), ("c4", "a1")]
    assert con.execute("SELECT author_id FROM posts WHERE id = 'p5'").fetchone() == ("a5",)
    ingest_drop(second, con=con)
    assert _refreshed_incrementally(con)
    assert _differences(con) == {name: 0 for name in _db.CLEAN_TABLES}
    assert con.execute("SELECT id, author_id FROM comments ORDER BY id").fetchall() == [
        ("c1", "a2"), ("c2", "a1"), ("c3", "a3")]
    assert con.execute("SELECT id FROM posts ORDER BY id").fetchall() == [("p2",), ("p3",), ("p5",)]
    assert con.execute("SELECT author_id FROM posts WHERE id = 'p5'").fetchone() == ("a4",)
    assert con.execute("SELECT author_name FROM posts WHERE id = 'p3'").fetchone() == ("caroline",)
    assert con.execute("SELECT author_name FROM comments WHERE id = 'c3'").fetchone() == ("caroline",)
    assert con.execute("SELECT id, requester_id FROM tasks").fetchall() == [("t1", "a2")]
    assert con.execute("SELECT entity, reason, detail FROM quarantine ORDER BY ALL").fetchall() == [
        ("comments", "unknown_author", "alice"), ("posts", "unknown_author", "alice")]
    con.close()


def _mart_differences(con) -> dict[str, int]:
    """For each cascade table, rows that differ from its SQL computed in full now."""
    from observatory.sqlmodels import catalogue
    from observatory.studies.cascades import TABLES

    out = {}
    for name in TABLES:
        sql = catalogue()[name].sql
        one = con.execute(f"SELECT count(*) FROM (SELECT * FROM {name} EXCEPT ALL ({sql}))").fetchone()[0]
        two = con.execute(f"SELECT count(*) FROM (({sql}) EXCEPT ALL SELECT * FROM {name})").fetchone()[0]
        out[name] = one + two
    return out


def test_cascade_tables_updated_for_the_touched_items_equal_a_full_build(tmp_path):
    from dataclasses import asdict

    from observatory.studies.cascades import TABLES, CascadeConfig, build_cascades

    landing = tmp_path / "landing"
    simulate(landing, SimulationConfig(n_agents=2000, seed=4, n_drops=5, bad_rate=0.005))
    con = _db.connect(tmp_path / "obs.duckdb")
    for variable, value in asdict(CascadeConfig()).items():
        con.execute(f"SET VARIABLE {variable} = ?", [value])
    counts = []
    for drop in sorted(p for p in landing.iterdir() if p.is_dir() and p.name.startswith("drop-")):
        ingest_drop(drop, con=con)
        counts.append(build_cascades(con))
        assert _mart_differences(con) == {name: 0 for name in TABLES}, drop.name
    assert counts[-1]["cascades"] > counts[0]["cascades"] > 10
    # the later drops were incremental: the state says so, and some items were left alone
    assert con.execute("SELECT count(*) FROM mart_changes WHERE item IS NOT NULL").fetchone()[0] > 0
    assert con.execute("SELECT count(DISTINCT item) FROM mart_changes WHERE seq = (SELECT max(seq) FROM "
                       "mart_changes)").fetchone()[0] < counts[-1]["items"]
    con.close()


def test_every_sql_file_runs_the_same_after_sqlglot_regenerates_it(tmp_path):
    """The incremental refreshes run the staging and mart SQL as sqlglot regenerates it (with inputs renamed):
    on a simulated society, every relation's regenerated SQL yields exactly the file's rows."""
    from observatory.sqlmodels import catalogue, renamed_sql

    landing = tmp_path / "drop"
    simulate(landing, SimulationConfig(n_agents=1500, seed=2))
    con = _db.connect(tmp_path / "obs.duckdb")
    ingest_drop(landing, con=con)
    from dataclasses import asdict

    from observatory.steps import ordered
    from observatory.studies.cascades import CascadeConfig
    from observatory.studies.cooperation import CooperationConfig

    variables = {**asdict(CascadeConfig()), **asdict(CooperationConfig())}
    for step in ordered():
        for table in step.sql:
            _db.build_table(con, table, variables)
    checked = 0
    for name, model in catalogue().items():
        if model.layer == "views" or model.path.stem != name:
            continue
        original, regenerated = model.path.read_text(), renamed_sql(name, {})
        rows = con.execute(f"SELECT count(*) FROM ({original})").fetchone()[0]
        differ = con.execute(f"SELECT count(*) FROM (({original}) EXCEPT ALL ({regenerated}))").fetchone()[0] + \
            con.execute(f"SELECT count(*) FROM (({regenerated}) EXCEPT ALL ({original}))").fetchone()[0]
        if differ:  # floating-point sums in parallel differ in the last digits between any two runs: compare to 1e-9
            import pandas as pd

            def frame(sql):
                df = con.execute(f"SELECT * FROM ({sql})").df()
                return df.sort_values(list(df.columns), ignore_index=True)

            pd.testing.assert_frame_equal(frame(original), frame(regenerated), check_exact=False, rtol=1e-9)
        checked += rows > 0
    assert checked >= 20
    con.close()


def test_incremental_refresh_on_the_real_scrape_shapes_equals_a_full_rebuild(tmp_path):
    """The hand-written scrape (an archiver's NDJSON of posts, then the API's responses: post details with comment
    trees, a profile, submolts), ingested as two drops in either order: the clean tables equal a full rebuild."""
    import shutil
    from pathlib import Path

    scrape = Path(__file__).parent / "fixtures" / "scrape"
    for order in (("archive", "data"), ("data", "archive")):
        con = _db.connect(tmp_path / f"{order[0]}.duckdb")
        for i, part in enumerate(order):
            drop = tmp_path / f"{order[0]}-drop-{i}"
            shutil.copytree(scrape / part, drop)
            ingest_drop(drop, con=con)
            assert _differences(con) == {name: 0 for name in _db.CLEAN_TABLES}, (order, part)
        assert _refreshed_incrementally(con)
        assert con.execute("SELECT count(*) FROM comments").fetchone()[0] > 0
        con.close()
