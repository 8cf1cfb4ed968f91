"""Ingest of contract drops: every format, both record shapes, dedupe, idempotency, and each kind of bad input.

Every expectation here is worked out by hand from the records written in the test.
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from observatory import db as _db
from observatory.ingest.load import IngestError, discover_drop, ingest_drop

UTC = timezone.utc

AGENTS = [
    {"id": "a1", "name": "alice", "karma": 10, "created_at": "2026-01-28T00:00:00Z", "is_claimed": True},
    {"id": "a2", "name": "bob", "karma": 4, "created_at": "2026-01-28T00:10:00Z", "is_claimed": False},
    {"id": "a3", "name": "carol", "karma": 0, "created_at": "2026-01-28T00:20:00Z", "is_claimed": False},
]
# Posts in the API shape: nested author and submolt objects.
POSTS_API = [
    {"id": "p1", "title": "hello", "content": "first", "submolt": {"id": "s1", "name": "general", "display_name": "General"},
     "author": {"id": "a1", "name": "alice"}, "upvotes": 3, "downvotes": 1, "created_at": "2026-01-28T01:00:00Z"},
    {"id": "p2", "title": "links", "url": "https://example.org/x", "submolt": {"id": "s2", "name": "tools", "display_name": "Tools"},
     "author": {"id": "a2", "name": "bob"}, "upvotes": 0, "downvotes": 0, "created_at": "2026-01-28T02:00:00Z"},
]
# Comments in the API shape: author object, or the author's name string as the SDK returns it.
COMMENTS_API = [
    {"id": "c1", "post_id": "p1", "parent_id": None, "author": {"id": "a2", "name": "bob"}, "content": "hi",
     "created_at": "2026-01-28T03:00:00Z"},
    {"id": "c2", "post_id": "p1", "parent_id": "c1", "author": "carol", "content": "hey", "created_at": "2026-01-28T04:00:00Z"},
    {"id": "c3", "post_id": "p2", "parent_id": None, "author": {"id": "a1", "name": "alice"}, "content": "nice",
     "created_at": "2026-01-28T05:00:00Z"},
]


def flat_posts():
    return [
        {"id": p["id"], "title": p["title"], "content": p.get("content"), "url": p.get("url"),
         "submolt": p["submolt"]["name"], "agent_id": p["author"]["id"], "agent_name": p["author"]["name"],
         "upvotes": p["upvotes"], "downvotes": p["downvotes"], "created_at": p["created_at"]}
        for p in POSTS_API
    ]


def flat_comments():
    names = {a["name"]: a["id"] for a in AGENTS}
    rows = []
    for c in COMMENTS_API:
        author = c["author"]
        name = author if isinstance(author, str) else author["name"]
        rows.append({"id": c["id"], "post_id": c["post_id"], "parent_id": c["parent_id"], "agent_id": names[name],
                     "agent_name": name, "content": c["content"], "created_at": c["created_at"]})
    return rows


def write_jsonl(path: Path, records, gz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def write_csv(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in records for k in r))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for r in records:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return path


def write_parquet(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def query(db: Path, sql: str, params=None):
    con = _db.connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def clean_snapshot(db: Path) -> dict:
    """The clean views' content in a canonical order, without provenance columns."""
    return {
        "agents": query(db, "SELECT id, name, karma, created_at, is_claimed FROM agents ORDER BY id"),
        "posts": query(db, "SELECT id, title, submolt, author_id, author_name, score, created_at FROM posts ORDER BY id"),
        "comments": query(db, "SELECT id, post_id, parent_id, author_id, author_name, content, created_at FROM comments ORDER BY id"),
    }


EXPECTED_COMMENTS = [
    ("c1", "p1", None, "a2", "bob", "hi", datetime(2026, 1, 28, 3, tzinfo=UTC)),
    ("c2", "p1", "c1", "a3", "carol", "hey", datetime(2026, 1, 28, 4, tzinfo=UTC)),
    ("c3", "p2", None, "a1", "alice", "nice", datetime(2026, 1, 28, 5, tzinfo=UTC)),
]
EXPECTED_POSTS = [
    ("p1", "hello", "general", "a1", "alice", 2, datetime(2026, 1, 28, 1, tzinfo=UTC)),
    ("p2", "links", "tools", "a2", "bob", 0, datetime(2026, 1, 28, 2, tzinfo=UTC)),
]


# ---------------------------------------------------------------------------------------------------------------
# Formats and shapes


