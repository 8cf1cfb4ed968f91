"""Ingest a drop of interaction logs into the observatory's DuckDB database.

A drop is a folder of files named after the contract's entities (`agents*`, `posts*`, `comments/part-3.parquet`...)
in JSONL (optionally gzipped), JSON arrays, Parquet or CSV. Each record is checked against the contract
(:mod:`observatory._contract`); good records land in the typed raw tables (`raw_agents`, `raw_posts`, ...), bad ones
in `quarantine_rows` with the file, line, raw text and reason. The deduplicated views that everything downstream
reads (`agents`, `posts`, `comments`, ...) are defined by the SQL under `sql/staging/`.

Guarantees:

* All or nothing per drop: a file that cannot be read at all fails the drop with an :class:`IngestError` naming
  the file, and the database is left as it was. Rows land one transaction per file (memory stays flat whatever
  the drop's size); the clean views read only finished drops, and a failed drop's rows are removed.
* Idempotent: every file is logged in `ingest_log` with its SHA-256; a file whose content was ingested before is
  skipped, so ingesting the same drop twice changes nothing.
* Nothing is dropped silently: every line read is either loaded or quarantined, and the report says how many.

Parquet and CSV are read with DuckDB's own readers. JSONL is split into lines in large blocks with numpy and parsed by
DuckDB's JSON functions: that is the one way to keep exact line numbers and to quarantine lines that are not UTF-8,
which `read_json` can neither report nor survive.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import _db
from ._contract import ENTITIES, Entity, Field

__all__ = ["IngestError", "IngestReport", "FileReport", "discover_drop", "ingest_drop"]

# Bytes of JSONL handled per step: bounds memory whatever the file size.
BLOCK_BYTES = 64 << 20

_FORMAT_SUFFIXES = (
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".json.gz", "json"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".json", "json"),
    (".parquet", "parquet"),
    (".csv.gz", "csv"),
    (".csv", "csv"),
)


class IngestError(RuntimeError):
    """A drop (or one of its files) could not be ingested; the database was left as it was."""


@dataclass
class DropFile:
    path: Path
    relative: str
    entity: Entity
    format: str


@dataclass
class FileReport:
    file: str
    entity: str
    format: str
    sha256: str
    bytes: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    skipped: bool = False  # the same content was ingested before
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    """What an ingest did: per file, rows read, loaded and quarantined, and why."""

    drop: str
    drop_seq: int | None
    files: list[FileReport]
    ignored: list[str]
    seconds: float

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def reasons(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for f in self.files:
            for reason, n in f.reasons.items():
                total[reason] = total.get(reason, 0) + n
        return dict(sorted(total.items()))

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "file": f.file,
                    "entity": f.entity,
                    "format": f.format,
                    "status": "already ingested" if f.skipped else "ingested",
                    "rows_read": f.rows_read,
                    "loaded": f.rows_loaded,
                    "quarantined": f.rows_quarantined,
                }
                for f in self.files
            ],
            columns=["file", "entity", "format", "status", "rows_read", "loaded", "quarantined"],
        )

    def to_dict(self) -> dict:
        return {
            "drop": self.drop,
            "drop_seq": self.drop_seq,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_reasons": self.reasons,
            "files": len(self.files),
            "files_skipped": sum(f.skipped for f in self.files),
            "ignored": list(self.ignored),
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------------------------------
# Discovering the files of a drop


def _format_of(name: str) -> str | None:
    lower = name.lower()
    for suffix, fmt in _FORMAT_SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    return None


def _entity_of(relative: str) -> Entity | None:
    first = relative.split("/", 1)[0].lower()
    for entity in ENTITIES:
        if first.startswith(entity.name):
            return entity
    return None


def discover_drop(drop: str | Path) -> tuple[list[DropFile], list[str]]:
    """The files of a drop that the contract names, in ingest order, and the files it ignores.

    A file belongs to an entity when its path inside the drop starts with the entity's name: `comments.jsonl`,
    `comments-2026-02-01.jsonl.gz` and `comments/date=2026-02-01/part-0.parquet` are all comments. Hidden files
    (`.` or `_` prefixed, such as `_SUCCESS`) are skipped; anything else is listed as ignored.
    """
    root = Path(drop)
    if not root.exists():
        raise IngestError(f"{drop}: no such drop folder")
    if root.is_file():
        candidates = [root]
        base = root.parent
    else:
        candidates = sorted(p for p in root.rglob("*") if p.is_file())
        base = root
    files, ignored = [], []
    for path in candidates:
        relative = path.relative_to(base).as_posix()
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        entity, fmt = _entity_of(relative), _format_of(path.name)
        if entity is None or fmt is None:
            ignored.append(relative)
            continue
        files.append(DropFile(path, relative, entity, fmt))
    order = {e.name: i for i, e in enumerate(ENTITIES)}
    files.sort(key=lambda f: (order[f.entity.name], f.relative))
    return files, ignored


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Reading JSONL as blocks of numbered lines


def iter_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Table]:
    """Yield the lines of a (possibly gzipped) text file as Arrow tables `(_line int64, _bytes binary)`.

    Lines keep their bytes exactly (undecoded, so invalid UTF-8 survives to be quarantined) including the line
    terminator; blank lines are dropped. Line numbers are 1-based and count blank lines.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    lines_before = 0
    carry = b""
    first = True
    with opener(path, "rb") as fh:
        while True:
            chunk = fh.read(block_bytes)
            if first and chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]  # a UTF-8 byte order mark is not part of the first record
            first = False
            if not chunk:
                break
            data = carry + chunk
            newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            if newlines.size == 0:
                carry = data
                continue
            end = int(newlines[-1]) + 1
            carry = data[end:]
            yield _lines_table(data[:end], newlines, lines_before)
            lines_before += newlines.size
    if carry:
        data = carry + b"\n"
        yield _lines_table(data, np.array([len(data) - 1]), lines_before)


