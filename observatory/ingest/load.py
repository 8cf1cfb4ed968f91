"""Ingest a drop of interaction logs into the observatory's DuckDB database.

A drop is a folder of files: per-entity files named after the contract's entities (`agents*`, `posts*`,
`comments/part-3.parquet`...) in JSONL, JSON, Parquet or CSV, and the Moltbook API's responses as scrapers save them
(`data/posts/<id>.json`, one pretty-printed response per file; NDJSON archives of envelopes, plain, gzipped or
zstd-compressed). Each JSON document is a record of its file's entity or, when it has no `id` and holds API keys
(`post`, `comments`, `agent`...), a response whose records are taken out by :mod:`observatory.ingest.responses`. Every
record is checked against the contract (:mod:`observatory.contract`); good records land in the typed raw tables
(`raw_agents`, `raw_posts`, ...), bad ones in `quarantine_rows` with the file, line, place in the response, raw text
and reason. The clean tables that everything downstream reads (`agents`, `posts`, `comments`, ...) are defined by
the SQL under `sql/staging/`.

Guarantees:

* All or nothing per drop: a file that cannot be read at all fails the drop with an :class:`IngestError` naming
  the file, and the database is left as it was. Rows land one transaction per file, or per group of small files
  (memory stays flat whatever the drop's size); the clean views read only finished drops, and a failed drop's rows
  are removed.
* Idempotent: every file is logged in `ingest_log` with its SHA-256; a file whose content was ingested before is
  skipped, so ingesting the same drop twice changes nothing.
* Nothing is dropped silently: every document read is either loaded or quarantined, and the report says how many.

Parquet and CSV are read with DuckDB's own readers. JSON text is split into lines in large blocks with numpy and
parsed by DuckDB's JSON functions: that is the one way to keep exact line numbers and to quarantine lines that are
not UTF-8, which `read_json` can neither report nor survive. Small files are read together, many to a block, so
that a scrape of 10^5 response files costs a few queries per block rather than per file.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from observatory import db as _db
from observatory.contract import ENTITIES, EPOCH_MILLISECONDS_FROM, Entity, Field, timestamp_window
from observatory.ingest import responses as _responses

__all__ = ["IngestError", "IngestReport", "FileReport", "discover_drop", "ingest_drop"]

# Bytes of JSON text handled per step: bounds memory whatever the file size.
BLOCK_BYTES = 64 << 20
# Files at most this large are read whole and grouped, many to a block and one transaction per group.
SMALL_FILE_BYTES = 4 << 20
GROUP_FILES = 5_000

_FORMAT_SUFFIXES = (
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".json", "json"),
    (".parquet", "parquet"),
    (".csv", "csv"),
)
_COMPRESSION_SUFFIXES = ((".gz", "gzip"), (".zst", "zstd"), (".zstd", "zstd"))
# The formats whose compressed variants are read (Parquet compresses inside the file).
_COMPRESSIBLE = ("jsonl", "json", "csv")
# How a file's unknown entity is recognised: a JSON document of it is an API response.
_SNIFF_BYTES = SMALL_FILE_BYTES
# Stands for the entity of a file that is only API responses (it holds records of several entities).
RESPONSES = "responses"


class IngestError(RuntimeError):
    """A drop (or one of its files) could not be ingested; the database was left as it was."""


@dataclass
class DropFile:
    path: Path
    relative: str
    # The entity named by the file or its folder; None for a file recognised by its content as API responses.
    entity: Entity | None
    format: str
    compression: str | None = None

    @property
    def entity_name(self) -> str:
        return self.entity.name if self.entity is not None else RESPONSES


@dataclass
class FileReport:
    """What the ingest did with one file: its rows read, loaded and quarantined (``reasons``: quarantined rows by
    reason), and the records landed per entity (an API response holds several)."""

    file: str  # relative to the drop
    entity: str  # the contract entity, or "responses" for raw API responses
    format: str  # jsonl, json, csv or parquet
    sha256: str  # of the file's bytes, as read
    bytes: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    skipped: bool = False  # the same content was ingested before
    reasons: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)


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

    def _total(self, attribute: str) -> collections.Counter:
        """A per-file count summed over the files (`update` keeps zero counts, unlike `+`)."""
        total: collections.Counter = collections.Counter()
        for f in self.files:
            total.update(getattr(f, attribute))
        return total

    @property
    def reasons(self) -> dict[str, int]:
        return dict(sorted(self._total("reasons").items()))

    @property
    def records(self) -> dict[str, int]:
        """Records landed per entity, over every file (embedded observations included)."""
        total = self._total("records")
        return {e.name: total[e.name] for e in ENTITIES if e.name in total}

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

    @property
    def folder_summary(self) -> pd.DataFrame:
        """`summary` with the files of each folder, entity and format on one row: a scrape has 10^4-10^5 files."""
        frame = self.summary
        frame.insert(0, "folder", [str(Path(f).parent) for f in frame["file"]])
        return (frame.groupby(["folder", "entity", "format", "status"], sort=True)
                .agg(files=("file", "size"), rows_read=("rows_read", "sum"), loaded=("loaded", "sum"),
                     quarantined=("quarantined", "sum"))
                .reset_index())

    def to_dict(self) -> dict:
        return {
            "drop": self.drop,
            "drop_seq": self.drop_seq,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "records": self.records,
            "quarantine_reasons": self.reasons,
            "files": len(self.files),
            "files_skipped": sum(f.skipped for f in self.files),
            "ignored": list(self.ignored),
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------------------------------
# Discovering the files of a drop


def _format_of(name: str) -> tuple[str | None, str | None]:
    """(format, compression) of a file by its name: `posts-20260201.ndjson.zst` is ("jsonl", "zstd")."""
    lower = name.lower()
    compression = None
    for suffix, codec in _COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            lower, compression = lower[: -len(suffix)], codec
            break
    for suffix, fmt in _FORMAT_SUFFIXES:
        if lower.endswith(suffix):
            if compression and fmt not in _COMPRESSIBLE:
                return None, None
            return fmt, compression
    return None, None


def _entity_named(name: str) -> Entity | None:
    lower = name.lower()
    for entity in ENTITIES:
        if lower.startswith(entity.name):
            return entity
    return None


def _entity_of(relative: str, root_name: str = "") -> Entity | None:
    """The entity a file's name says, else its nearest folder's (inside the drop), else the drop folder's own:
    `comments-2026-02-01.jsonl`, `comments/date=2026-02-01/part-0.parquet` and `data/posts/123.json` all name one."""
    parts = relative.split("/")
    for name in [parts[-1], *reversed(parts[:-1]), root_name]:
        entity = _entity_named(name)
        if entity is not None:
            return entity
    return None


def _open_binary(path: Path, compression: str | None):
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "zstd":
        # pyarrow ships the zstd codec: no extra dependency for the archivers' .ndjson.zst files.
        return pa.input_stream(str(path), compression="zstd")
    return open(path, "rb")


def _is_envelope(document) -> bool:
    return isinstance(document, dict) and not any(k in document for k in _responses.NOT_IN_ENVELOPES) and any(
        k in document for k in _responses.ENVELOPE_KEYS)


def _looks_like_responses(path: Path, fmt: str, compression: str | None) -> bool:
    """Whether a file that names no entity holds API responses: its first JSON document is an envelope."""
    try:
        with _open_binary(path, compression) as fh:
            head = fh.read(_SNIFF_BYTES + 1)
    except Exception:  # noqa: BLE001 - an unreadable file of no entity is simply ignored
        return False
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return False
    candidates = [text] if len(head) <= _SNIFF_BYTES else []
    candidates.append(text.split(b"\n", 1)[0])
    for candidate in candidates:
        try:
            return _is_envelope(json.loads(candidate))
        except ValueError:
            continue
    return False


def discover_drop(drop: str | Path) -> tuple[list[DropFile], list[str]]:
    """The files of a drop that the contract names, in ingest order, and the files it ignores.

    A file belongs to an entity when its name, or the name of the nearest folder above it inside the drop (or the
    drop folder itself), starts with the entity's name: `comments.jsonl`, `comments-2026-02-01.jsonl.gz`,
    `comments/date=2026-02-01/part-0.parquet` and `data/posts/<id>.json` all name one. A JSON file that names no
    entity is read when its first document is an API response. Hidden files (`.` or `_` prefixed, such as
    `_SUCCESS`) are skipped; anything else is listed as ignored.
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
    root_name = base.name if root.is_dir() else ""
    inside = base.resolve()
    files, ignored = [], []
    for path in candidates:
        relative = path.relative_to(base).as_posix()
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        if not path.resolve().is_relative_to(inside):
            ignored.append(f"{relative} (a link out of the drop: not read)")
            continue
        fmt, compression = _format_of(path.name)
        entity = _entity_of(relative, root_name) if fmt else None
        if fmt is None or (entity is None and (fmt not in ("json", "jsonl")
                                               or not _looks_like_responses(path, fmt, compression))):
            ignored.append(relative)
            continue
        files.append(DropFile(path, relative, entity, fmt, compression))
    order = {e.name: i for i, e in enumerate(ENTITIES)}
    files.sort(key=lambda f: (order.get(f.entity_name, len(order)), f.relative))
    return files, ignored


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Reading JSONL as blocks of numbered lines