def _write_drop(drop: Path, fmt: str, shape: str) -> None:
    posts = POSTS_API if shape == "api" else flat_posts()
    comments = COMMENTS_API if shape == "api" else flat_comments()
    if fmt == "parquet" and shape == "api":
        # A Parquet column has one type: the author is an object throughout.
        ids = {a["name"]: a["id"] for a in AGENTS}
        comments = [dict(c, author={"id": ids[c["author"]], "name": c["author"]}) if isinstance(c["author"], str) else c
                    for c in comments]
    if fmt == "jsonl":
        write_jsonl(drop / "agents.jsonl", AGENTS)
        write_jsonl(drop / "posts-2026-01-28.jsonl", posts)
        write_jsonl(drop / "comments" / "part-0.jsonl", comments)
    elif fmt == "jsonl.gz":
        write_jsonl(drop / "agents.jsonl.gz", AGENTS, gz=True)
        write_jsonl(drop / "posts.jsonl.gz", posts, gz=True)
        write_jsonl(drop / "comments.jsonl.gz", comments, gz=True)
    elif fmt == "json":
        for name, records in (("agents", AGENTS), ("posts", posts), ("comments", comments)):
            (drop / f"{name}.json").parent.mkdir(parents=True, exist_ok=True)
            (drop / f"{name}.json").write_text(json.dumps(records, indent=2))
    elif fmt == "parquet":
        write_parquet(drop / "agents" / "part-0.parquet", AGENTS)
        write_parquet(drop / "posts" / "date=2026-01-28" / "part-0.parquet", posts)
        write_parquet(drop / "comments.parquet", comments)
    elif fmt == "csv":
        write_csv(drop / "agents.csv", AGENTS)
        write_csv(drop / "posts.csv", posts)
        write_csv(drop / "comments.csv", comments)


FORMAT_SHAPES = [("jsonl", "api"), ("jsonl.gz", "api"), ("json", "api"), ("parquet", "api"),
                 ("jsonl", "flat"), ("parquet", "flat"), ("csv", "flat")]


@pytest.mark.parametrize("fmt,shape", FORMAT_SHAPES)
def test_every_format_and_shape_lands_the_same_records(tmp_path, fmt, shape):
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    _write_drop(drop, fmt, shape)
    report = ingest_drop(drop, db)
    # 3 agents, 2 posts, 3 comments; in JSON, the author and submolt objects embedded in posts and comments are
    # observations too: agents a1 and a2 (identical copies in one load are one observation) and submolts s1, s2.
    embedded = 4 if shape == "api" and fmt != "parquet" else 0
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (8 + embedded, 8 + embedded, 0)
    assert report.records == {"agents": 3 + embedded // 2, "posts": 2, "comments": 3} | (
        {"submolts": 2} if embedded else {})
    snapshot = clean_snapshot(db)
    assert snapshot["comments"] == EXPECTED_COMMENTS
    assert snapshot["posts"] == EXPECTED_POSTS
    assert [row[:3] for row in snapshot["agents"]] == [("a1", "alice", 10), ("a2", "bob", 4), ("a3", "carol", 0)]
    assert snapshot["agents"][0][3] == datetime(2026, 1, 28, tzinfo=UTC)
    assert [row[4] for row in snapshot["agents"]] == [True, False, False]


def test_discovery_matches_entity_prefixes_and_ignores_the_rest(tmp_path):
    drop = tmp_path / "drop"
    write_jsonl(drop / "comments-2026-02-01.jsonl", COMMENTS_API)
    write_parquet(drop / "comments" / "date=2026-02-02" / "part-3.parquet", flat_comments())
    write_jsonl(drop / "agents.jsonl.gz", AGENTS, gz=True)
    (drop / "truth.json").write_text("{}")
    (drop / "notes.txt").write_text("hello")
    (drop / "_SUCCESS").write_text("")
    (drop / "posts.xlsx").write_text("")
    files, ignored = discover_drop(drop)
    assert [(f.entity.name, f.relative, f.format) for f in files] == [
        ("agents", "agents.jsonl.gz", "jsonl"),
        ("comments", "comments-2026-02-01.jsonl", "jsonl"),
        ("comments", "comments/date=2026-02-02/part-3.parquet", "parquet"),
    ]
    assert sorted(ignored) == ["notes.txt", "posts.xlsx", "truth.json"]


def test_timestamps_and_numeric_ids_follow_the_contract(tmp_path):
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    write_jsonl(drop / "agents.jsonl", [
        {"id": 101, "name": "z", "created_at": "2026-01-28T02:00:00+02:00"},   # offset
        {"id": "102", "name": "y", "created_at": "2026-01-28T00:00:00"},       # naive: UTC
        {"id": "103", "name": "x", "created_at": 1769558400},                 # epoch seconds
        {"id": "104", "name": "w", "created_at": "2026-01-28 00:00:00Z"},      # space separator, Z
    ])
    ingest_drop(drop, db)
    rows = query(db, "SELECT id, created_at FROM agents ORDER BY id")
    assert rows == [(i, datetime(2026, 1, 28, tzinfo=UTC)) for i in ("101", "102", "103", "104")]