def _lines_table(data: bytes, newlines: np.ndarray, lines_before: int) -> pa.Table:
    offsets = np.empty(newlines.size + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = newlines + 1
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), newlines.size, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    buf = np.frombuffer(data, dtype=np.uint8)
    lengths = np.diff(offsets) - 1  # without the newline
    has_cr = (lengths > 0) & (buf[np.maximum(newlines - 1, 0)] == 13)
    nonblank = (lengths - has_cr) > 0
    numbers = np.arange(lines_before + 1, lines_before + newlines.size + 1, dtype=np.int64)
    # Drop the line terminators (\n, and \r before it) so that the bytes are exactly the record's.
    lines = pc.binary_slice(lines, 0, -1)
    if has_cr.any():
        lines = pc.if_else(pa.array(has_cr), pc.binary_slice(lines, 0, -1), lines)
    table = pa.table({"_line": numbers, "_bytes": lines})
    if not nonblank.all():
        table = table.filter(pa.array(nonblank))
    return table


# --------------------------------------------------------------------------------------------------------------
# The SQL that turns a source relation into typed contract fields and a reason for each bad row


def _convert(kind: str, category: str, value: str) -> str:
    """SQL converting `value` (of a source category) to the contract `kind`, or NULL where it cannot be."""
    if category == "string":
        return {
            "id": f"NULLIF(trim({value}), '')",
            "text": value,
            "int": f"TRY_CAST(trim({value}) AS BIGINT)",
            "float": f"TRY_CAST(trim({value}) AS DOUBLE)",
            "bool": f"TRY_CAST(trim({value}) AS BOOLEAN)",
            # ISO-8601 (naive means UTC: the session time zone is UTC), else epoch seconds written as a string.
            "ts": f"COALESCE(TRY_CAST({value} AS TIMESTAMPTZ), try(to_timestamp(TRY_CAST({value} AS DOUBLE))))",
        }[kind]
    if category == "integer":
        return {
            "id": f"CAST({value} AS VARCHAR)",
            "text": f"CAST({value} AS VARCHAR)",
            "int": f"TRY_CAST({value} AS BIGINT)",
            "float": f"CAST({value} AS DOUBLE)",
            "bool": f"CASE WHEN {value} = 1 THEN true WHEN {value} = 0 THEN false END",
            "ts": f"try(to_timestamp(CAST({value} AS DOUBLE)))",
        }[kind]
    if category == "double":
        return {
            "id": f"CASE WHEN {value} = trunc({value}) THEN CAST(TRY_CAST({value} AS HUGEINT) AS VARCHAR) END",
            "text": f"CAST({value} AS VARCHAR)",
            "int": f"CASE WHEN {value} = trunc({value}) THEN TRY_CAST({value} AS BIGINT) END",
            "float": f"CAST({value} AS DOUBLE)",
            "bool": "NULL",
            "ts": f"try(to_timestamp({value}))",
        }[kind]
    if category == "boolean":
        return {"bool": value, "text": f"CAST({value} AS VARCHAR)"}.get(kind, "NULL")
    if category == "timestamp":
        return {"ts": f"CAST({value} AS TIMESTAMPTZ)", "text": f"CAST({value} AS VARCHAR)"}.get(kind, "NULL")
    return "NULL"