def iter_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES, compression: str | None = "infer"
                     ) -> Iterator[pa.Table]:
    """Yield the lines of a (possibly gzip- or zstd-compressed) text file as Arrow tables
    `(_line int64, _bytes binary)`.

    Lines keep their bytes exactly (undecoded, so invalid UTF-8 survives to be quarantined) without the line
    terminator; blank lines are dropped. Line numbers are 1-based and count blank lines.
    """
    if compression == "infer":
        compression = _format_of(path.name)[1]
    lines_before = 0
    carry = b""
    first = True
    with _open_binary(path, compression) as fh:
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


def _epoch(seconds_or_ms: str) -> str:
    """SQL: epoch seconds, or milliseconds from EPOCH_MILLISECONDS_FROM on, as a timestamp (NULL if impossible)."""
    return (f"try(to_timestamp(CASE WHEN abs({seconds_or_ms}) >= {EPOCH_MILLISECONDS_FROM} "
            f"THEN {seconds_or_ms} / 1000.0 ELSE {seconds_or_ms} END))")


def _trimmed(value: str) -> str:
    """SQL: `trim(value)`, without its cost where it would change nothing. DuckDB's `trim` strips Unicode space
    separators and decodes the whole string to find its end; a string whose every character is one byte (ASCII:
    `strlen` counts bytes, `length` characters) can only start or end with the space among them."""
    return (f"CASE WHEN strlen({value}) = length({value}) AND NOT starts_with({value}, ' ') "
            f"AND NOT ends_with({value}, ' ') THEN {value} ELSE trim({value}) END")


def _convert(kind: str, category: str, value: str) -> str:
    """SQL converting `value` (of a source category) to the contract `kind`, or NULL where it cannot be.

    Whether a string is blank is `ltrim(s) <> ''`, the same as `trim(s) <> ''` (both strip the same Unicode space
    separators, and a string with anything else in it keeps it either way) at a fraction of the cost: DuckDB's
    right-hand trim decodes the string from its start."""
    if category == "string":
        return {
            "id": f"NULLIF({_trimmed(value)}, '')",
            # An empty or blank string is absent (the archive writes a deleted author's name as "").
            "text": f"CASE WHEN ltrim({value}) <> '' THEN {value} END",
            "int": f"TRY_CAST({_trimmed(value)} AS BIGINT)",
            "float": f"TRY_CAST({_trimmed(value)} AS DOUBLE)",
            "bool": f"TRY_CAST({_trimmed(value)} AS BOOLEAN)",
            # ISO-8601 (naive means UTC: the session time zone is UTC), else epoch seconds written as a string.
            "ts": f"COALESCE(TRY_CAST({value} AS TIMESTAMPTZ), {_epoch(f'TRY_CAST({value} AS DOUBLE)')})",
        }[kind]
    if category == "integer":
        return {
            "id": f"CAST({value} AS VARCHAR)",
            "text": f"CAST({value} AS VARCHAR)",
            "int": f"TRY_CAST({value} AS BIGINT)",
            "float": f"CAST({value} AS DOUBLE)",
            "bool": f"CASE WHEN {value} = 1 THEN true WHEN {value} = 0 THEN false END",
            "ts": _epoch(f"CAST({value} AS DOUBLE)"),
        }[kind]
    if category == "double":
        return {
            "id": f"CASE WHEN {value} = trunc({value}) THEN CAST(TRY_CAST({value} AS HUGEINT) AS VARCHAR) END",
            "text": f"CAST({value} AS VARCHAR)",
            "int": f"CASE WHEN {value} = trunc({value}) THEN TRY_CAST({value} AS BIGINT) END",
            "float": f"CAST({value} AS DOUBLE)",
            "bool": "NULL",
            "ts": _epoch(value),
        }[kind]
    if category == "boolean":
        return {"bool": value, "text": f"CAST({value} AS VARCHAR)"}.get(kind, "NULL")
    if category == "timestamp":
        return {"ts": f"CAST({value} AS TIMESTAMPTZ)", "text": f"CAST({value} AS VARCHAR)"}.get(kind, "NULL")
    return "NULL"


def _typed_null(f: Field) -> str:
    return f"CAST(NULL AS {f.duckdb_type})"


def _json_source(kind: str, t: str, s: str, declared: str) -> tuple[str, str, str, str]:
    """(value, present, text, declared) SQL for a JSON value given its JSON type `t` and its text `s` (strings
    unquoted); `declared` says the record names the field at all (its key is there, null or not)."""
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
    present = f"({t} IS NOT NULL AND {t} <> 'NULL' AND ({t} <> 'VARCHAR' OR ltrim({s}) <> ''))"
    text = f"CASE WHEN {t} = 'VARCHAR' THEN to_json({s}) ELSE {s} END"
    return value, present, f"CAST({text} AS VARCHAR)", declared


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


def _column_source(kind: str, columns: dict[str, tuple[str, str]], path: tuple[str, ...]):
    """(value, present, text, declared) SQL for a path into a columnar source, or None if the source lacks it.
    `columns` maps each input column's name to (the internal name it is read under, its DuckDB type): input names
    are data and never become names in our SQL. A column that exists declares its field in every row."""
    head = path[0]
    if len(path) == 1 or f"{head}.{path[1]}" in columns:
        name = head if len(path) == 1 else f"{head}.{path[1]}"
        if name not in columns:
            return None
        internal, typ = columns[name]
        expr = f"_src.{_db.quote(internal)}"
    else:
        internal, typ = columns.get(head, (None, ""))
        if not typ.upper().startswith("STRUCT"):
            return None
        child = _struct_child_type(typ, path[1])
        if child is None:
            return None
        # The child's name is the contract's (an identifier of ours), never the data's.
        expr = f"struct_extract(_src.{_db.quote(internal)}, '{path[1]}')"
        typ = child
    category = _category(typ)
    present = f"({expr} IS NOT NULL" + (f" AND ltrim({expr}) <> '')" if category == "string" else ")")
    return _convert(kind, category, expr), present, f"CAST({expr} AS VARCHAR)", "true"


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