# ---------------------------------------------------------------------------------------------------------------
# Dedupe, idempotency, atomicity


def test_same_id_twice_is_one_record_and_the_copy_observed_last_wins(tmp_path):
    db = tmp_path / "obs.duckdb"
    first, second = tmp_path / "drop-1", tmp_path / "drop-2"
    write_jsonl(first / "agents.jsonl", AGENTS)
    write_jsonl(first / "posts.jsonl", [dict(POSTS_API[0], upvotes=3, fetched_at="2026-01-29T00:00:00Z"), POSTS_API[1]])
    # The second drop re-scrapes p1 with changed counters and p2 without a fetch time: the later drop wins for p2.
    write_jsonl(second / "posts.jsonl", [
        dict(POSTS_API[0], upvotes=9, fetched_at="2026-01-30T00:00:00Z"),
        dict(POSTS_API[1], upvotes=5),
    ])
    ingest_drop(first, db)
    ingest_drop(second, db)
    assert query(db, "SELECT id, upvotes, score, copies FROM posts ORDER BY id") == [("p1", 9, 8, 2), ("p2", 5, 5, 2)]
    assert query(db, "SELECT count(*) FROM raw_posts") == [(4,)]

    # An older copy arriving late (earlier fetched_at) does not overwrite the newer one.
    third = tmp_path / "drop-3"
    write_jsonl(third / "posts.jsonl", [dict(POSTS_API[0], upvotes=1, fetched_at="2026-01-29T12:00:00Z")])
    ingest_drop(third, db)
    assert query(db, "SELECT upvotes FROM posts WHERE id = 'p1'") == [(9,)]