def _typed_null(f: Field) -> str:
    return f"CAST(NULL AS {f.duckdb_type})"


def _json_source(kind: str, t: str, s: str) -> tuple[str, str, str]:
    """(value, present, text) SQL for a JSON value given its JSON type `t` and its text `s` (strings unquoted)."""
    value = (
        f"CASE {t} "
        f"WHEN 'VARCHAR' THEN {_convert(kind, 'string', s)} "
        f"WHEN 'BIGINT' THEN {_convert(kind, 'integer', f'TRY_CAST({s} AS HUGEINT)')} "
        f"WHEN 'UBIGINT' THEN {_convert(kind, 'integer', f'TRY_CAST({s} AS HUGEINT)')} "
        f"WHEN 'HUGEINT' THEN {_convert(kind, 'integer', f'TRY_CAST({s} AS HUGEINT)')} "
        f"WHEN 'DOUBLE' THEN {_convert(kind, 'double', f'TRY_CAST({s} AS DOUBLE)')} "
        f"WHEN 'BOOLEAN' THEN {_convert(kind, 'boolean', f'TRY_CAST({s} AS BOOLEAN)')} "
        f"END"
    )
    # Absent, JSON null and empty/blank strings all count as "not given".
    present = f"({t} IS NOT NULL AND {t} <> 'NULL' AND ({t} <> 'VARCHAR' OR trim({s}) <> ''))"
    text = f"CASE WHEN {t} = 'VARCHAR' THEN to_json({s}) ELSE {s} END"
    return value, present, f"CAST({text} AS VARCHAR)"


_CATEGORY_BY_TYPE = (
    ("VARCHAR", "string"),
    ("JSON", "string"),
    ("BOOLEAN", "boolean"),
    ("TIMESTAMP", "timestamp"),
    ("DATE", "timestamp"),
    ("DOUBLE", "double"),
    ("FLOAT", "double"),
    ("DECIMAL", "double"),
    ("HUGEINT", "integer"),
    ("UHUGEINT", "integer"),
    ("BIGINT", "integer"),
    ("UBIGINT", "integer"),
    ("INTEGER", "integer"),
    ("UINTEGER", "integer"),
    ("SMALLINT", "integer"),
    ("USMALLINT", "integer"),
    ("TINYINT", "integer"),
    ("UTINYINT", "integer"),
)


