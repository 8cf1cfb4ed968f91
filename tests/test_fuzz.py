"""Property-based fuzzing of the ingest: hostile records in every entity and format.

Each example writes a drop holding one entity file in one format (JSONL plain or gzipped, a JSON array, CSV,
Parquet), built from valid records of which some are damaged in one of the ways real scrapes are (a field missing,
a wrong type, an unusable timestamp, an out-of-range number, hostile text, hostile column names, a line that is not
JSON or not UTF-8), and ingests it on top of a database that already holds a base drop. Properties:

- no exception but `IngestError` (which names what failed), raised only for a file cut short;
- every row read is either loaded or quarantined, per file;
- ingesting the same drop again changes nothing;
- a refused drop leaves every table exactly as it was (checksums of every table);
- nothing outside the drop is read or written.

Examples are derandomised, so CI runs the same ones every time: `OBSERVATORY_FUZZ_EXAMPLES` (default 40) sets how
many; `OBSERVATORY_FUZZ_EXAMPLES=1000 .venv/bin/python -m pytest tests/test_fuzz.py -s` is the longer profile and
prints its figures.
"""

from __future__ import annotations

import collections
import copy
import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from observatory import db as _db  # noqa: E402
from observatory.ingest.load import IngestError, ingest_drop  # noqa: E402

from .test_ingest import AGENTS, COMMENTS_API, POSTS_API, flat_comments, flat_posts, write_csv  # noqa: E402

EXAMPLES = int(os.environ.get("OBSERVATORY_FUZZ_EXAMPLES", "40"))
FORMATS = ("jsonl", "jsonl.gz", "json", "csv", "parquet")
DAMAGE = ("none", "missing_field", "wrong_type", "bad_timestamp", "huge_number", "hostile_text", "hostile_column",
          "not_json", "not_utf8")
# Line-level damage only exists in line-oriented files.
LINE_DAMAGE = {"not_json", "not_utf8"}
HOSTILE = ["'); COPY (SELECT 1) TO '/tmp/observatory-fuzz-escaped.csv'; --", "read_text('/etc/passwd')",
           "<script>alert(1)</script>", "\u202e\u0000nul", "\"", "_problem", "f__id", "rowid", "file_row_number",
           "__observatory_row", "p__name", "😀" * 50]
TIMESTAMPS = ["infinity", "-infinity", "epoch", "290309-12-22 (BC)", "not a date", 10**13 * 9, -1, "2026-13-45"]
NUMBERS = [2**63, -(2**63) - 1, 9223372036854775807, 1e308, float("nan"), -1, "1e400"]
STATS = collections.Counter()


def base_records(entity: str, fmt: str) -> list[dict]:
    columnar = fmt in ("csv", "parquet")
    if entity == "agents":
        return copy.deepcopy(AGENTS)
    if entity == "posts":
        return flat_posts() if columnar else copy.deepcopy(POSTS_API)
    return flat_comments() if columnar else copy.deepcopy(COMMENTS_API)


@st.composite
def drops(draw):
    entity = draw(st.sampled_from(("agents", "posts", "comments")))
    fmt = draw(st.sampled_from(FORMATS))
    records = base_records(entity, fmt)
    # Several copies with fresh ids, so damage hits some records and spares others.
    n = draw(st.integers(1, 4))
    rows = []
    for i in range(n):
        for record in copy.deepcopy(records):
            record["id"] = f"{record['id']}-{i}"
            rows.append(record)
    damages = []
    lines: dict[int, bytes] = {}
    for index in draw(st.lists(st.integers(0, len(rows) - 1), max_size=4, unique=True)):
        allowed = [d for d in DAMAGE if fmt.startswith("jsonl") or d not in LINE_DAMAGE]
        kind = draw(st.sampled_from(allowed))
        damages.append(kind)
        record = rows[index]
        field = draw(st.sampled_from(sorted(k for k in record if k != "id")))
        if kind == "missing_field":
            record.pop(draw(st.sampled_from(sorted(record))))
        elif kind == "wrong_type":
            record[field] = draw(st.sampled_from([{"nested": [1, 2]}, [1, "x"], True, "twelve", 3.5]))
        elif kind == "bad_timestamp":
            record["created_at"] = draw(st.sampled_from(TIMESTAMPS))
        elif kind == "huge_number":
            number_field = {"agents": "karma", "posts": "upvotes", "comments": "upvotes"}[entity]
            record[number_field] = draw(st.sampled_from(NUMBERS))
        elif kind == "hostile_text":
            record[field] = draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=200)))
        elif kind == "hostile_column":
            record[draw(st.sampled_from(HOSTILE))] = draw(st.sampled_from(["x", 1, None]))
        elif kind == "not_json":
            lines[index] = draw(st.sampled_from([b"{not json", b"[1, 2", b"\"just a string\"", b"{}{}"]))
        elif kind == "not_utf8":
            lines[index] = b'{"id": "x\xff\xfe", "name": "\xc3"}'
    # Now and then the file itself is cut short (a scrape interrupted mid-write): a truncated gzip stream, array
    # or Parquet footer, which must refuse the drop and leave the database as it was.
    if draw(st.integers(0, 7)) == 0:
        damages.append("truncated_file")
    return entity, fmt, rows, lines, damages