def test_ingesting_a_drop_twice_changes_nothing(tmp_path):
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    _write_drop(drop, "jsonl", "api")
    write_lines(drop / "votes.jsonl", [b'{"voter_id": "a1", "target_type": "post", "target_id": "p2", "value": 1}', b"oops"])
    first = ingest_drop(drop, db)
    tables = ["raw_agents", "raw_posts", "raw_comments", "raw_votes", "quarantine_rows", "ingest_log", "ingest_drops"]
    before = {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    second = ingest_drop(drop, db)
    after = {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    assert before == after
    assert first.drop_seq == 1 and second.drop_seq is None
    assert all(f.skipped for f in second.files) and second.rows_read == 0
    log = query(db, "SELECT file, entity, rows_read, rows_loaded, rows_quarantined, length(content_sha256) FROM ingest_log ORDER BY file")
    assert log == [
        (str(drop / "agents.jsonl"), "agents", 3, 3, 0, 64),
        (str(drop / "comments" / "part-0.jsonl"), "comments", 3, 3, 0, 64),
        # Its two posts, and the authors (a1, a2) and submolts (s1, s2) embedded in them.
        (str(drop / "posts-2026-01-28.jsonl"), "posts", 6, 6, 0, 64),
        (str(drop / "votes.jsonl"), "votes", 2, 1, 1, 64),
    ]


@pytest.mark.parametrize("broken", ["parquet", "gzip", "json_array"])
def test_an_unreadable_file_fails_the_drop_and_leaves_the_database_as_it_was(tmp_path, broken):
    db = tmp_path / "obs.duckdb"
    good = tmp_path / "good"
    _write_drop(good, "jsonl", "api")
    ingest_drop(good, db)
    tables = ["raw_agents", "raw_posts", "raw_comments", "quarantine_rows", "ingest_log", "ingest_drops"]
    before = {t: query(db, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}

    drop = tmp_path / "bad"
    write_jsonl(drop / "agents.jsonl", [{"id": "a9", "name": "new", "created_at": "2026-02-01T00:00:00Z"}])
    if broken == "parquet":
        target = drop / "posts.parquet"
        target.write_bytes(b"PAR1 this is not a parquet file")
    elif broken == "gzip":
        target = drop / "posts.jsonl.gz"
        target.write_bytes(gzip.compress(b'{"id": "p9"}\n')[:-12])  # truncated stream
    else:
        target = drop / "posts.json"
        target.write_text('[{"id": "p9", "title": "unterminated"')
    with pytest.raises(IngestError) as info:
        ingest_drop(drop, db)
    assert str(target) in str(info.value)
    after = {t: query(db, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    assert after == before  # a9 from the same drop did not land either


# ---------------------------------------------------------------------------------------------------------------
# Bad input: one test per kind, each checking file, line, field and reason, and that good rows still land


def quarantine(db: Path):
    return query(db, "SELECT file, line, entity, reason, field, detail, raw FROM quarantine ORDER BY file, line")


@pytest.fixture
def base_drop(tmp_path):
    drop = tmp_path / "drop"
    write_jsonl(drop / "agents.jsonl", AGENTS)
    write_jsonl(drop / "posts.jsonl", POSTS_API)
    return drop


def test_missing_required_field(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    bad = {"id": "c9", "parent_id": None, "author": "bob", "content": "lost", "created_at": "2026-01-28T06:00:00Z"}
    path = write_jsonl(base_drop / "comments.jsonl", [COMMENTS_API[0], bad, COMMENTS_API[2]])
    report = ingest_drop(base_drop, db)
    assert report.reasons == {"missing_field": 1}
    assert quarantine(db) == [(str(path), 2, "comments", "missing_field", "post_id", None, json.dumps(bad))]
    assert query(db, "SELECT id FROM comments ORDER BY id") == [("c1",), ("c3",)]


def test_missing_author_in_every_shape_is_a_missing_field(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    no_author = {"id": "c9", "post_id": "p1", "content": "anon", "created_at": "2026-01-28T06:00:00Z"}
    path = write_jsonl(base_drop / "comments.jsonl", [no_author])
    ingest_drop(base_drop, db)
    assert quarantine(db)[0][:5] == (str(path), 1, "comments", "missing_field", "author_id or author_name")


def test_unparsable_timestamp(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    bad = dict(COMMENTS_API[1], created_at="yesterday at noon")
    path = write_jsonl(base_drop / "comments.jsonl", [COMMENTS_API[0], bad])
    ingest_drop(base_drop, db)
    assert quarantine(db) == [(str(path), 2, "comments", "bad_timestamp", "created_at", '"yesterday at noon"', json.dumps(bad))]


def test_wrong_type(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    bad = {"id": "a7", "name": "greedy", "karma": "lots", "created_at": "2026-01-28T00:00:00Z"}
    nested = {"id": "a8", "name": {"first": "x"}, "created_at": "2026-01-28T00:00:00Z"}
    path = write_jsonl(base_drop / "agents.jsonl", AGENTS + [bad, nested])
    ingest_drop(base_drop, db)
    assert [row[:6] for row in quarantine(db)] == [
        (str(path), 4, "agents", "wrong_type", "karma", '"lots"'),
        (str(path), 5, "agents", "wrong_type", "name", '{"first":"x"}'),
    ]
    assert query(db, "SELECT count(*) FROM agents") == [(3,)]


def test_invalid_values(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    path = write_jsonl(base_drop / "votes.jsonl", [
        {"voter_id": "a1", "target_type": "post", "target_id": "p1", "value": 1},
        {"voter_id": "a2", "target_type": "post", "target_id": "p1", "value": 5},
        {"voter_id": "a3", "target_type": "agent", "target_id": "a1", "value": -1},
    ])
    ingest_drop(base_drop, db)
    assert [row[:6] for row in quarantine(db)] == [
        (str(path), 2, "votes", "invalid_value", "value", "5"),
        (str(path), 3, "votes", "invalid_value", "target_type", '"agent"'),
    ]


def test_comment_whose_post_is_unknown_and_heals_when_the_post_arrives(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    orphan = {"id": "c9", "post_id": "p7", "author": {"id": "a1", "name": "alice"}, "content": "where",
              "created_at": "2026-01-28T06:00:00Z"}
    path = write_jsonl(base_drop / "comments.jsonl", COMMENTS_API + [orphan])
    ingest_drop(base_drop, db)
    rows = quarantine(db)
    assert [row[:6] for row in rows] == [(str(path), 4, "comments", "unknown_post", "post_id", "p7")]
    assert json.loads(rows[0][6])["id"] == "c9"
    assert query(db, "SELECT count(*) FROM comments") == [(3,)]

    later = tmp_path / "later"
    write_jsonl(later / "posts.jsonl", [{"id": "p7", "submolt": "general", "author": {"id": "a3", "name": "carol"},
                                          "created_at": "2026-01-28T05:30:00Z"}])
    ingest_drop(later, db)
    assert quarantine(db) == []
    assert query(db, "SELECT count(*) FROM comments") == [(4,)]


def test_author_name_that_matches_no_agent(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    ghost = dict(COMMENTS_API[1], id="c9", author="ghost")
    path = write_jsonl(base_drop / "comments.jsonl", COMMENTS_API + [ghost])
    ingest_drop(base_drop, db)
    assert [row[:6] for row in quarantine(db)] == [(str(path), 4, "comments", "unknown_author", "author_name", "ghost")]


def test_bytes_that_are_not_utf8(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    lines = [json.dumps(c).encode() for c in COMMENTS_API]
    lines.insert(1, b'{"id": "c9", "post_id": "p1", "author": "bob", "content": "caf\xe9", "created_at": "2026-01-28T06:00:00Z"}')
    path = write_lines(base_drop / "comments.jsonl", lines)
    report = ingest_drop(base_drop, db)
    assert report.reasons == {"not_utf8": 1}
    assert [row[:5] for row in quarantine(db)] == [(str(path), 2, "comments", "not_utf8", None)]
    raw_bytes = query(db, "SELECT raw_bytes FROM quarantine_rows")[0][0]
    assert raw_bytes == lines[1]  # the exact bytes are kept
    assert query(db, "SELECT count(*) FROM comments") == [(3,)]


def test_a_line_that_is_not_json(base_drop, tmp_path):
    db = tmp_path / "obs.duckdb"
    lines = [json.dumps(c).encode() for c in COMMENTS_API]
    truncated = json.dumps(COMMENTS_API[0]).encode()[:30]
    lines[2:2] = [truncated, b"", b"[1, 2, 3]"]  # a truncated record, a blank line (skipped), a non-object
    path = write_lines(base_drop / "comments.jsonl", lines)
    ingest_drop(base_drop, db)
    assert [row[:4] + (row[6],) for row in quarantine(db)] == [
        (str(path), 3, "comments", "not_json", truncated.decode()),
        (str(path), 5, "comments", "not_json", "[1, 2, 3]"),
    ]
    # Line numbers of good rows count the blank line too.
    assert query(db, "SELECT id, _line FROM raw_comments ORDER BY id") == [("c1", 1), ("c2", 2), ("c3", 6)]


def test_csv_rows_that_cannot_be_split_and_bad_values_carry_their_line(tmp_path):
    db = tmp_path / "obs.duckdb"
    drop = tmp_path / "drop"
    path = drop / "agents.csv"
    drop.mkdir()
    path.write_bytes(
        b"id,name,karma,created_at\n"
        b"a1,alice,10,2026-01-28T00:00:00Z\n"
        b"a2,b\xffb,4,2026-01-28T00:00:00Z\n"
        b"a3,carol,x,2026-01-28T00:00:00Z\n"
        b"a4,dave\n"
        b"a5,erin,1,2026-01-28T00:00:00Z\n"
    )
    report = ingest_drop(drop, db)
    assert report.rows_read == 5 and report.rows_loaded == 2
    assert [row[:5] for row in quarantine(db)] == [
        (str(path), 3, "agents", "not_utf8", None),
        (str(path), 4, "agents", "wrong_type", "karma"),
        (str(path), 5, "agents", "csv_malformed", None),
    ]
    assert query(db, "SELECT id, _line FROM raw_agents ORDER BY id") == [("a1", 2), ("a5", 6)]


def test_parquet_bad_rows_keep_their_row_number_and_raw_text(tmp_path):
    db = tmp_path / "obs.duckdb"
    drop = tmp_path / "drop"
    records = [dict(a) for a in AGENTS]
    records[1]["created_at"] = "not a time"
    path = write_parquet(drop / "agents.parquet", records)
    ingest_drop(drop, db)
    rows = quarantine(db)
    assert [row[:6] for row in rows] == [(str(path), 2, "agents", "bad_timestamp", "created_at", "not a time")]
    assert json.loads(rows[0][6])["name"] == "bob"


def test_an_interrupted_drop_is_invisible_and_removed_by_the_next_ingest(tmp_path):
    """A crash between files leaves an unfinished drop: no clean view reads it, and the next ingest removes it."""
    db = tmp_path / "obs.duckdb"
    first = tmp_path / "first"
    _write_drop(first, "jsonl", "api")
    ingest_drop(first, db)
    con = _db.connect(db)
    # What an interrupted ingest leaves behind: a drop without finished_at, and some of its rows.
    con.execute("INSERT INTO ingest_drops (drop_seq, drop_path, started_at) VALUES (2, 'crashed', now())")
    con.execute("INSERT INTO raw_agents (id, name, created_at, _drop_seq, _file, _line) "
                "VALUES ('a9', 'ghost', now(), 2, 'crashed/agents.jsonl', 1)")
    con.execute("INSERT INTO quarantine_rows (drop_seq, file, line, entity, reason, raw) "
                "VALUES (2, 'crashed/agents.jsonl', 2, 'agents', 'not_json', 'x')")
    _db.refresh_clean_tables(con)
    assert con.execute("SELECT count(*) FROM agents WHERE id = 'a9'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM raw_agents WHERE id = 'a9'").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    con.close()
    later = tmp_path / "later"
    write_jsonl(later / "agents.jsonl", [{"id": "a7", "name": "late", "created_at": "2026-02-01T00:00:00Z"}])
    report = ingest_drop(later, db)
    assert report.drop_seq == 2
    assert query(db, "SELECT count(*) FROM raw_agents WHERE _file LIKE 'crashed%'") == [(0,)]
    assert query(db, "SELECT count(*) FROM quarantine_rows") == [(0,)]
    assert query(db, "SELECT drop_seq, drop_path FROM ingest_drops ORDER BY drop_seq") == [(1, str(first)), (2, str(later))]


def test_a_database_from_before_partial_observations_keeps_its_records(tmp_path):
    """Raw tables created before `_path`/`_partial` existed gain them (null) and their rows stay clean records."""
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    _write_drop(drop, "jsonl", "flat")
    ingest_drop(drop, db)
    before = clean_snapshot(db)
    con = _db.connect(db)
    for table in ("raw_agents", "raw_posts", "raw_comments", "raw_submolts", "raw_votes", "raw_tasks"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN _path")
        con.execute(f"ALTER TABLE {table} DROP COLUMN _partial")
    con.execute("ALTER TABLE quarantine_rows DROP COLUMN path")
    _db.ensure_schema(con)
    _db.refresh_clean_tables(con)
    con.close()
    assert clean_snapshot(db) == before
    assert query(db, "SELECT count(*) FROM raw_comments WHERE _partial IS NULL") == [(3,)]


def test_counts_out_of_range_are_quarantined_before_they_can_overflow(base_drop, tmp_path):
    """An upvote count of 2^63 - 1 with -1 downvotes passes every type check but overflows `upvotes - downvotes`
    in the clean tables: counts must lie in [0, 10^12] (net counts in [-10^12, 10^12])."""
    db = tmp_path / "obs.duckdb"
    poison = dict(POSTS_API[0], id="p9", upvotes=9223372036854775807, downvotes=-1)
    negative = dict(POSTS_API[0], id="p8", downvotes=-1)
    write_jsonl(base_drop / "posts-2.jsonl", [poison, negative])
    ingest_drop(base_drop, db)
    rows = query(db, "SELECT line, reason, field, detail FROM quarantine WHERE file LIKE '%posts-2.jsonl' ORDER BY line")
    assert rows == [(1, "invalid_value", "upvotes", "9223372036854775807"), (2, "invalid_value", "downvotes", "-1")]
    assert query(db, "SELECT id FROM posts ORDER BY id") == [("p1",), ("p2",)]
    # The next drop still lands: nothing poisons the refresh.
    write_jsonl(tmp_path / "later" / "agents.jsonl", [{"id": "a9", "name": "z", "created_at": "2026-02-01T00:00:00Z"}])
    ingest_drop(tmp_path / "later", db)
    assert query(db, "SELECT count(*) FROM agents") == [(4,)]


@pytest.mark.parametrize("value,expected", [
    (1769558400000, datetime(2026, 1, 28, tzinfo=UTC)),   # epoch milliseconds, 13 digits
    ("1769558400000", datetime(2026, 1, 28, tzinfo=UTC)),
    ("infinity", None), ("-infinity", None), ("epoch", None), (0, None),  # 1970: outside 2000-2100
    ("2101-01-01T00:00:00Z", None), ("290309-12-21 BC", None),
])
def test_timestamps_outside_the_plausible_window_are_bad_and_milliseconds_are_read(tmp_path, value, expected):
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    write_jsonl(drop / "agents.jsonl", [{"id": "a1", "name": "x", "created_at": value}])
    ingest_drop(drop, db)
    if expected is None:
        assert query(db, "SELECT reason, field FROM quarantine") == [("bad_timestamp", "created_at")]
        assert query(db, "SELECT count(*) FROM agents") == [(0,)]
    else:
        assert query(db, "SELECT created_at FROM agents") == [(expected,)]


def test_a_crash_between_finishing_a_drop_and_the_refresh_is_repaired_by_the_next_ingest(tmp_path, monkeypatch):
    """The drop's rows are committed and it is marked finished; the refresh then fails. Re-running finds every file
    ingested and must still bring the clean tables up to date."""
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    _write_drop(drop, "jsonl", "flat")

    def crash(con):
        raise RuntimeError("killed before the refresh committed")

    monkeypatch.setattr(_db, "refresh_clean_tables", crash)
    with pytest.raises(RuntimeError):
        ingest_drop(drop, db)
    assert query(db, "SELECT count(*) FROM raw_comments") == [(3,)]
    assert query(db, "SELECT count(*) FROM comments") == [(0,)]  # stale
    monkeypatch.undo()
    again = ingest_drop(drop, db)
    assert again.drop_seq is None  # nothing new to ingest ...
    assert clean_snapshot(db)["comments"] == EXPECTED_COMMENTS  # ... but the refresh was redone


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_column_names_are_data_never_sql(tmp_path, fmt):
    """Unknown columns are ignored whatever their names: ones that look like the ingest's own (`f__id`, `_problem`,
    `p__name`, `_line`, `_fid`, `_path`), and ones that try to break out of an identifier into SQL."""
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    target = tmp_path / "written-by-the-drop.csv"
    hostile = f'x" := 1) AS t; COPY (SELECT 1) TO \'{target}\'; SELECT struct_pack("y'
    rows = [dict(a, **{"f__id": "zz", "_problem": "1", "p__name": "false", "_line": "999", "_fid": "7",
                       "_path": "$.x", hostile: "boom", 'quote"d': "q"}) for a in AGENTS]
    rows.append({"id": "a4", "name": "dave", "created_at": "not a time", "f__id": "zz", "_problem": "1",
                 "p__name": "false", "_line": "999", "_fid": "7", "_path": "$.x", hostile: "boom", 'quote"d': "q"})
    if fmt == "csv":
        write_csv(drop / "agents.csv", rows)
    else:
        write_parquet(drop / "agents.parquet", [{k: (None if v is None else str(v)) for k, v in r.items()}
                                                for r in rows])
    report = ingest_drop(drop, db)
    assert not target.exists()
    assert query(db, "SELECT id, name, karma FROM agents ORDER BY id") == [
        ("a1", "alice", 10), ("a2", "bob", 4), ("a3", "carol", 0)]
    line = 5 if fmt == "csv" else 4  # CSV: header is line 1
    bad = query(db, "SELECT line, reason, field, raw FROM quarantine")
    assert [(r[0], r[1], r[2]) for r in bad] == [(line, "bad_timestamp", "created_at")]
    raw = json.loads(bad[0][3])
    assert raw["id"] == "a4" and raw["f__id"] == "zz" and raw["_line"] == "999"
    # The hostile column is kept under its name (DuckDB's CSV reader keeps a header's doubled quotes as written).
    assert [k for k, v in raw.items() if v == "boom"] == [hostile if fmt == "parquet" else hostile.replace('"', '""')]
    assert report.rows_read == 4


def test_links_out_of_the_drop_are_not_followed(tmp_path):
    outside = write_jsonl(tmp_path / "elsewhere" / "secret.jsonl", [{"id": "s1", "name": "secret",
                                                                      "created_at": "2026-01-28T00:00:00Z"}])
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    write_jsonl(drop / "agents.jsonl", AGENTS)
    (drop / "agents-passwd.jsonl").symlink_to(outside)
    report = ingest_drop(drop, db)
    assert report.ignored == ["agents-passwd.jsonl (a link out of the drop: not read)"]
    assert query(db, "SELECT id FROM agents ORDER BY id") == [("a1",), ("a2",), ("a3",)]


def test_empty_files_hold_no_rows_in_every_format_and_a_json_of_array_lines_is_jsonl(tmp_path):
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    write_jsonl(drop / "agents.jsonl", AGENTS)
    for name in ("agents-2.csv.gz", "posts.parquet", "comments.jsonl.zst", "comments-2.json", "votes.csv"):
        (drop / name).write_bytes(b"")
    # JSONL in a .json file whose first line is an array: each line is a document, the arrays are not objects.
    (drop / "tasks.json").write_text('[1, 2]\n{"id": "t1", "post_id": "p1"}\n["x"]\n')
    report = ingest_drop(drop, db)
    assert {f.file.rsplit("/", 1)[-1]: f.rows_read for f in report.files} == {
        "agents.jsonl": 3, "agents-2.csv.gz": 0, "posts.parquet": 0, "comments.jsonl.zst": 0, "comments-2.json": 0,
        "votes.csv": 0, "tasks.json": 3}
    assert query(db, "SELECT line, reason FROM quarantine WHERE entity = 'tasks' ORDER BY line") == [
        (1, "not_json"), (2, "unknown_post"), (3, "not_json")]


def test_an_array_element_with_a_lone_surrogate_is_quarantined_alone(tmp_path):
    """DuckDB refuses a whole JSON array for one lone-surrogate escape; the element is quarantined, the rest land."""
    drop = tmp_path / "drop"
    drop.mkdir()
    good = json.dumps(AGENTS[1])
    (drop / "agents.json").write_text('[{"id": "a1", "name": "\\ud800x", "karma": 1, "created_at": '
                                      '"2026-01-28T00:00:00Z"}, ' + good + "]")
    report = ingest_drop(drop, tmp_path / "obs.duckdb")
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 1, 1)
    assert query(tmp_path / "obs.duckdb", "SELECT id FROM agents") == [("a2",)]
    assert query(tmp_path / "obs.duckdb", "SELECT reason, line FROM quarantine_rows") == [("not_json", 1)]


def test_whitespace_before_an_array_and_a_csv_field_over_16_mb_load(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "agents.json").write_text(" \n" * 4000 + json.dumps(AGENTS))
    long_text = "x" * (17 << 20)
    (drop / "posts.csv").write_text(
        "id,title,content,submolt,agent_id,agent_name,created_at\n"
        f"p1,t,{long_text},general,a1,alice,2026-01-28T01:00:00Z\n"
        "p2,t,short,general,a2,bob,2026-01-28T02:00:00Z\n")
    report = ingest_drop(drop, tmp_path / "obs.duckdb")
    assert report.rows_quarantined == 0 and report.rows_loaded == 5
    assert query(tmp_path / "obs.duckdb", "SELECT id, length(content) FROM posts ORDER BY id") == [
        ("p1", 17 << 20), ("p2", 5)]


def test_the_timestamp_window_is_configurable_and_its_setting_checked(tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    write_jsonl(drop / "agents.jsonl", [dict(AGENTS[0], created_at="2015-06-01T00:00:00Z"), AGENTS[1]])
    monkeypatch.setenv("OBSERVATORY_TIMESTAMP_WINDOW", "2020-01-01/2031-01-01")
    report = ingest_drop(drop, tmp_path / "obs.duckdb")
    assert report.reasons == {"bad_timestamp": 1}
    monkeypatch.setenv("OBSERVATORY_TIMESTAMP_WINDOW", "2020-01-01'; DROP TABLE agents; --/2031-01-01")
    with pytest.raises((IngestError, ValueError), match="OBSERVATORY_TIMESTAMP_WINDOW"):
        ingest_drop(tmp_path / "drop", tmp_path / "other.duckdb")


@pytest.mark.parametrize("fmt, name", [("csv", "rowid"), ("csv", "ROWID"), ("parquet", "file_row_number"),
                                       ("csv", "__observatory_row"), ("parquet", "__observatory_row"),
                                       ("parquet", "__observatory_input_0")])
def test_columns_named_like_duckdbs_own_row_numbers_are_ignored(tmp_path, fmt, name):
    """Unknown columns are ignored even when DuckDB itself uses the name (CSV's rowid pseudo-column, Parquet's
    file_row_number option): the rows land, and a bad row keeps the column under its own name and its own line."""
    drop = tmp_path / "drop"
    rows = [dict(AGENTS[0], **{name: "x"}), dict(AGENTS[1], karma="zz", **{name: "7"})]
    if name == "__observatory_input_0":  # two reserved names, one of them the first internal alias
        rows = [dict(r, rowid="r", file_row_number="f") for r in rows]
    if fmt == "csv":
        write_csv(drop / "agents.csv", rows)
    else:
        write_parquet(drop / "agents.parquet", [{k: str(v) for k, v in r.items()} for r in rows])
    report = ingest_drop(drop, tmp_path / "obs.duckdb")
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    assert query(tmp_path / "obs.duckdb", "SELECT id, karma FROM agents") == [("a1", 10)]
    (reason, line, raw), = query(tmp_path / "obs.duckdb", "SELECT reason, line, raw FROM quarantine_rows")
    assert reason == "wrong_type" and line == (3 if fmt == "csv" else 2)
    assert json.loads(raw)[name] == "7"


def test_the_cheap_blank_and_trim_checks_equal_duckdbs_trim_on_every_code_point():
    """The checks test blankness with `ltrim` and trim through `_trimmed` (cheaper than DuckDB's `trim`). Reference:
    DuckDB's own `trim`, on every Unicode scalar value alone, at either end of a word, inside one, before a
    combining mark, after a space and after a CR LF pair (1.1 million code points, 9 strings each)."""
    import duckdb

    from observatory.ingest.load import _trimmed

    con = duckdb.connect()
    s = "_s"
    counted = con.execute(
        f"SELECT count(*), count(*) FILTER ({_trimmed(s)} IS DISTINCT FROM trim({s})), "
        f"count(*) FILTER ((ltrim({s}) <> '') IS DISTINCT FROM (trim({s}) <> '')), "
        f"count(*) FILTER (trim({s}) <> {s}) "
        "FROM (SELECT chr(CAST(i AS INTEGER)) AS c FROM range(1, 1114112) t(i) WHERE i < 55296 OR i > 57343) AS cs, "
        "(SELECT unnest(['a' || c, c || 'a', c, 'a' || c || chr(769), c || chr(769), ' ' || c, c || ' ', "
        "'ab' || c || 'cd', chr(13) || chr(10) || c]) AS _s) AS strings").fetchall()[0]
    assert counted[0] == 9 * (1114111 - 2048)
    assert counted[1] == 0 and counted[2] == 0
    # Not a vacuous comparison: trim changes many of these strings (the 17 space separators in most shapes).
    assert counted[3] > 17 * 5