def _category(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    for prefix, category in _CATEGORY_BY_TYPE:
        if t.startswith(prefix) and not t.startswith(("STRUCT", "MAP")) and not t.endswith("]"):
            return category
    return "other"


def _column_source(kind: str, column_types: dict[str, str], path: tuple[str, ...]):
    """(value, present, text) SQL for a path into a columnar source, or None if the source lacks it."""
    head = path[0]
    if len(path) == 1 or f"{head}.{path[1]}" in column_types:
        name = head if len(path) == 1 else f"{head}.{path[1]}"
        if name not in column_types:
            return None
        expr, typ = f'_src."{name}"', column_types[name]
    else:
        typ = column_types.get(head, "")
        if not typ.upper().startswith("STRUCT"):
            return None
        child = _struct_child_type(typ, path[1])
        if child is None:
            return None
        expr = f'struct_extract(_src."{head}", \'{path[1]}\')'
        typ = child
    category = _category(typ)
    present = f"({expr} IS NOT NULL" + (f" AND trim({expr}) <> '')" if category == "string" else ")")
    return _convert(kind, category, expr), present, f"CAST({expr} AS VARCHAR)"


def _struct_child_type(struct_type: str, child: str) -> str | None:
    import duckdb

    # Let DuckDB parse its own type string rather than parsing nested parentheses here.
    try:
        parsed = duckdb.sqltype(struct_type)
    except Exception:  # noqa: BLE001 - an unparsable type is simply not a usable source
        return None
    for name, sub in parsed.children:
        if name == child:
            return str(sub)
    return None


def _typed_select(entity: Entity, sources: dict[str, list[tuple[str, str, str]]], from_sql: str, raw_sql: str) -> str:
    """One query over a source relation (aliased `_src`, with a `_line` column) that yields `_line`, every contract
    field typed, `_problem` (index of the first failed check, NULL for a good row), and, for bad rows only,
    `_reason`, `_field`, `_detail` (the offending value) and `_raw` (the record's text).

    Three levels: values and presence flags; the first failed check; names and texts of the failure. Source columns
    are carried through (`_src.*`) so that only bad rows pay for rendering their detail and raw text.
    """
    level1 = ["_src.*"]
    texts: dict[str, str] = {}
    for f in entity.fields:
        candidates = sources.get(f.name, [])
        if not candidates:
            level1 += [f'{_typed_null(f)} AS "f__{f.name}"', f'false AS "p__{f.name}"']
            texts[f.name] = "NULL"
            continue
        values = ", ".join(c[0] for c in candidates)
        value = values if len(candidates) == 1 else f"COALESCE({values})"
        present = " OR ".join(c[1] for c in candidates)
        level1 += [f'CAST({value} AS {f.duckdb_type}) AS "f__{f.name}"', f'({present}) AS "p__{f.name}"']
        texts[f.name] = "left(COALESCE(" + ", ".join(f"CASE WHEN {c[1]} THEN {c[2]} END" for c in candidates) + ", ''), 200)"

    checks: list[tuple[str, str, str, str]] = []  # (condition, reason, field, detail)
    for f in entity.fields:
        value, present = f'"f__{f.name}"', f'"p__{f.name}"'
        if f.required:
            checks.append((f"NOT {present}", "missing_field", f.name, "NULL"))
        bad = "bad_timestamp" if f.kind == "ts" else "wrong_type"
        checks.append((f"{present} AND {value} IS NULL", bad, f.name, texts[f.name]))
    for group in entity.required_any:
        cond = " AND ".join(f'"f__{g}" IS NULL' for g in group)
        checks.append((cond, "missing_field", " or ".join(group), "NULL"))
    for f in entity.fields:
        value = f'"f__{f.name}"'
        if f.allowed is not None:
            allowed = ", ".join(repr(a) for a in f.allowed)
            checks.append((f"{value} IS NOT NULL AND {value} NOT IN ({allowed})", "invalid_value", f.name, texts[f.name]))
        if f.minimum is not None:
            checks.append((f"{value} < {f.minimum!r}", "invalid_value", f.name, texts[f.name]))
        if f.maximum is not None:
            checks.append((f"{value} > {f.maximum!r}", "invalid_value", f.name, texts[f.name]))

    problem = "CASE " + " ".join(f"WHEN {c[0]} THEN {i}" for i, c in enumerate(checks, start=1)) + " END"
    reasons = "[" + ", ".join(f"'{c[1]}'" for c in checks) + "]"
    fields = "[" + ", ".join(f"'{c[2]}'" for c in checks) + "]"
    detail = "CASE _src._problem " + " ".join(f"WHEN {i} THEN {c[3]}" for i, c in enumerate(checks, start=1)) + " END"
    columns = ", ".join(f'"f__{f.name}" AS "{f.name}"' for f in entity.fields)
    return (
        f"SELECT _src._line AS _line, {columns}, _src._problem AS _problem, "
        f"{reasons}[_src._problem] AS _reason, {fields}[_src._problem] AS _field, {detail} AS _detail, "
        f"CASE WHEN _src._problem IS NOT NULL THEN {raw_sql} END AS _raw\n"
        f"FROM (SELECT *, {problem} AS _problem FROM (SELECT {', '.join(level1)} FROM {from_sql} AS _src) AS _src) AS _src"
    )


# --------------------------------------------------------------------------------------------------------------
# Loading one file


# Rows moved per batch from the working connection into the database.
BATCH_ROWS = 200_000


class _FileLoader:
    """Loads one file. Parsing, typing and checking happen in `work`, an in-memory DuckDB connection outside the
    drop's transaction (so its scratch tables are freed as it goes); only finished rows cross, in Arrow batches, into
    `con`, whose transaction holds nothing but the inserts."""

    def __init__(self, con, work, drop_seq: int, file: DropFile, label: str, progress: Callable | None):
        self.con, self.work, self.drop_seq, self.file, self.label, self.progress = con, work, drop_seq, file, label, progress
        self.entity = file.entity
        self.report = FileReport(label, file.entity.name, file.format, "", 0)

    def _insert(self, sql: str, table: pa.Table, params: list) -> None:
        self.con.register("_batch", table)
        try:
            self.con.execute(sql, params).fetchall()
        finally:
            self.con.unregister("_batch")

    def _quarantine(self, table: pa.Table) -> None:
        """Move rows `(_line, _reason, _field, _detail, _raw, _raw_bytes)` into quarantine_rows."""
        if table.num_rows:
            self._insert(
                "INSERT INTO quarantine_rows SELECT ?, ?, _line, ?, _reason, _field, _detail, _raw, _raw_bytes FROM _batch",
                table, [self.drop_seq, self.label, self.entity.name],
            )
            self.report.rows_read += table.num_rows

    def _land(self, query: str, params: list) -> None:
        """Stream a typed query (see `_typed_select`) from `work`: good rows to the raw table, bad to quarantine."""
        e = self.entity
        columns = ", ".join(f'"{f.name}"' for f in e.fields)
        insert = (
            f"INSERT INTO {e.raw_table} ({columns}, _drop_seq, _file, _line, _observed_at) "
            f"SELECT {columns}, ?, ?, _line, COALESCE(fetched_at, dump_date) FROM _batch"
        )
        reader = _arrow_reader(self.work, query, params, BATCH_ROWS)
        for batch in reader:
            table = pa.Table.from_batches([batch])
            bad = pc.is_valid(table["_problem"])
            good = table.filter(pc.invert(bad))
            if good.num_rows:
                self._insert(insert, good, [self.drop_seq, self.label])
                self.report.rows_loaded += good.num_rows
                self.report.rows_read += good.num_rows
            failed = table.filter(bad)
            if failed.num_rows:
                failed = failed.select(["_line", "_reason", "_field", "_detail", "_raw"])
                self._quarantine(failed.append_column("_raw_bytes", pa.nulls(failed.num_rows, pa.binary())))
            if self.progress:
                self.progress(self.label, self.report.rows_read)

    def _quarantine_count(self) -> None:
        rows = self.con.execute(
            "SELECT reason, count(*) FROM quarantine_rows WHERE drop_seq = ? AND file = ? GROUP BY reason",
            [self.drop_seq, self.label],
        ).fetchall()
        self.report.reasons = {r: n for r, n in rows}
        self.report.rows_quarantined = sum(self.report.reasons.values())

    def load(self) -> FileReport:
        getattr(self, f"_load_{self.file.format}")()
        self._quarantine_count()
        return self.report

    # -- JSON records (JSONL lines, JSON array elements) ------------------------------------------------------
    def _json_paths(self) -> tuple[list[str], dict[str, list[tuple[str, str, str]]]]:
        paths: list[str] = []
        sources: dict[str, list[tuple[str, str, str]]] = {}
        for f in self.entity.fields:
            for path in f.sources:
                jp = "$." + ".".join(path)
                if jp not in paths:
                    paths.append(jp)
                i = paths.index(jp) + 1
                sources.setdefault(f.name, []).append(_json_source(f.kind, f"_src._t[{i}]", f"_src._s[{i}]"))
        return paths, sources

    def _land_json_objects(self) -> None:
        """Land the rows of `_checked(_line, _text, _reason)` (in `work`) whose text is a JSON object."""
        paths, sources = self._json_paths()
        path_list = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
        # One pass over the text for the types, one for the values, for every path at once.
        self.work.execute(
            "CREATE OR REPLACE TEMP TABLE _src AS SELECT _line, _text, "
            f"json_type(_text, {path_list}) AS _t, json_extract_string(_text, {path_list}) AS _s "
            "FROM _checked WHERE _reason IS NULL"
        )
        self._land(_typed_select(self.entity, sources, "_src", "_src._text"), [])
        self.work.execute("DROP TABLE _src; DROP TABLE _checked")

    def _load_jsonl(self) -> None:
        for block in iter_line_blocks(self.file.path):
            self.work.register("_block", block)
            try:
                self.work.execute(
                    "CREATE OR REPLACE TEMP TABLE _checked AS SELECT _line, _text, "
                    "CASE WHEN _text IS NULL THEN 'not_utf8' "
                    "     WHEN NOT json_valid(_text) THEN 'not_json' "
                    "     WHEN json_type(_text) <> 'OBJECT' THEN 'not_json' END AS _reason "
                    "FROM (SELECT _line, try(decode(_bytes)) AS _text FROM _block)"
                )
                bad = _arrow_table(self.work, 
                    "SELECT c._line, c._reason, CAST(NULL AS VARCHAR) AS _field, "
                    "CASE WHEN c._reason = 'not_utf8' THEN 'line is not valid UTF-8' ELSE 'line is not a JSON object' END AS _detail, "
                    "COALESCE(c._text, CAST(b._bytes AS VARCHAR)) AS _raw, "
                    "CASE WHEN c._text IS NULL THEN b._bytes END AS _raw_bytes "
                    "FROM _checked c JOIN _block b ON b._line = c._line WHERE c._reason IS NOT NULL ORDER BY c._line"
                )
            finally:
                self.work.unregister("_block")
            self._quarantine(bad)
            self._land_json_objects()

    def _load_json(self) -> None:
        opener = gzip.open if self.file.path.name.lower().endswith(".gz") else open
        with opener(self.file.path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head.startswith(b"["):
            return self._load_jsonl()  # a .json file of one object per line is read as JSONL
        try:
            self.work.execute(
                "CREATE OR REPLACE TEMP TABLE _elements AS "
                "SELECT json AS _j FROM read_json_objects(?, format = 'array')",
                [str(self.file.path)],
            )
        except Exception as exc:  # noqa: BLE001 - reported with the file name below
            raise IngestError(f"{self.label}: not a readable JSON array: {exc}") from exc
        # Insertion order is file order: the table's row ids, which start at an arbitrary base, number the elements.
        self.work.execute(
            "CREATE OR REPLACE TEMP TABLE _checked AS "
            "SELECT rowid - (SELECT min(rowid) FROM _elements) + 1 AS _line, CAST(_j AS VARCHAR) AS _text, "
            "CASE WHEN json_type(_j) <> 'OBJECT' THEN 'not_json' END AS _reason FROM _elements"
        )
        bad = _arrow_table(self.work, 
            "SELECT _line, _reason, CAST(NULL AS VARCHAR) AS _field, 'element is not a JSON object' AS _detail, "
            "_text AS _raw, CAST(NULL AS BLOB) AS _raw_bytes FROM _checked WHERE _reason IS NOT NULL ORDER BY _line"
        )
        self._quarantine(bad)
        self._land_json_objects()
        self.work.execute("DROP TABLE _elements")

    # -- Columnar sources (Parquet, CSV) ----------------------------------------------------------------------
    def _land_columns(self, from_sql: str, params: list) -> None:
        described = self.work.execute(f"DESCRIBE SELECT * FROM {from_sql}", params).fetchall()
        column_types = {row[0]: row[1] for row in described if row[0] != "_line"}
        sources: dict[str, list[tuple[str, str, str]]] = {}
        for f in self.entity.fields:
            for path in f.sources:
                found = _column_source(f.kind, column_types, path)
                if found is not None:
                    sources.setdefault(f.name, []).append(found)
        # Bad rows keep their raw text: the source row as JSON.
        row = "struct_pack(" + ", ".join(f'"{c}" := _src."{c}"' for c in column_types) + ")"
        self._land(_typed_select(self.entity, sources, from_sql, f"CAST(to_json({row}) AS VARCHAR)"), params)

    def _load_parquet(self) -> None:
        try:
            self.work.execute("SELECT count(*) FROM parquet_metadata(?)", [str(self.file.path)]).fetchone()
        except Exception as exc:  # noqa: BLE001
            raise IngestError(f"{self.label}: not a readable Parquet file: {exc}") from exc
        from_sql = (
            "(SELECT file_row_number + 1 AS _line, * EXCLUDE (file_row_number) "
            "FROM read_parquet(?, file_row_number = true))"
        )
        self._land_columns(from_sql, [str(self.file.path)])

    def _load_csv(self) -> None:
        path = str(self.file.path)
        self.work.execute("DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans")
        try:
            self.work.execute(
                "CREATE OR REPLACE TEMP TABLE _csv AS SELECT * FROM read_csv(?, header = true, all_varchar = true, "
                "store_rejects = true, rejects_table = '_csv_rejects', rejects_scan = '_csv_scans', "
                "strict_mode = false, max_line_size = 16777216)",
                [path],
            )
        except Exception as exc:  # noqa: BLE001
            raise IngestError(f"{self.label}: not a readable CSV file: {exc}") from exc
        # DuckDB numbers CSV rows (header = 1); rejected rows are missing from `_csv`, so a kept row's number is
        # 2 + its position + the number of rejected rows that came before it.
        self.work.execute(
            "CREATE OR REPLACE TEMP TABLE _csv_rejected AS "
            "SELECT line, csv_line, error_type, line - 2 - (row_number() OVER (ORDER BY line) - 1) AS kept_before "
            "FROM (SELECT DISTINCT ON (line) line, csv_line, error_type FROM _csv_rejects ORDER BY line)"
        )
        bad = _arrow_table(self.work, 
            "SELECT CAST(line AS BIGINT) AS _line, "
            "CASE WHEN error_type = 'INVALID ENCODING' THEN 'not_utf8' ELSE 'csv_malformed' END AS _reason, "
            "CAST(NULL AS VARCHAR) AS _field, lower(CAST(error_type AS VARCHAR)) AS _detail, csv_line AS _raw, "
            "CAST(NULL AS BLOB) AS _raw_bytes FROM _csv_rejected ORDER BY line"
        )
        self._quarantine(bad)
        self.work.execute(
            "CREATE OR REPLACE TEMP TABLE _csv_numbered AS "
            "SELECT 2 + c._position + (SELECT count(*) FROM _csv_rejected r WHERE r.kept_before <= c._position) AS _line, "
            "c.* EXCLUDE (_position) FROM (SELECT rowid - (SELECT min(rowid) FROM _csv) AS _position, * FROM _csv) AS c"
        )
        self._land_columns("_csv_numbered", [])
        self.work.execute(
            "DROP TABLE _csv; DROP TABLE _csv_numbered; DROP TABLE _csv_rejected; "
            "DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans"
        )


def _arrow_table(con, query: str, params: list | None = None) -> pa.Table:
    """A query's result as an Arrow table (DuckDB 1.x calls it `arrow()`, 2.x `to_arrow_table()`)."""
    relation = con.sql(query, params=params) if params else con.sql(query)
    table = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
    return table.read_all() if hasattr(table, "read_all") else table


def _arrow_reader(con, query: str, params: list | None, batch_rows: int):
    """A query's result as a stream of Arrow record batches."""
    relation = con.sql(query, params=params) if params else con.sql(query)
    if hasattr(relation, "to_arrow_reader"):
        return relation.to_arrow_reader(batch_rows)
    return relation.fetch_arrow_reader(batch_rows)


def _work_connection(memory_limit: str | None):
    import duckdb

    work = duckdb.connect()
    _db.configure(work)
    if memory_limit:
        work.execute(f"SET memory_limit = '{_db._checked_size(memory_limit)}'")
    return work


# --------------------------------------------------------------------------------------------------------------
# A whole drop


def remove_unfinished_drops(con) -> int:
    """Delete every row of drops that did not finish (a failed or interrupted ingest); returns how many drops."""
    from ._contract import ENTITIES

    unfinished = [row[0] for row in con.execute(
        "SELECT drop_seq FROM ingest_drops WHERE finished_at IS NULL").fetchall()]
    if not unfinished:
        return 0
    con.execute("BEGIN TRANSACTION")
    try:
        for table in [e.raw_table for e in ENTITIES] + ["quarantine_rows", "ingest_log"]:
            con.execute(f"DELETE FROM {table} WHERE {'_drop_seq' if table.startswith('raw_') else 'drop_seq'} "
                        "IN (SELECT drop_seq FROM ingest_drops WHERE finished_at IS NULL)")
        con.execute("DELETE FROM ingest_drops WHERE finished_at IS NULL")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(unfinished)


def ingest_drop(
    drop: str | Path,
    db: str | Path | None = None,
    *,
    con=None,
    progress: Callable[[str, int], None] | None = None,
    memory_limit: str | None = "1GB",
) -> IngestReport:
    """Ingest every contract file of a drop in one transaction.

    Parameters
    ----------
    drop : path of the drop folder (or of a single file named after its entity).
    db : path of the DuckDB database (default: `$OBSERVATORY_DB` or `data/observatory.duckdb`); ignored if `con`.
    con : an open DuckDB connection to use instead.
    progress : called as `progress(file_label, rows_read_so_far)` while large files load.
    memory_limit : DuckDB memory limit of each of the two connections the ingest uses (the database's and the
        scratch one that parses and checks); beyond it DuckDB spills to disk. None leaves DuckDB's default (80% of
        the machine's memory).

    Returns
    -------
    IngestReport : per file, rows read, loaded and quarantined (and why); files already ingested are listed as
        skipped. Raises :class:`IngestError`, with the database unchanged, if a file cannot be read at all.
    """
    started = time.perf_counter()
    own = con is None
    if own:
        con = _db.connect(db)
    try:
        _db.configure(con)
        _db.ensure_schema(con)
        remove_unfinished_drops(con)
        files, ignored = discover_drop(drop)
        seen = {row[0] for row in con.execute("SELECT content_sha256 FROM ingest_log").fetchall()}
        reports: list[FileReport] = []
        todo: list[tuple[DropFile, FileReport]] = []
        for f in files:
            digest = _sha256(f.path)
            label = str(f.path)
            report = FileReport(label, f.entity.name, f.format, digest, f.path.stat().st_size)
            if digest in seen:
                report.skipped = True
            else:
                seen.add(digest)
                todo.append((f, report))
            reports.append(report)
        if not todo:
            return IngestReport(str(drop), None, reports, ignored, time.perf_counter() - started)

        drop_seq = con.execute("SELECT COALESCE(max(drop_seq), 0) + 1 FROM ingest_drops").fetchone()[0]
        work = _work_connection(memory_limit)
        if memory_limit:
            con.execute(f"SET memory_limit = '{_db._checked_size(memory_limit)}'")
        # A drop is all or nothing for every reader: its rows land file by file (one transaction per file keeps
        # memory flat: a single transaction holding 10^7 rows held them all in memory until commit), and the clean
        # views read only drops whose `finished_at` is set, which the last transaction does. A failure removes
        # what the drop had landed; a crash leaves an unfinished drop that no view reads and the next ingest removes.
        con.execute("INSERT INTO ingest_drops (drop_seq, drop_path, started_at) VALUES (?, ?, ?)",
                    [drop_seq, str(drop), datetime.now(timezone.utc)])
        try:
            for f, report in todo:
                file_started = datetime.now(timezone.utc)
                con.execute("BEGIN TRANSACTION")
                try:
                    loaded = _FileLoader(con, work, drop_seq, f, report.file, progress).load()
                    report.rows_read, report.rows_loaded = loaded.rows_read, loaded.rows_loaded
                    report.rows_quarantined, report.reasons = loaded.rows_quarantined, loaded.reasons
                    con.execute(
                        "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [drop_seq, report.file, report.entity, report.format, report.sha256, report.bytes,
                         report.rows_read, report.rows_loaded, report.rows_quarantined, file_started,
                         datetime.now(timezone.utc)],
                    )
                    con.execute("COMMIT")
                except IngestError:
                    con.execute("ROLLBACK")
                    raise
                except Exception as exc:
                    con.execute("ROLLBACK")
                    raise IngestError(f"{f.path}: {exc}") from exc
            fresh = [r for _, r in todo]
            con.execute(
                "UPDATE ingest_drops SET finished_at = ?, files = ?, rows_read = ?, rows_loaded = ?, rows_quarantined = ? "
                "WHERE drop_seq = ?",
                [datetime.now(timezone.utc), len(fresh), sum(r.rows_read for r in fresh),
                 sum(r.rows_loaded for r in fresh), sum(r.rows_quarantined for r in fresh), drop_seq],
            )
            _db.refresh_clean_tables(con)
        except BaseException:
            remove_unfinished_drops(con)
            raise
        finally:
            work.close()
        return IngestReport(str(drop), drop_seq, reports, ignored, time.perf_counter() - started)
    finally:
        if own:
            con.close()