def write_drop(folder: Path, entity: str, fmt: str, rows: list[dict], lines: dict[int, bytes],
               truncate: bool = False) -> Path:
    folder.mkdir(parents=True)
    path = folder / f"{entity}.{fmt}"
    if fmt.startswith("jsonl"):
        encoded = [lines.get(i, json.dumps(r, allow_nan=True).encode()) for i, r in enumerate(rows)]
        text = b"".join(line + b"\n" for line in encoded)
        path.write_bytes(gzip.compress(text) if fmt.endswith(".gz") else text)
    elif fmt == "json":
        path.write_text(json.dumps(rows, allow_nan=True))
    elif fmt == "csv":
        write_csv(path, [{str(k): (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()}
                         for r in rows])
    else:
        columns = list(dict.fromkeys(str(k) for r in rows for k in r))
        # Parquet columns need one type: every value as text, which the contract's typed read must then check.
        table = pa.table({c: [None if r.get(c) is None else json.dumps(r[c]) if isinstance(r.get(c), (dict, list))
                              else str(r[c]) for r in rows] for c in columns})
        pq.write_table(table, path)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[: max(1, len(data) * 2 // 3)])
    return path


def checksums(db: Path) -> dict:
    con = _db.connect(db, read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name").fetchall()]
        return {t: con.execute(f"SELECT count(*), bit_xor(hash({_db.quote(t)})) FROM {_db.quote(t)}").fetchone()
                for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def base_database(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-base")
    base = root / "base"
    base.mkdir()
    write_csv(base / "agents.csv", AGENTS)
    db = root / "base.duckdb"
    ingest_drop(base, db)
    return db


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(example=drops())
def test_a_hostile_drop_loses_nothing_and_changes_nothing_when_refused(base_database, example):
    entity, fmt, rows, lines, damages = example
    escaped = Path("/tmp/observatory-fuzz-escaped.csv")
    with tempfile.TemporaryDirectory(prefix="observatory-fuzz-") as folder:
        folder = Path(folder)
        db = folder / "fuzz.duckdb"
        shutil.copyfile(base_database, db)
        drop = write_drop(folder / "drop", entity, fmt, rows, lines, "truncated_file" in damages).parent
        before = checksums(db)
        for kind in damages:
            STATS[f"damage:{kind}"] += 1
        STATS[f"format:{fmt}"] += 1
        try:
            report = ingest_drop(drop, db)
        except IngestError as error:
            assert str(error)  # it says what failed
            assert "truncated_file" in damages, f"a drop with only bad records was refused: {error}"
            assert checksums(db) == before, "a refused drop changed the database"
            STATS["refused"] += 1
            STATS[f"refused:{fmt}"] += 1
            return
        for file in report.files:
            assert file.rows_read == file.rows_loaded + file.rows_quarantined, file
        after = checksums(db)
        again = ingest_drop(drop, db)
        assert again.drop_seq is None
        assert checksums(db) == after, "re-ingesting the same drop changed the database"
        STATS["landed"] += 1
        STATS["rows"] += report.rows_read
        STATS["quarantined"] += report.rows_quarantined
    assert not escaped.exists(), "a column name or value reached SQL"


@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(example=drops())
def test_reading_only_the_paths_a_block_gives_lands_the_same_rows(base_database, example, monkeypatch):
    """The JSON checks leave out the sources under keys that no record of a block has (`_Loader._given`): the raw
    tables and the quarantine are the same, row for row, as with every source read."""
    from observatory.ingest import load

    entity, fmt, rows, lines, damages = example
    if fmt in ("csv", "parquet") or "truncated_file" in damages:
        return
    with tempfile.TemporaryDirectory(prefix="observatory-fuzz-") as folder:
        folder = Path(folder)
        drop = write_drop(folder / "drop", entity, fmt, rows, lines).parent
        landed = {}
        for pruned in (True, False):
            db = folder / f"{pruned}.duckdb"
            shutil.copyfile(base_database, db)
            with monkeypatch.context() as patch:
                if not pruned:
                    patch.setattr(load._Loader, "_given", lambda self, records, params, paths, fields, defaults:
                                  {f"_t{i}" for i in range(1, len(paths) + 1)}
                                  | ({f"_dt{d}" for d in range(1, len(fields) + 1)} if defaults else set()))
                ingest_drop(drop, db)
            sums = checksums(db)
            landed[pruned] = {t: v for t, v in sums.items() if t.startswith("raw_") or t == "quarantine_rows"}
        assert landed[True] == landed[False]


def test_fuzz_figures(capsys):
    """Prints what the fuzz test above covered (run with -s to see it)."""
    with capsys.disabled():
        print(f"\nfuzzed drops: {STATS['landed'] + STATS['refused']} ({STATS['landed']} landed, "
              f"{STATS['refused']} refused cleanly); rows read {STATS['rows']}, quarantined {STATS['quarantined']}; "
              + ", ".join(f"{k} {v}" for k, v in sorted(STATS.items()) if ":" in k))