def _typed_select(entity: Entity, sources: dict[str, list[tuple[str, str, str, str]]], from_sql: str,
                  raw_sql: str, partial_sql: str = "false", carry: tuple[str, ...] = ()) -> str:
    """One query over a source relation (aliased `_src`, with a `_line` column) that yields `_line`, every contract
    field typed, `_problem` (index of the first failed check, NULL for a good row), and, for bad rows only,
    `_reason`, `_field`, `_detail` (the offending value) and `_raw` (the record's text). `partial_sql` says which
    rows are partial observations, of which only the fields marked `required_of_partial` are required.

    Three levels: values and presence flags; the first failed check; names and texts of the failure. Source columns
    are carried through (`_src.*`) so that only bad rows pay for rendering their detail and raw text.
    """
    level1 = ["_src.*", f"({partial_sql}) AS _is_partial"]
    texts: dict[str, str] = {}
    for f in entity.fields:
        candidates = sources.get(f.name, [])
        if not candidates:
            level1 += [f'{_typed_null(f)} AS "f__{f.name}"', f'false AS "p__{f.name}"', f'false AS "d__{f.name}"']
            texts[f.name] = "NULL"
            continue
        declared = " OR ".join(dict.fromkeys(c[3] for c in candidates))
        # A candidate of value NULL only declares (see `_json_paths`).
        candidates = [c for c in candidates if c[0] != "NULL"]
        if not candidates:
            level1 += [f'{_typed_null(f)} AS "f__{f.name}"', f'false AS "p__{f.name}"', f'({declared}) AS "d__{f.name}"']
            texts[f.name] = "NULL"
            continue
        values = ", ".join(c[0] for c in candidates)
        value = values if len(candidates) == 1 else f"COALESCE({values})"
        present = " OR ".join(c[1] for c in candidates)
        level1 += [f'CAST({value} AS {f.duckdb_type}) AS "f__{f.name}"', f'({present}) AS "p__{f.name}"',
                   f'({declared}) AS "d__{f.name}"']
        texts[f.name] = "left(COALESCE(" + ", ".join(f"CASE WHEN {c[1]} THEN {c[2]} END" for c in candidates) + ", ''), 200)"

    checks: list[tuple[str, str, str, str]] = []  # (condition, reason, field, detail)
    for f in entity.fields:
        value, present = f'"f__{f.name}"', f'"p__{f.name}"'
        if f.required:
            condition = f"NOT {present}" if f.required_of_partial else f"NOT {present} AND NOT _is_partial"
            checks.append((condition, "missing_field", f.name, "NULL"))
        bad = "bad_timestamp" if f.kind == "ts" else "wrong_type"
        checks.append((f"{present} AND {value} IS NULL", bad, f.name, texts[f.name]))
        if f.kind == "ts":
            low, high = timestamp_window()
            checks.append((f"({value} < TIMESTAMPTZ '{low}' OR {value} >= TIMESTAMPTZ '{high}')", "bad_timestamp",
                           f.name, texts[f.name]))
    for group in entity.required_any:
        # Missing only when the record names none of them: a given null (a deleted author) lands as null.
        cond = " AND ".join(f'NOT "d__{g}"' for g in group)
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
        f"SELECT _src._line AS _line, {''.join(f'_src.{c} AS {c}, ' for c in carry)}{columns}, "
        f"_src._problem AS _problem, "
        f"{reasons}[_src._problem] AS _reason, {fields}[_src._problem] AS _field, {detail} AS _detail, "
        f"CASE WHEN _src._problem IS NOT NULL THEN {raw_sql} END AS _raw\n"
        f"FROM (SELECT *, {problem} AS _problem FROM (SELECT {', '.join(level1)} FROM {from_sql} AS _src) AS _src) AS _src"
    )


# --------------------------------------------------------------------------------------------------------------
# Loading files


# Rows moved per batch from the working connection into the database.
BATCH_ROWS = 200_000

# The row number of a columnar source, beside the input's own columns (named so that no input column is).
_ROW = "__observatory_row"

_QUARANTINE_COLUMNS = ("_fid", "_line", "_entity", "_reason", "_field", "_detail", "_raw", "_raw_bytes", "_path")


