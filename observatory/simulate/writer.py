"""Writing a simulated society as contract drops: formats, record shapes, parts, overlapping drops, bad lines.

Every entity is written under its own folder as parts of at most ``part_rows`` records
(``comments/part-00000.jsonl``). JSONL goes through DuckDB's ``COPY ... (FORMAT json)`` from Arrow, Parquet through
pyarrow, CSV through DuckDB's CSV writer; none of it loops over records in Python.

Bad lines (``bad_rate > 0``, JSONL only) are extra lines spliced into the parts at random positions: each is a real
record of the part with a fresh id, broken in one of the ways the contract names. Their file, 1-based line number,
kind and entity are recorded so that a test can check that exactly these lines are quarantined.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from observatory.simulate import text

ENTITIES = ("agents", "submolts", "posts", "comments", "votes", "tasks")
EXTENSIONS = {"jsonl": "jsonl", "parquet": "parquet", "csv": "csv"}

# The ways a line can break the contract, by entity (named as the quarantine reasons of observatory.contract).
BAD_KINDS = {
    "agents": ("missing_field", "bad_timestamp", "wrong_type", "not_utf8", "not_json"),
    "posts": ("missing_field", "bad_timestamp", "wrong_type", "not_utf8", "not_json"),
    "comments": ("missing_field", "bad_timestamp", "wrong_type", "unknown_post", "not_utf8", "not_json"),
}
MISSING_FIELDS = {"agents": ("name", "created_at", "id"), "posts": ("created_at", "submolt", "id"),
                  "comments": ("post_id", "created_at", "id")}
WRONG_TYPE_FIELD = {"agents": ("karma", "lots"), "posts": ("upvotes", "many"), "comments": ("upvotes", "a few")}
TEXT_FIELD = {"agents": "description", "posts": "content", "comments": "content"}
BAD_TIMESTAMPS = ("2026-02-30T25:61:00Z", "yesterday", "not a timestamp", "2026-13-01T00:00:00Z", "12/31/2026 25:00")
_NOT_UTF8_MARKER = "@@NOT_UTF8@@"
_NOT_UTF8_BYTES = b"caf\xe9 \xff\xfe \xc3\x28"
# Lines are cut after this many bytes to make them not JSON: every record starts with {"id":"<36-char uuid>",
# so the cut falls in ASCII and the line stays valid UTF-8.
_TRUNCATE_AT = 48


class DropWriter:
    """Writes entity tables into the drop folders of one simulation run and records what it wrote."""

    def __init__(self, out_dir: Path, config, bad_rng: np.random.Generator):
        self.out_dir = Path(out_dir)
        self.config = config
        if config.n_drops == 1:
            self.drop_dirs = [self.out_dir]
        else:
            self.drop_dirs = [self.out_dir / f"drop-{i + 1:03d}" for i in range(config.n_drops)]
        self.ext = EXTENSIONS[config.fmt]
        self.next_part: dict[tuple[int, str], int] = defaultdict(int)
        self.rows: dict[tuple[int, str], int] = defaultdict(int)
        self.bad_rng = bad_rng
        self.bad_records: list[pa.Table] = []
        self.con = duckdb.connect()
        # One thread keeps the bytes of every file independent of the machine (and leaves a core to others).
        self.con.execute("SET threads TO 1")

    def close(self) -> None:
        self.con.close()

    def drop_name(self, drop: int) -> str:
        return "." if self.config.n_drops == 1 else self.drop_dirs[drop].name

    def write(self, entity: str, drop: int, table: pa.Table, json_select: str = "SELECT * FROM part") -> None:
        """Write ``table`` as the next part(s) of ``entity`` in drop ``drop``.

        ``json_select`` is the DuckDB query (over a table named ``part``) that gives JSONL its final columns, used
        where JSON needs what Arrow columns cannot express (an author that is an object or a bare name).
        """
        if table.num_rows == 0:
            return
        folder = self.drop_dirs[drop] / entity
        folder.mkdir(parents=True, exist_ok=True)
        size = self.config.part_rows
        for begin in range(0, table.num_rows, size):
            part = table.slice(begin, size)
            number = self.next_part[(drop, entity)]
            self.next_part[(drop, entity)] += 1
            path = folder / f"part-{number:05d}.{self.ext}"
            if self.ext == "parquet":
                pq.write_table(part, path)
            else:
                self.con.register("part", part)
                try:
                    if self.ext == "jsonl":
                        self.con.execute(f"COPY ({json_select}) TO '{path.as_posix()}' (FORMAT json)")
                    else:
                        self.con.execute(f"COPY part TO '{path.as_posix()}' (FORMAT csv, HEADER true)")
                finally:
                    self.con.unregister("part")
            self.rows[(drop, entity)] += part.num_rows
            if self.config.bad_rate > 0 and entity in BAD_KINDS:
                self._splice_bad_lines(entity, drop, path, part, json_select)

    # ----------------------------------------------------------------------------------------------------------

    def _bad_json_lines(self, entity: str, part: pa.Table, json_select: str, kind: str, field: str | None):
        """JSON text of broken copies of ``part``'s records (the caller has already given them fresh ids)."""
        if kind == "bad_timestamp":
            values = pa.array(BAD_TIMESTAMPS).take(pa.array(self.bad_rng.integers(0, len(BAD_TIMESTAMPS),
                                                                                     size=part.num_rows)))
            part = part.set_column(part.schema.get_field_index("created_at"), "created_at", values)
        elif kind == "wrong_type":
            column, value = WRONG_TYPE_FIELD[entity]
            part = part.set_column(part.schema.get_field_index(column), column,
                                   pa.repeat(pa.scalar(value), part.num_rows))
        elif kind == "unknown_post":
            part = part.set_column(part.schema.get_field_index("post_id"), "post_id",
                                   text.uuid_strings(self.bad_rng, part.num_rows))
        elif kind == "not_utf8":
            column = TEXT_FIELD[entity]
            part = part.set_column(part.schema.get_field_index(column), column,
                                   pa.repeat(pa.scalar(_NOT_UTF8_MARKER), part.num_rows))
        select = json_select if kind != "missing_field" else f"SELECT * EXCLUDE ({field}) FROM ({json_select})"
        self.con.register("part", part)
        try:
            lines = self.con.sql(f"SELECT to_json(_record)::VARCHAR AS line FROM ({select}) AS _record"
                                 ).to_arrow_table()["line"].combine_chunks()
        finally:
            self.con.unregister("part")
        lines = lines.cast(pa.binary())
        if kind == "not_utf8":
            lines = pc.replace_substring(lines, _NOT_UTF8_MARKER, _NOT_UTF8_BYTES)
        elif kind == "not_json":
            lines = pc.binary_slice(lines, 0, _TRUNCATE_AT)
        return lines

    def _splice_bad_lines(self, entity: str, drop: int, path: Path, part: pa.Table, json_select: str) -> None:
        rng = self.bad_rng
        n_good = part.num_rows
        n_bad = int(rng.binomial(n_good, self.config.bad_rate))
        if n_bad == 0:
            return
        kinds = BAD_KINDS[entity]
        kind_of = rng.integers(0, len(kinds), size=n_bad)
        field_of = rng.integers(0, len(MISSING_FIELDS[entity]), size=n_bad)
        templates = part.take(pa.array(rng.integers(0, n_good, size=n_bad)))
        fresh_ids = text.uuid_strings(rng, n_bad)
        templates = templates.set_column(templates.schema.get_field_index("id"), "id", fresh_ids)
        if entity == "agents":
            # Unique names too, so that a bad agent can never stand in for a good one.
            names = pc.binary_join_element_wise(templates["name"], "bad", text.int_strings(np.arange(n_bad)), "_")
            templates = templates.set_column(templates.schema.get_field_index("name"), "name", names)
        pieces, kind_labels, field_labels, ids = [], [], [], []
        for k, kind in enumerate(kinds):
            fields = MISSING_FIELDS[entity] if kind == "missing_field" else (None,)
            for f, field in enumerate(fields):
                rows = np.flatnonzero((kind_of == k) & ((field_of == f) | (field is None)))
                if rows.size == 0:
                    continue
                pieces.append(self._bad_json_lines(entity, templates.take(pa.array(rows)), json_select, kind, field))
                kind_labels.append(np.full(rows.size, kind, dtype=object))
                field_labels.append(np.full(rows.size, field, dtype=object))
                ids.append(fresh_ids.take(pa.array(rows)) if field != "id" else pa.nulls(rows.size, pa.string()))
        bad_lines = pa.concat_arrays(pieces)
        # Good lines as they were written, each with its newline, then the bad lines, spliced at random positions.
        data = path.read_bytes()
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        good_offsets = np.r_[0, newlines + 1].astype(np.int64)
        good = pa.LargeBinaryArray.from_buffers(pa.large_binary(), newlines.size,
                                                [None, pa.py_buffer(good_offsets), pa.py_buffer(data)])
        bad = pc.binary_join_element_wise(bad_lines, pa.scalar(b"", pa.binary()), pa.scalar(b"\n", pa.binary()))
        total = n_good + n_bad
        bad_positions = np.sort(rng.choice(total, size=n_bad, replace=False))
        order = np.empty(total, dtype=np.int64)
        is_bad = np.zeros(total, dtype=bool)
        is_bad[bad_positions] = True
        order[~is_bad] = np.arange(n_good)
        order[is_bad] = n_good + np.arange(n_bad)
        combined = pa.concat_arrays([good, bad.cast(pa.large_binary())]).take(pa.array(order))
        offsets = np.frombuffer(combined.buffers()[1], dtype=np.int64)[combined.offset: combined.offset + total + 1]
        body = combined.buffers()[2].to_pybytes()[offsets[0]: offsets[-1]]
        path.write_bytes(body)
        relative = path.relative_to(self.drop_dirs[drop]).as_posix()
        self.bad_records.append(pa.table({
            "drop": pa.repeat(pa.scalar(self.drop_name(drop)), n_bad),
            "file": pa.repeat(pa.scalar(relative), n_bad),
            "line": pa.array(bad_positions + 1),
            "kind": pa.array(np.concatenate(kind_labels), type=pa.string()),
            "entity": pa.repeat(pa.scalar(entity), n_bad),
            "missing_field": pa.array(np.concatenate(field_labels), type=pa.string()),
            "id": pa.concat_arrays(ids),
        }))

    def bad_table(self) -> pa.Table:
        schema = pa.schema([("drop", pa.string()), ("file", pa.string()), ("line", pa.int64()), ("kind", pa.string()),
                            ("entity", pa.string()), ("missing_field", pa.string()), ("id", pa.string())])
        if not self.bad_records:
            return schema.empty_table()
        return pa.concat_tables([t.cast(schema) for t in self.bad_records])
