"""The Spark engine: the relational layer of the observatory (contract ingest, staging, clean tables, marts) on Spark,
written as a Parquet lake that DuckDB and the estimators read directly.

- **Ingest.** Each drop is landed in a Spark task of its own by the library's contract loader
  (:func:`observatory.ingest.load.land_files`), into a DuckDB database private to the task, and exported to the
  lake. The quarantine rules are the DuckDB engine's because the code is; files already landed (by content) are
  skipped and drops numbered exactly as :func:`observatory.ingest.ingest_drop` numbers them. A drop's files land
  only once its task has succeeded (each task writes beside the lake and the driver moves its files in).
- **Staging, clean tables and marts** run on Spark SQL, generated from the same files of `sql/` (see
  :mod:`observatory.spark.sql`): one definition of every table.
- **The lake**: one folder per relation, ``<lake>/<name>/*.parquet``; the raw tables and the ingest's bookkeeping
  one file per drop (``drop-000001.parquet``), every other relation rewritten whole on each build.
  :func:`attach_lake` makes each folder a view in a DuckDB database, so that ``observatory`` studies and SQL read
  the lake as they read the embedded database.

pyspark is imported only here, when a Spark engine is used; it needs Java 17 or newer on the machine.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from observatory.contract import ENTITIES

__all__ = ["SparkEngine", "attach_lake", "lake_relations", "spark_session", "BOOKKEEPING", "DEFAULT_MASTER"]

DEFAULT_MASTER = "local[2]"
# The ingest's own tables, exported to the lake beside the raw tables (finished_drops and quarantine read them).
BOOKKEEPING = ("ingest_drops", "ingest_log", "quarantine_rows")
# Researcher views over the estimators' results: not part of the relational layer the engine builds.
_RESULT_VIEWS = ("headline", "hubs", "task_matches", "top_cascades")


def spark_session(master: str = DEFAULT_MASTER, *, app_name: str = "molt-observatory", conf: dict | None = None):
    """A Spark session set up as the SQL of the project expects: timestamps in UTC, no web UI by default."""
    from pyspark.sql import SparkSession

    if master.startswith("local"):
        # Local workers run this interpreter, which has the library; a cluster's workers need it installed.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "8")
               # Timestamps as Parquet's microsecond UTC instants (Spark's default, INT96, reads back naive).
               .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _raw_tables() -> tuple[str, ...]:
    return tuple(e.raw_table for e in ENTITIES)


def _drop_file(seq: int) -> str:
    return f"drop-{seq:06d}.parquet"


def _land_drop(task: tuple[str, int, dict[str, str], str, str | None]) -> dict:
    """One Spark task: land the given files of one drop as drop `seq` and write every raw and bookkeeping table's
    rows to `<out>/<table>/drop-<seq>.parquet`. Runs in an executor."""
    import duckdb

    from observatory import db
    from observatory.ingest.load import land_files, plan_drop

    drop, seq, digests, out, memory_limit = task
    con = duckdb.connect(":memory:")
    try:
        db.configure(con)
        db.ensure_schema(con)
        # The driver hashed the files already: `digests` holds those to land, and the others are skipped.
        _, todo, _ = plan_drop(drop, set(), digest=lambda p: digests.get(str(p), ""))
        todo = [(f, r) for f, r in todo if str(f.path) in digests]
        land_files(con, drop, seq, todo, memory_limit=memory_limit)
        for table in _raw_tables() + BOOKKEEPING:
            folder = Path(out) / table
            folder.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY (SELECT * FROM {db.quote(table)}) TO {db.literal(str(folder / _drop_file(seq)))} "
                        "(FORMAT parquet)")
        rows = con.execute("SELECT rows_read, rows_loaded, rows_quarantined FROM ingest_drops").fetchone()
        return {"drop": drop, "drop_seq": seq, "files": len(todo), "rows_read": rows[0], "rows_loaded": rows[1],
                "rows_quarantined": rows[2]}
    finally:
        con.close()


def _digest(path: str) -> tuple[str, str]:
    from observatory.ingest.load import _sha256

    return path, _sha256(Path(path))


class SparkEngine:
    """The relational layer on Spark, reading and writing the Parquet lake at `lake`.

    Parameters
    ----------
    lake : folder of the lake (created if missing).
    master : Spark master URL: ``local[2]`` (this machine, two cores), ``spark://host:7077``, ``yarn``, ``k8s://...``.
    spark : an existing SparkSession to use instead of creating one from `master`.
    settings : the steps' SQL settings (`getvariable` names, e.g. ``extract_memes``); default: the library's
        (observatory.config's CascadeConfig and CooperationConfig).
    memory_limit : DuckDB memory limit inside each ingest task.

    >>> engine = SparkEngine("/tmp/lake")                        # doctest: +SKIP
    >>> engine.ingest(["drops/2026-02-01", "drops/2026-02-02"])  # doctest: +SKIP
    >>> engine.build()                                           # doctest: +SKIP
    """

    def __init__(self, lake: str | Path, *, master: str = DEFAULT_MASTER, spark=None, settings: dict | None = None,
                 memory_limit: str | None = "1GB", conf: dict | None = None):
        from observatory.config import CascadeConfig, CooperationConfig

        self.lake = Path(lake)
        self.lake.mkdir(parents=True, exist_ok=True)
        self.master = master
        self.spark = spark if spark is not None else spark_session(master, conf=conf)
        self.settings = asdict(CascadeConfig()) | asdict(CooperationConfig()) | dict(settings or {})
        self.memory_limit = memory_limit

    # -- ingest -------------------------------------------------------------------------------------------------

    def _landed(self) -> tuple[set[str], int]:
        """Digests of the files the lake holds, and the last drop number."""
        import duckdb

        from observatory import db

        log, drops = self.lake / "ingest_log", self.lake / "ingest_drops"
        if not any(log.glob("*.parquet")) or not any(drops.glob("*.parquet")):
            return set(), 0
        con = duckdb.connect(":memory:")
        try:
            # Only finished drops count: a drop whose record never reached the lake is landed again.
            finished = f"SELECT drop_seq FROM read_parquet({db.literal(str(drops / '*.parquet'))}) " \
                       "WHERE finished_at IS NOT NULL"
            seen = {r[0] for r in con.execute(
                f"SELECT content_sha256 FROM read_parquet(?) WHERE drop_seq IN ({finished})",
                [str(log / "*.parquet")]).fetchall()}
            last = con.execute(f"SELECT coalesce(max(drop_seq), 0) FROM ({finished})").fetchone()[0]
        finally:
            con.close()
        return seen, int(last)

    def ingest(self, drops: list[str | Path], progress: Callable[[str], None] | None = None) -> list[dict]:
        """Land drops into the lake, one Spark task per drop; returns a summary per drop landed (drops with nothing
        new are skipped, as by ``ingest_drop``). Files are hashed in parallel; the driver decides what is new."""
        from observatory.ingest.load import discover_drop, plan_drop

        drops = [str(d) for d in drops]
        paths = [str(f.path) for d in drops for f in discover_drop(d)[0]]
        sc = self.spark.sparkContext
        digests = dict(sc.parallelize(paths, max(1, min(len(paths), 4 * sc.defaultParallelism)))
                       .map(_digest).collect()) if paths else {}
        seen, last = self._landed()
        tasks = []
        for drop in drops:
            _, todo, _ = plan_drop(drop, seen, digest=lambda p: digests[str(p)])
            if todo:
                last += 1
                tasks.append((drop, last, {str(f.path): r.sha256 for f, r in todo}))
        if not tasks:
            return []
        out = self.lake / f"_landing-{uuid.uuid4().hex[:12]}"
        try:
            work = [(drop, seq, files, str(out), self.memory_limit) for drop, seq, files in tasks]
            if progress:
                progress(f"landing {len(work)} drop(s) on {self.master}")
            summaries = sc.parallelize(work, len(work)).map(_land_drop).collect()
            # Every drop landed: move its files into the lake, `ingest_drops` last. A crash between the moves
            # leaves rows of a drop that is not finished: no build reads them, and the next ingest lands that drop
            # again under the same number, over them.
            for table in _raw_tables() + ("quarantine_rows", "ingest_log", "ingest_drops"):
                target = self.lake / table
                target.mkdir(parents=True, exist_ok=True)
                for _, seq, _ in tasks:
                    (out / table / _drop_file(seq)).replace(target / _drop_file(seq))
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return sorted(summaries, key=lambda s: s["drop_seq"])

    # -- staging, clean tables and marts ------------------------------------------------------------------------

    def _register_inputs(self) -> None:
        """The lake's raw and bookkeeping tables as Spark views."""
        import duckdb

        from observatory import db

        empty = None
        try:
            for table in _raw_tables() + BOOKKEEPING:
                folder = self.lake / table
                if not any(folder.glob("*.parquet")):
                    # Nothing landed yet: an empty relation with the schema's columns.
                    if empty is None:
                        empty = duckdb.connect(":memory:")
                        db.ensure_schema(empty)
                    folder.mkdir(parents=True, exist_ok=True)
                    empty.execute(f"COPY (SELECT * FROM {db.quote(table)}) TO "
                                  f"{db.literal(str(folder / 'empty.parquet'))} (FORMAT parquet)")
                self.spark.read.parquet(str(folder)).createOrReplaceTempView(table)
        finally:
            if empty is not None:
                empty.close()

    def relations(self) -> list[str]:
        """What `build` computes, in dependency order: staging views, clean tables, quarantine, marts."""
        from observatory import sqlmodels

        models = sqlmodels.catalogue()
        external = set(_raw_tables() + BOOKKEEPING)
        order: list[str] = []
        seen: set[str] = set()

        def visit(name):
            if name in seen or name in external or name not in models:
                return
            seen.add(name)
            for read in sorted(models[name].reads):
                visit(read)
            order.append(name)

        for name in models:
            if name not in _RESULT_VIEWS:
                visit(name)
        return order

    def build(self, names: list[str] | None = None, progress: Callable[[str], None] | None = None) -> dict[str, int]:
        """Build the staging views, clean tables, quarantine and marts from the lake's raw tables on Spark, writing
        every table (and the quarantine) to the lake. `names` limits the written relations to those (and what they
        read). Returns the rows of each relation written."""
        from observatory import sqlmodels
        from observatory.spark.sql import SchemaMirror, model_sql

        self._register_inputs()
        models = sqlmodels.catalogue()
        wanted = self.relations()
        if names is not None:
            needed: set[str] = set()

            def need(name):
                if name in needed or name not in models:
                    return
                needed.add(name)
                for read in models[name].reads:
                    need(read)

            for name in names:
                if name not in models:
                    raise KeyError(f"{name!r} is not a relation of sql/")
                need(name)
            wanted = [n for n in wanted if n in needed]
        mirror = SchemaMirror(self.settings)
        written: dict[str, int] = {}
        try:
            for name in wanted:
                mirror.build(name)
                frame = self.spark.sql(model_sql(name, mirror, self.settings))
                if models[name].kind == "view" and name != "quarantine":
                    frame.createOrReplaceTempView(name)
                    continue
                started = time.perf_counter()
                written[name] = self._write(name, frame)
                if progress:
                    progress(f"{name}: {written[name]:,} rows in {time.perf_counter() - started:.1f} s")
        finally:
            mirror.close()
        return written

    def _write(self, name: str, frame) -> int:
        """Write a relation to the lake whole (beside it, then swapped in) and read it back as its Spark view, so
        that later relations read the stored rows rather than recompute them."""
        target = self.lake / name
        staging = self.lake / f"_{name}-{uuid.uuid4().hex[:8]}"
        frame.write.mode("overwrite").parquet(str(staging))
        old = self.lake / f"_{name}-old-{uuid.uuid4().hex[:8]}"
        if target.exists():
            target.replace(old)
        staging.replace(target)
        shutil.rmtree(old, ignore_errors=True)
        stored = self.spark.read.parquet(str(target))
        stored.createOrReplaceTempView(name)
        return stored.count()

    def stop(self) -> None:
        self.spark.stop()


def lake_relations(lake: str | Path) -> list[str]:
    """The relations a lake holds (folders with Parquet files)."""
    return sorted(p.name for p in Path(lake).iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and any(p.glob("*.parquet")))


def attach_lake(con, lake: str | Path) -> list[str]:
    """Make every relation of a lake a view of the same name in a DuckDB connection (over its Parquet files), so
    that the studies and researchers' SQL read the lake; the names are recorded in `lake_relations`, and the
    DuckDB engine then reads those relations rather than rebuild them (observatory.db.from_lake). A table of the
    database with the name of a lake relation is replaced by the view: attach a lake to a database of its own (as
    `observatory run --engine spark` and the Dagster `spark` job do), not to one the DuckDB engine fills. Returns
    the names attached."""
    from observatory import db

    names = lake_relations(lake)
    con.execute(f"CREATE TABLE IF NOT EXISTS {db.LAKE_RELATIONS} (name VARCHAR PRIMARY KEY, location VARCHAR, "
                "attached_at TIMESTAMPTZ)")
    for name in names:
        folder = Path(lake).resolve() / name
        if db.table_exists(con, name, "table") and name != db.LAKE_RELATIONS:
            con.execute(f"DROP TABLE {db.quote(name)}")
        con.execute(f"CREATE OR REPLACE VIEW {db.quote(name)} AS "
                    f"SELECT * FROM read_parquet({db.literal(str(folder / '*.parquet'))})")
        con.execute(f"INSERT OR REPLACE INTO {db.LAKE_RELATIONS} VALUES (?, ?, now())", [name, str(folder)])
    return names