class _Loader:
    """Loads one file, or a group of small JSON files together. Parsing, typing and checking happen in `work`, an
    in-memory DuckDB connection outside the drop's transaction (so its scratch tables are freed as it goes); only
    finished rows cross, in Arrow batches, into `con`, whose transaction holds nothing but the inserts. Every row
    carries `_fid`, the index of its file in the group, so that it lands with its own file's name."""

    def __init__(self, con, work, drop_seq: int, files: list[DropFile], labels: list[str], progress: Callable | None):
        self.con, self.work, self.drop_seq, self.files, self.progress = con, work, drop_seq, files, progress
        self.labels = pa.array(labels, pa.string())
        self.reports = [FileReport(label, f.entity_name, f.format, "", 0) for f, label in zip(files, labels)]
        hints = pa.array([f.entity.name if f.entity is not None else None for f in files], pa.string())
        self.work.register("_files_arrow", pa.table({"_fid": pa.array(range(len(files)), pa.int32()), "_hint": hints}))
        self.work.execute("CREATE OR REPLACE TEMP TABLE _files AS SELECT * FROM _files_arrow")
        self.work.unregister("_files_arrow")

    # -- Moving rows into the database -------------------------------------------------------------------------
    def _insert(self, sql: str, table: pa.Table, params: list) -> None:
        self.con.register("_batch", table)
        try:
            self.con.execute(sql, params).fetchall()
        finally:
            self.con.unregister("_batch")

    def _count(self, fids: pa.Array, attribute: str, entity: str | None = None) -> None:
        for item in pc.value_counts(fids).to_pylist():
            report = self.reports[item["values"]]
            setattr(report, attribute, getattr(report, attribute) + item["counts"])
            report.rows_read += item["counts"]
            if entity is not None:
                report.records[entity] = report.records.get(entity, 0) + item["counts"]

    def _quarantine(self, table: pa.Table) -> None:
        """Move rows `(_fid, _line, _entity, _reason, _field, _detail, _raw, _raw_bytes, _path)` into quarantine."""
        if not table.num_rows:
            return
        table = table.append_column("_file", self.labels.take(table["_fid"]))
        self._insert(
            "INSERT INTO quarantine_rows (drop_seq, file, line, entity, reason, field, detail, raw, raw_bytes, path) "
            "SELECT ?, _file, _line, _entity, _reason, _field, _detail, _raw, _raw_bytes, _path FROM _batch",
            table, [self.drop_seq],
        )
        self._count(table["_fid"], "rows_quarantined")
        for item in table.group_by(["_fid", "_reason"]).aggregate([([], "count_all")]).to_pylist():
            reasons = self.reports[item["_fid"]].reasons
            reasons[item["_reason"]] = reasons.get(item["_reason"], 0) + item["count_all"]

    def _land(self, entity: Entity, query: str, params: list) -> None:
        """Stream a typed query (see `_typed_select`, carrying `_fid, _path, _partial`) from `work`: good rows to
        the raw table, bad ones to quarantine."""
        columns = ", ".join(_db.quote(f.name) for f in entity.fields)
        insert = (
            f"INSERT INTO {entity.raw_table} ({columns}, _drop_seq, _file, _line, _observed_at, _path, _partial) "
            f"SELECT {columns}, ?, _file, _line, COALESCE(fetched_at, dump_date), _path, _partial FROM _batch"
        )
        for batch in _arrow_reader(self.work, query, params, BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            bad = pc.is_valid(table["_problem"])
            n_bad = pc.sum(bad).as_py() or 0
            # Most batches hold no bad row: those go in whole, without a filtered copy.
            good = table if n_bad == 0 else table.filter(pc.invert(bad))
            if good.num_rows:
                self._insert(insert, good.append_column("_file", self.labels.take(good["_fid"])), [self.drop_seq])
                self._count(good["_fid"], "rows_loaded", entity.name)
            if n_bad:
                failed = table.filter(bad)
                failed = failed.select(["_fid", "_line", "_reason", "_field", "_detail", "_raw", "_path"])
                failed = failed.append_column("_entity", pa.repeat(pa.scalar(entity.name), failed.num_rows))
                failed = failed.append_column("_raw_bytes", pa.nulls(failed.num_rows, pa.binary()))
                self._quarantine(failed.select(list(_QUARANTINE_COLUMNS)))
            if self.progress:
                self.progress(self.reports[0].file if len(self.reports) == 1 else f"{len(self.reports)} files",
                              sum(r.rows_read for r in self.reports))

    def load(self) -> list[FileReport]:
        formats = {f.format for f in self.files}
        if len(self.files) == 1 and formats <= {"parquet", "csv"}:
            if self.files[0].path.stat().st_size == 0:
                return self.reports  # an empty file holds no rows (in any format, compressed or not)
            getattr(self, f"_load_{self.files[0].format}")()
        else:
            for block in _document_blocks(self.files):
                self._land_documents(block)
        for report in self.reports:
            report.reasons = dict(sorted(report.reasons.items()))
        return self.reports

    # -- JSON documents: records of a file's entity, or API responses holding records ---------------------------
    def _land_documents(self, block: pa.Table) -> None:
        """Land a block of JSON documents `(_fid, _line, _bytes)`: each line of a JSONL file, element of a JSON
        array, or whole pretty-printed document."""
        n_own = len(_responses.NOT_IN_ENVELOPES)
        keys = "['$', " + ", ".join(f"'$.{k}'" for k in _responses.NOT_IN_ENVELOPES + _responses.ENVELOPE_KEYS) + "]"
        self.work.register("_block", block)
        try:
            # One validation and one pass for the root's type and the keys that tell a record from a response.
            self.work.execute(
                "CREATE OR REPLACE TEMP TABLE _docs AS SELECT _fid, _line, _text, _hint, "
                "CASE WHEN _text IS NULL THEN 'not_utf8' WHEN _k IS NULL OR _k[1] <> 'OBJECT' THEN 'not_json' "
                "END AS _reason, "
                f"(list_aggregate(_k[2:{n_own + 1}], 'count') = 0 AND list_aggregate(_k[{n_own + 2}:], 'count') > 0) "
                "AS _envelope "
                # json_type fails exactly where json_valid is false: caught by try, that is the validation, in the
                # same parse as the types.
                f"FROM (SELECT *, try(json_type(_text, {keys})) AS _k FROM ("
                "SELECT d._fid, d._line, d._text, f._hint "
                "FROM (SELECT _fid, _line, try(decode(_bytes)) AS _text FROM _block) AS d JOIN _files AS f USING (_fid)))"
            )
            bad = _arrow_table(self.work,
                "SELECT d._fid, d._line, COALESCE(d._hint, ?) AS _entity, d._reason, CAST(NULL AS VARCHAR) AS _field, "
                "CASE WHEN d._reason = 'not_utf8' THEN 'not valid UTF-8' ELSE 'not a JSON object' END AS _detail, "
                "COALESCE(d._text, CAST(b._bytes AS VARCHAR)) AS _raw, "
                "CASE WHEN d._text IS NULL THEN b._bytes END AS _raw_bytes, CAST(NULL AS VARCHAR) AS _path "
                "FROM _docs AS d JOIN _block AS b ON b._fid = d._fid AND b._line = d._line "
                "WHERE d._reason IS NOT NULL ORDER BY d._fid, d._line", [RESPONSES])
        finally:
            self.work.unregister("_block")
        self._quarantine(_with_parse_errors(bad))
        self._quarantine(_arrow_table(self.work,
            "SELECT _fid, _line, ? AS _entity, 'unrecognised' AS _reason, CAST(NULL AS VARCHAR) AS _field, "
            "'neither a record of a named entity nor an API response' AS _detail, _text AS _raw, "
            "CAST(NULL AS BLOB) AS _raw_bytes, CAST(NULL AS VARCHAR) AS _path "
            "FROM _docs WHERE _reason IS NULL AND _hint IS NULL AND NOT _envelope ORDER BY _fid, _line", [RESPONSES]))
        # Records: the documents that are records themselves (read in place), and those taken out of responses.
        self.work.execute(
            "CREATE OR REPLACE TEMP TABLE _taken (_entity VARCHAR, _fid INTEGER, _line BIGINT, _path VARCHAR, "
            "_partial BOOLEAN, _embedded BOOLEAN, _text VARCHAR, _defaults VARCHAR)")
        if self.work.execute("SELECT count(*) FROM _docs WHERE _reason IS NULL AND _envelope").fetchall()[0][0]:
            self.work.execute(
                "CREATE OR REPLACE TEMP TABLE _envelopes AS SELECT _fid, _line, "
                f"{_responses.envelope_parts_sql('_text')} AS _parts FROM _docs WHERE _reason IS NULL AND _envelope")
            self.work.execute(
                "INSERT INTO _taken SELECT _entity, _fid, _line, _path, _partial, _embedded, CAST(_text AS VARCHAR), "
                f"CAST(_defaults AS VARCHAR) FROM ({_responses.ENVELOPE_RECORDS_SQL})"
            )
            self.work.execute("DROP TABLE _envelopes")
        self.work.execute("CREATE OR REPLACE TEMP TABLE _emb AS SELECT * FROM _taken LIMIT 0")
        present = {row[0] for row in self.work.execute(
            "SELECT DISTINCT _hint FROM _docs WHERE _reason IS NULL AND _hint IS NOT NULL AND NOT _envelope "
            "UNION SELECT DISTINCT _entity FROM _taken").fetchall()}
        # Posts and comments first: the authors and submolts embedded in them are observations of agents and
        # submolts, landed with those.
        for entity in sorted(ENTITIES, key=lambda e: e.name not in _responses.EMBEDS):
            if entity.name in present or (entity.name in ("agents", "submolts") and self._count_of("_emb", entity)):
                self._land_records(entity)
        self.work.execute("DROP TABLE _docs; DROP TABLE _taken; DROP TABLE _emb")

    def _count_of(self, table: str, entity: Entity, where: str = "true") -> int:
        return self.work.execute(f"SELECT count(*) FROM {table} WHERE _entity = ? AND {where}",
                                 [entity.name]).fetchall()[0][0]

    def _land_records(self, entity: Entity) -> None:
        # Default values come only with records taken out of responses: without any, the defaults are not read.
        defaults = bool(self._count_of("_taken", entity, "_defaults IS NOT NULL") or self._count_of("_emb", entity))
        paths, _, fields = _json_paths(entity, defaults=defaults)
        records = (
            "(SELECT _fid, _line, CAST(NULL AS VARCHAR) AS _path, false AS _partial, false AS _embedded, _text, "
            "CAST(NULL AS VARCHAR) AS _defaults FROM _docs WHERE _reason IS NULL AND _hint = $entity AND NOT _envelope "
            "UNION ALL SELECT * EXCLUDE (_entity) FROM _taken WHERE _entity = $entity "
            "UNION ALL SELECT * EXCLUDE (_entity) FROM _emb WHERE _entity = $entity)"
        )
        params = {"entity": entity.name}
        given = self._given(records, params, paths, fields, defaults)
        read = [i for i in range(1, len(paths) + 1) if f"_t{i}" in given]
        read_defaults = [d for d in range(1, len(fields) + 1) if f"_dt{d}" in given]
        keys = {paths[i - 1].split(".")[1] for i in read}
        _, sources, _ = _json_paths(entity, defaults=defaults, given=given)
        for key, other, other_key in _responses.EMBEDS.get(entity.name, ()):
            if key in keys:
                self._take_embedded(entity, records, params, key, other, other_key)
        # The values are read in one streaming pass (the paths' types and texts as lists, spread into a column per
        # path, which the checks read several times): nothing is materialised between the parse and the checks.
        spread = [f"_t[{j}] AS _t{i}, _s[{j}] AS _s{i}" for j, i in enumerate(read, start=1)]
        spread += [f"_dt[{j}] AS _dt{d}, _ds[{j}] AS _ds{d}" for j, d in enumerate(read_defaults, start=1)]
        lists = []
        if read:
            path_list = "[" + ", ".join(f"'{paths[i - 1]}'" for i in read) + "]"
            lists.append(f"json_type(_text, {path_list}) AS _t, json_extract_string(_text, {path_list}) AS _s")
        if read_defaults:
            field_list = "[" + ", ".join(f"'$.{fields[d - 1]}'" for d in read_defaults) + "]"
            lists.append(f"json_type(_defaults, {field_list}) AS _dt, json_extract_string(_defaults, {field_list}) AS _ds")
        source = (f"(SELECT _fid, _line, _path, _partial, _embedded, _text, _defaults{''.join(', ' + s for s in spread)} "
                  f"FROM (SELECT *{''.join(', ' + c for c in lists)} FROM {records}))")
        typed = _typed_select(entity, sources, source, "_src._text", partial_sql="_src._partial",
                              carry=("_fid", "_path", "_partial", "_embedded"))
        if entity.name not in {other for embeds in _responses.EMBEDS.values() for _, other, _ in embeds}:
            self._land(entity, f"SELECT * EXCLUDE (_embedded) FROM ({typed}) AS _typed", params)
            return
        # Identical embedded observations (the same author object on every comment it wrote) are one observation:
        # the one observed last is kept, at its first place.
        same = ", ".join(_db.quote(f.name) for f in entity.fields if f.name not in ("fetched_at", "dump_date"))
        query = (
            f"SELECT * EXCLUDE (_embedded) FROM ({typed}) AS _typed QUALIFY NOT _embedded OR _problem IS NOT NULL OR "
            f"row_number() OVER (PARTITION BY _embedded, _problem IS NULL, {same} "
            "ORDER BY COALESCE(fetched_at, dump_date) DESC NULLS LAST, _fid, _line, _path) = 1"
        )
        self._land(entity, query, params)

    def _given(self, records: str, params: dict, paths: list[str], fields: list[str], defaults: bool) -> set[str]:
        """The type columns (`_t3`, `_dt2`, see `_json_paths`) that the checks read: the paths that some record of
        the block can give, those under a key that some record has (its own, or its response's defaults). Most
        sources are other shapes' names for a field (camelCase, the archive's columns, a response's defaults),
        absent from every record of a block."""
        heads = sorted({p.split(".")[1] for p in paths} | set(fields))
        keys = {row[0] for row in self.work.execute(
            f"SELECT DISTINCT _key FROM (SELECT unnest(json_keys(_text)) AS _key FROM {records}) "
            "WHERE _key IN (SELECT unnest($heads))", params | {"heads": heads}).fetchall()}
        default_keys = {row[0] for row in self.work.execute(
            f"SELECT DISTINCT _key FROM (SELECT unnest(json_keys(_defaults)) AS _key FROM {records} "
            "WHERE _defaults IS NOT NULL) WHERE _key IN (SELECT unnest($heads))",
            params | {"heads": heads}).fetchall()} if defaults else set()
        return ({f"_t{i}" for i, p in enumerate(paths, start=1) if p.split(".")[1] in keys}
                | {f"_dt{d}" for d, name in enumerate(fields, start=1) if name in default_keys})

    def _take_embedded(self, entity: Entity, records: str, params: dict, key: str, other: str, other_key: str) -> None:
        """Add to `_emb` the objects embedded under `key` in the records of `entity` that carry `other_key`: partial
        observations of `other` records, observed when their record is (its own time, else its response's)."""
        observed = [f"$.{'.'.join(p)}" for name in ("fetched_at", "dump_date") for p in entity.field(name).sources]
        # One parse: the object, its key (an object's `$.id` is the record's `$.author.id`) and the record's times.
        path_list = "[" + ", ".join(f"'{p}'" for p in [f"$.{key}", f"$.{key}.{other_key}", *observed]) + "]"
        observed_json = ", ".join(f"CASE WHEN _t[{i}] NOT IN ('NULL', 'OBJECT', 'ARRAY') THEN to_json(_s[{i}]) END"
                                  for i in range(3, len(observed) + 3))
        self.work.execute(
            f"INSERT INTO _emb SELECT $other, _fid, _line, COALESCE(_path, '$') || $place, true, true, _s[1], "
            f"'{{\"fetched_at\":' || COALESCE({observed_json}, json_extract(_defaults, '$.fetched_at'), 'null') || '}}' "
            f"FROM (SELECT *, json_type(_text, {path_list}) AS _t, json_extract_string(_text, {path_list}) AS _s "
            f"FROM {records}) WHERE _t[1] = 'OBJECT' AND _t[2] IS NOT NULL",
            params | {"other": other, "place": f".{key}"},
        )

    # -- Columnar sources (Parquet, CSV) ----------------------------------------------------------------------
    def _land_columns(self, relation: str, params: list, names: dict[str, str] | None = None) -> None:
        """Land the rows of a columnar relation: the input's columns, then its row number as `_ROW`. `names` gives
        the input's own name of a column the relation had to rename (one DuckDB reserves, such as `rowid`)."""
        entity = self.files[0].entity
        described = self.work.execute(f"DESCRIBE SELECT * FROM {relation}", params).fetchall()[:-1]
        names = names or {}
        # Input columns are read under positional names (__c0, __c1, ...), so that no input name (`_line`,
        # `f__id`, `_problem`, a quote) can collide with ours or reach the SQL as anything but a quoted identifier.
        actual = {names.get(row[0], row[0]): row[0] for row in described}
        columns = {names.get(row[0], row[0]): (f"__c{i}", row[1]) for i, row in enumerate(described)}
        sources: dict[str, list[tuple[str, str, str, str]]] = {}
        for f in entity.fields:
            for path in f.sources:
                found = _column_source(f.kind, columns, path)
                if found is not None:
                    sources.setdefault(f.name, []).append(found)
        # Bad rows keep their raw text: the source row as JSON, under the input's own column names.
        row = "json_object(" + ", ".join(f"{_db.literal(c)}, _src.{_db.quote(i)}" for c, (i, _) in columns.items()) + ")"
        renamed = ", ".join(f"{_db.quote(actual[c])} AS {_db.quote(i)}" for c, (i, _) in columns.items())
        source = (f"(SELECT 0 AS _fid, CAST(NULL AS VARCHAR) AS _path, false AS _partial, {_ROW} AS _line, "
                  f"{renamed} FROM {relation})")
        typed = _typed_select(entity, sources, source, f"CAST({row} AS VARCHAR)", carry=("_fid", "_path", "_partial"))
        self._land(entity, typed, params)

    def _load_parquet(self) -> None:
        path = self.files[0].path
        try:
            self.work.execute("SELECT count(*) FROM parquet_metadata(?)", [str(path)]).fetchall()
        except Exception as exc:  # noqa: BLE001
            raise IngestError(f"{self.reports[0].file}: not a readable Parquet file: {exc}") from exc
        names = [r[0] for r in self.work.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]
        aliases = _aliases(names)
        columns = ", ".join(_db.quote(c) + (f" AS {_db.quote(a)}" if (a := _alias_of(aliases, c)) else "")
                            for c in names)
        if any(c.lower() == "file_row_number" for c in names):
            # The option's column would clash with the input's own: number the rows in scan order instead (the
            # scan keeps file order).
            relation = f"(SELECT {columns}, row_number() OVER () AS {_ROW} FROM read_parquet(?))"
        else:
            relation = (f"(SELECT {columns}, file_row_number + 1 AS {_ROW} FROM "
                        "read_parquet(?, file_row_number = true))")
        self._land_columns(relation, [str(path)], aliases)

    def _load_csv(self) -> None:
        path = str(self.files[0].path)
        compression = {"gzip": "gzip", "zstd": "zstd"}.get(self.files[0].compression, "auto")
        self.work.execute("DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans")
        try:
            self.work.execute(
                "CREATE OR REPLACE TEMP TABLE _csv AS SELECT * FROM read_csv(?, header = true, all_varchar = true, "
                "store_rejects = true, rejects_table = '_csv_rejects', rejects_scan = '_csv_scans', "
                "strict_mode = false, max_line_size = ?, buffer_size = ?, compression = ?)",
                [path, CSV_MAX_LINE_BYTES, CSV_MAX_LINE_BYTES, compression],
            )
        except Exception as exc:  # noqa: BLE001
            raise IngestError(f"{self.reports[0].file}: not a readable CSV file: {exc}") from exc
        # DuckDB numbers CSV rows (header = 1); rejected rows are missing from `_csv`, so a kept row's number is
        # 2 + its position + the number of rejected rows that came before it.
        self.work.execute(
            "CREATE OR REPLACE TEMP TABLE _csv_rejected AS "
            "SELECT line, csv_line, error_type, line - 2 - (row_number() OVER (ORDER BY line) - 1) AS kept_before "
            "FROM (SELECT DISTINCT ON (line) line, csv_line, error_type FROM _csv_rejects ORDER BY line)"
        )
        bad = _arrow_table(self.work,
            "SELECT 0 AS _fid, CAST(line AS BIGINT) AS _line, ? AS _entity, "
            "CASE WHEN error_type = 'INVALID ENCODING' THEN 'not_utf8' ELSE 'csv_malformed' END AS _reason, "
            "CAST(NULL AS VARCHAR) AS _field, lower(CAST(error_type AS VARCHAR)) AS _detail, csv_line AS _raw, "
            "CAST(NULL AS BLOB) AS _raw_bytes, CAST(NULL AS VARCHAR) AS _path FROM _csv_rejected ORDER BY line",
            [self.files[0].entity.name])
        self._quarantine(bad)
        # A column named like DuckDB's row id pseudo-column or one of ours would hide it: it is renamed here and
        # keeps its own name in the raw text of bad rows.
        aliases = _aliases([r[0] for r in self.work.execute("DESCRIBE _csv").fetchall()])
        for alias, name in aliases.items():
            self.work.execute(f"ALTER TABLE _csv RENAME COLUMN {_db.quote(name)} TO {_db.quote(alias)}")
        position = "__observatory_position"
        self.work.execute(
            f"CREATE OR REPLACE TEMP TABLE _csv_numbered AS SELECT c.* EXCLUDE ({position}), "
            f"2 + c.{position} + (SELECT count(*) FROM _csv_rejected r WHERE r.kept_before <= c.{position}) AS {_ROW} "
            f"FROM (SELECT rowid - (SELECT min(rowid) FROM _csv) AS {position}, * FROM _csv) AS c"
        )
        self._land_columns("_csv_numbered", [], aliases)
        self.work.execute(
            "DROP TABLE _csv; DROP TABLE _csv_numbered; DROP TABLE _csv_rejected; "
            "DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans"
        )


def _aliases(names: list[str]) -> dict[str, str]:
    """Internal names for the input columns whose own names DuckDB or the ingest reserve (`rowid`,
    `file_row_number`, anything starting `__observatory`): {alias: input name}."""
    reserved = [n for n in names if n.lower() in ("rowid", "file_row_number") or n.lower().startswith("__observatory")]
    taken = {n.lower() for n in names}
    free = (f"__observatory_input_{i}" for i in itertools.count() if f"__observatory_input_{i}" not in taken)
    return {next(free): name for name in reserved}


def _alias_of(aliases: dict[str, str], name: str) -> str | None:
    return next((alias for alias, original in aliases.items() if original == name), None)


def _json_paths(entity: Entity, defaults: bool = True, given: set[str] | None = None
                ) -> tuple[list[str], dict[str, list[tuple[str, str, str, str]]], list[str]]:
    """The JSON paths read from every record of `entity`, the sources of each field among them (the record's own
    paths first, then, with `defaults`, its response's default for the field), and the fields a default can name.

    `given`, when known, holds the type columns (`_t3`, `_dt2`) that have a value in some row of the block: a
    source whose column has none is left out of the checks (it is absent from every row, so it would add nothing
    to a value, its presence or its text), except for what it declares."""
    paths: list[str] = []

    def index(path: str) -> int:
        if path not in paths:
            paths.append(path)
        return paths.index(path) + 1

    def source(kind: str, t: str, s: str, declared: str) -> tuple[str, str, str, str]:
        if given is not None and t.removeprefix("_src.") not in given:
            return None, "false", "NULL", declared
        return _json_source(kind, t, s, declared)

    sources: dict[str, list[tuple[str, str, str, str]]] = {}
    fields = [f.name for f in entity.fields]
    for f in entity.fields:
        for path in f.sources:
            i = index("$." + ".".join(path))
            # A nested path is declared when its parent key is there (`"author": null` declares the author).
            head = index("$." + path[0])
            declared = "false" if given is not None and f"_t{head}" not in given else f"(_src._t{head} IS NOT NULL)"
            sources.setdefault(f.name, []).append(source(f.kind, f"_src._t{i}", f"_src._s{i}", declared))
        d = fields.index(f.name) + 1
        if defaults:
            declared = ("false" if given is not None and f"_dt{d}" not in given
                        else f"(_src._dt{d} IS NOT NULL AND _src._dt{d} <> 'NULL')")
            sources[f.name].append(source(f.kind, f"_src._dt{d}", f"_src._ds{d}", declared))
    for key, _, _ in _responses.EMBEDS.get(entity.name, ()):
        index(f"$.{key}")
    for name, candidates in sources.items():
        live = [c for c in candidates if c[0] is not None]
        declared = [c[3] for c in candidates if c[3] != "false"]
        if not live and not declared:
            sources[name] = []
        elif not live:
            sources[name] = [("NULL", "false", "NULL", " OR ".join(dict.fromkeys(declared)))]
        else:
            sources[name] = live + [("NULL", "false", "NULL", d) for d in dict.fromkeys(declared)
                                    if d not in {c[3] for c in live}]
    return paths, sources, fields


def _with_parse_errors(bad: pa.Table) -> pa.Table:
    """Say where a document that is not JSON breaks (the few bad rows only: DuckDB's check does not say)."""
    if not bad.num_rows:
        return bad
    details = bad["_detail"].to_pylist()
    for i, (reason, raw) in enumerate(zip(bad["_reason"].to_pylist(), bad["_raw"].to_pylist())):
        if reason == "not_json" and raw is not None:
            try:
                value = json.loads(raw)
                details[i] = f"a JSON {type(value).__name__}, not an object"
            except ValueError as exc:
                details[i] = f"not JSON: {exc}"
    return bad.set_column(bad.schema.get_field_index("_detail"), "_detail", pa.array(details, pa.string()))


def _document_blocks(files: list[DropFile]) -> Iterator[pa.Table]:
    """The JSON documents of files as blocks `(_fid, _line, _bytes)`. A JSONL file gives a document per line; a
    `.json` file holding an array, a document per element (numbered from 1); any other `.json` file whose first
    line is not a whole object is one (pretty-printed) document at line 1. Small files share blocks."""
    pending: list[pa.Table] = []
    pending_bytes = 0
    for fid, f in enumerate(files):
        try:
            tables = list(_file_documents(f)) if f.path.stat().st_size <= SMALL_FILE_BYTES else None
        except IngestError:
            raise
        except Exception as exc:  # noqa: BLE001 - a file that cannot be read fails with its name
            raise IngestError(f"{f.path}: cannot be read: {exc}") from exc
        for table in tables if tables is not None else _checked_documents(f):
            table = table.add_column(0, "_fid", pa.repeat(pa.scalar(fid, pa.int32()), table.num_rows))
            pending.append(table)
            pending_bytes += table["_bytes"].nbytes
            if pending_bytes >= BLOCK_BYTES:
                yield pa.concat_tables(pending)
                pending, pending_bytes = [], 0
    if pending:
        yield pa.concat_tables(pending)


def _checked_documents(f: DropFile) -> Iterator[pa.Table]:
    """The blocks of a large file, failing with the file's name if it cannot be read to its end."""
    try:
        yield from _file_documents(f)
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{f.path}: cannot be read: {exc}") from exc


def _file_documents(f: DropFile) -> Iterator[pa.Table]:
    if f.path.stat().st_size == 0:
        return  # an empty file holds no documents, compressed or not
    if f.format == "jsonl":
        yield from iter_line_blocks(f.path, compression=f.compression)
        return
    with _open_binary(f.path, f.compression) as fh:
        head = fh.read(SMALL_FILE_BYTES + 1)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    first_line, _, rest = start.partition(b"\n")
    if start.startswith(b"[") and not (first_line.rstrip(b"\r \t").endswith(b"]") and rest.strip()):
        yield _array_elements(f)
        return
    first_line = first_line.rstrip(b"\r \t")
    if start.startswith(b"{") and not first_line.endswith(b"}"):
        # One pretty-printed document (an API response as a scraper saved it).
        data = head if len(head) <= SMALL_FILE_BYTES else _read_all(f)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        yield pa.table({"_line": pa.array([1], pa.int64()), "_bytes": pa.array([data], pa.large_binary())})
        return
    yield from iter_line_blocks(f.path, compression=f.compression)  # a .json file of one object per line


def _read_all(f: DropFile) -> bytes:
    with _open_binary(f.path, f.compression) as fh:
        return fh.read()


def _array_elements(f: DropFile) -> pa.Table:
    """The elements of a JSON array file, numbered from 1 in file order, as serialised JSON."""
    import duckdb

    con = duckdb.connect()
    try:
        _confine(con, f.path)
        compression = {"gzip": "gzip", "zstd": "zstd"}.get(f.compression, "auto")
        try:
            con.execute(
                "CREATE TABLE _elements AS SELECT json AS _j FROM read_json_objects(?, format = 'array', "
                "compression = ?)", [str(f.path), compression])
        except Exception as exc:  # noqa: BLE001 - reported with the file name
            elements = _array_elements_one_by_one(f)
            if elements is None:
                raise IngestError(f"{f.path}: not a readable JSON array: {exc}") from exc
            return elements
        # Insertion order is file order: the table's row ids number the elements.
        return _arrow_table(con,
            "SELECT CAST(rowid - (SELECT min(rowid) FROM _elements) + 1 AS BIGINT) AS _line, "
            "encode(CAST(_j AS VARCHAR)) AS _bytes FROM _elements ORDER BY rowid")
    finally:
        con.close()


# The longest CSV line read (DuckDB's reader needs its buffer at least this large); longer lines refuse the file.
CSV_MAX_LINE_BYTES = 64 << 20
# Above this size an array DuckDB cannot read is refused rather than parsed again in Python.
ARRAY_FALLBACK_BYTES = 256 << 20


def _array_elements_one_by_one(f: DropFile) -> pa.Table | None:
    """The elements of an array DuckDB refused as a whole (a lone surrogate escape in one string, say), each
    serialised on its own: an element that is not valid JSON any more is then quarantined by itself like a bad
    line, and the others land. None when the file is not a JSON array even to Python's parser, or is too large."""
    if f.path.stat().st_size > ARRAY_FALLBACK_BYTES:
        return None
    try:
        document = json.loads(_read_all(f).decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(document, list):
        return None
    # ensure_ascii keeps a lone surrogate as its escape, which the JSON check downstream rejects for that element.
    encoded = [json.dumps(element, ensure_ascii=True).encode() for element in document]
    return pa.table({"_line": pa.array(range(1, len(encoded) + 1), pa.int64()),
                     "_bytes": pa.array(encoded, pa.large_binary())})


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


def _work_connection(memory_limit: str | None, drop: Path | None = None):
    """The scratch connection that parses and checks a drop. With `drop`, it reads nothing but the drop's own files
    and writes no file (DuckDB's external access limited to the drop, the configuration locked): whatever a drop
    holds, the SQL built from it cannot reach the rest of the machine."""
    import duckdb

    work = duckdb.connect()
    _db.configure(work)
    if memory_limit:
        work.execute(f"SET memory_limit = '{_db._checked_size(memory_limit)}'")
    if drop is not None:
        _confine(work, drop)
    return work


def _confine(con, drop: Path) -> None:
    root = Path(drop).resolve()
    if root.is_dir():
        con.execute("SET allowed_directories = ?", [[str(root) + "/"]])
    else:
        con.execute("SET allowed_paths = ?", [[str(root)]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


# --------------------------------------------------------------------------------------------------------------
# A whole drop


def _log_files(con, drop_seq: int, reports: list[FileReport], started: datetime) -> None:
    """One `ingest_log` row per file, inserted together (a group may hold thousands of files)."""
    rows = pa.table({
        "drop_seq": pa.repeat(pa.scalar(drop_seq, pa.int32()), len(reports)),
        "file": pa.array([r.file for r in reports], pa.string()),
        "entity": pa.array([r.entity for r in reports], pa.string()),
        "format": pa.array([r.format for r in reports], pa.string()),
        "content_sha256": pa.array([r.sha256 for r in reports], pa.string()),
        "bytes": pa.array([r.bytes for r in reports], pa.int64()),
        "rows_read": pa.array([r.rows_read for r in reports], pa.int64()),
        "rows_loaded": pa.array([r.rows_loaded for r in reports], pa.int64()),
        "rows_quarantined": pa.array([r.rows_quarantined for r in reports], pa.int64()),
    })
    con.register("_log", rows)
    try:
        con.execute("INSERT INTO ingest_log SELECT *, ?, ? FROM _log", [started, datetime.now(timezone.utc)])
    finally:
        con.unregister("_log")


def _groups(todo: list[tuple[DropFile, FileReport]]) -> Iterator[list[tuple[DropFile, FileReport]]]:
    """Files in loading groups: each large or columnar file alone, small JSON files together (up to
    GROUP_FILES files or BLOCK_BYTES of them), so that a scrape of many small responses loads in few steps."""
    group: list[tuple[DropFile, FileReport]] = []
    size = 0
    for item in todo:
        f, report = item
        if f.format in ("json", "jsonl") and report.bytes <= SMALL_FILE_BYTES:
            group.append(item)
            size += report.bytes
            if len(group) >= GROUP_FILES or size >= BLOCK_BYTES:
                yield group
                group, size = [], 0
        else:
            yield [item]
    if group:
        yield group


def _delete_drops(con, drop_seqs: list[int]) -> None:
    """Delete every row of the given drops, in one transaction."""
    from observatory.contract import ENTITIES

    con.execute("BEGIN TRANSACTION")
    try:
        for table in [e.raw_table for e in ENTITIES] + ["quarantine_rows", "ingest_log", "ingest_drops"]:
            column = "_drop_seq" if table.startswith("raw_") else "drop_seq"
            con.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?::INTEGER[]))", [drop_seqs])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def remove_unfinished_drops(con) -> int:
    """Delete every row of drops that did not finish (a failed or interrupted ingest); returns how many drops."""
    unfinished = [row[0] for row in con.execute(
        "SELECT drop_seq FROM ingest_drops WHERE finished_at IS NULL").fetchall()]
    if unfinished:
        _delete_drops(con, unfinished)
    return len(unfinished)


def drop_seqs(con, drop: str | Path) -> list[int]:
    """The ingest sequence numbers of every ingest of the drop folder `drop` (compared as resolved paths)."""
    target = Path(drop).resolve()
    return [seq for seq, path in con.execute("SELECT drop_seq, drop_path FROM ingest_drops ORDER BY drop_seq").fetchall()
            if Path(path).resolve() == target]


def remove_drop(con, drop: str | Path) -> int:
    """Forget a drop: delete its raw rows, quarantined rows and ingest records, so that the database is as if it had
    never been ingested (and ingesting it again loads it again). The clean tables are rebuilt in full by their next
    refresh. Returns how many rows of raw tables were deleted."""
    from observatory.contract import ENTITIES

    _db.ensure_schema(con)
    seqs = drop_seqs(con, drop)
    if not seqs:
        return 0
    rows = sum(con.execute(f"SELECT count(*) FROM {e.raw_table} WHERE _drop_seq IN (SELECT unnest(?::INTEGER[]))",
                           [seqs]).fetchall()[0][0] for e in ENTITIES)
    _delete_drops(con, seqs)
    _db.invalidate_clean_tables(con)
    return int(rows)



def plan_drop(drop: str | Path, seen: set[str], *, digest: Callable[[Path], str] | None = None
              ) -> tuple[list[FileReport], list[tuple[DropFile, FileReport]], list[str]]:
    """The files of a drop and which of them to land: a file whose content (SHA-256) is in `seen`, or earlier in
    the drop, is skipped. Adds the digests of the files to land to `seen`. `digest` gives a file's SHA-256 when it
    is known already (hashed elsewhere). Returns (a report per file, the files to land with their reports, the
    names ignored)."""
    files, ignored = discover_drop(drop)
    reports: list[FileReport] = []
    todo: list[tuple[DropFile, FileReport]] = []
    for f in files:
        digest_ = (digest or _sha256)(f.path)
        report = FileReport(str(f.path), f.entity_name, f.format, digest_, f.path.stat().st_size)
        if digest_ in seen:
            report.skipped = True
        else:
            seen.add(digest_)
            todo.append((f, report))
        reports.append(report)
    return reports, todo, ignored


def land_files(con, drop: str | Path, drop_seq: int, todo: list[tuple[DropFile, FileReport]], *,
               progress: Callable[[str, int], None] | None = None, memory_limit: str | None = "1GB") -> None:
    """Land the files `todo` of one drop as drop number `drop_seq`, file by file, and mark the drop finished.

    The part of :func:`ingest_drop` after it has chosen the files (those not ingested before); the Spark engine
    runs it for each drop in a task of its own, into a database of the task's own (observatory.spark.engine).
    A failure removes what the drop had landed and raises.
    """
    work = _work_connection(memory_limit, Path(drop))
    if memory_limit:
        con.execute(f"SET memory_limit = '{_db._checked_size(memory_limit)}'")
    # A drop is all or nothing for every reader: its rows land file by file (one transaction per file keeps
    # memory flat: a single transaction holding 10^7 rows held them all in memory until commit), and the clean
    # tables are built only from drops whose `finished_at` is set, which the last transaction does. A failure
    # removes what the drop had landed; a crash leaves an unfinished drop that no clean table reads and the next
    # ingest removes.
    con.execute("INSERT INTO ingest_drops (drop_seq, drop_path, started_at) VALUES (?, ?, ?)",
                [drop_seq, str(drop), datetime.now(timezone.utc)])
    try:
        for group in _groups(todo):
            file_started = datetime.now(timezone.utc)
            con.execute("BEGIN TRANSACTION")
            try:
                loaded = _Loader(con, work, drop_seq, [f for f, _ in group], [r.file for _, r in group],
                                 progress).load()
                for (f, report), result in zip(group, loaded):
                    report.rows_read, report.rows_loaded = result.rows_read, result.rows_loaded
                    report.rows_quarantined, report.reasons = result.rows_quarantined, result.reasons
                    report.records = result.records
                _log_files(con, drop_seq, [report for _, report in group], file_started)
                con.execute("COMMIT")
            except IngestError:
                con.execute("ROLLBACK")
                raise
            except Exception as exc:
                con.execute("ROLLBACK")
                where = group[0][0].path if len(group) == 1 else f"{group[0][0].path} (and {len(group) - 1} more files)"
                raise IngestError(f"{where}: {exc}") from exc
        fresh = [r for _, r in todo]
        con.execute(
            "UPDATE ingest_drops SET finished_at = ?, files = ?, rows_read = ?, rows_loaded = ?, rows_quarantined = ? "
            "WHERE drop_seq = ?",
            [datetime.now(timezone.utc), len(fresh), sum(r.rows_read for r in fresh),
             sum(r.rows_loaded for r in fresh), sum(r.rows_quarantined for r in fresh), drop_seq],
        )
    except BaseException:
        remove_unfinished_drops(con)
        raise
    finally:
        work.close()


def ingest_drop(
    drop: str | Path,
    db: str | Path | None = None,
    *,
    con=None,
    progress: Callable[[str, int], None] | None = None,
    memory_limit: str | None = "1GB",
    refresh: bool = True,
) -> IngestReport:
    """Ingest every contract file of a drop, all or nothing for readers (one transaction per group of files; the
    drop is visible only once its last file has landed, and a failure removes what it had landed).

    Parameters
    ----------
    drop : path of the drop folder (or of a single file named after its entity).
    db : path of the DuckDB database (default: `$OBSERVATORY_DB` or `data/observatory.duckdb`); ignored if `con`.
    con : an open DuckDB connection to use instead.
    progress : called as `progress(file_label, rows_read_so_far)` while large files load.
    memory_limit : DuckDB memory limit of each of the two connections the ingest uses (the database's and the
        scratch one that parses and checks); beyond it DuckDB spills to disk. None leaves DuckDB's default (80% of
        the machine's memory).
    refresh : refresh the clean tables once the drop has landed (the Dagster definitions leave that to the clean
        tables' own assets).

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
        seen = {row[0] for row in con.execute("SELECT content_sha256 FROM ingest_log").fetchall()}
        reports, todo, ignored = plan_drop(drop, seen)
        if not todo:
            if refresh and _db.clean_tables_stale(con):
                _db.refresh_clean_tables(con)  # an earlier ingest finished its drop but not the refresh
            return IngestReport(str(drop), None, reports, ignored, time.perf_counter() - started)

        drop_seq = con.execute("SELECT COALESCE(max(drop_seq), 0) + 1 FROM ingest_drops").fetchall()[0][0]
        land_files(con, drop, drop_seq, todo, progress=progress, memory_limit=memory_limit)
        if refresh:
            _db.refresh_clean_tables(con)
        return IngestReport(str(drop), drop_seq, reports, ignored, time.perf_counter() - started)
    finally:
        if own:
            con.close()
