"""The DuckDB database: connections, the raw schema, and the SQL files under `sql/`."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb

from observatory.contract import ENTITIES, raw_table_columns, raw_table_ddl

DEFAULT_DB = Path("data") / "observatory.duckdb"
DB_ENV_VAR = "OBSERVATORY_DB"


def default_db_path() -> Path:
    """The embedded database file: `$OBSERVATORY_DB`, else `data/observatory.duckdb` under the working directory."""
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB)


def published_path(path: str | Path | None = None) -> Path:
    """The read copy of a database: `<name>.published.duckdb` beside it (see `publish`)."""
    path = Path(path) if path is not None else default_db_path()
    return path.with_name(path.stem + ".published.duckdb")


def publish(path: str | Path | None = None) -> Path | None:
    """Copy a closed database to its read copy, atomically, so that readers never wait for a writer.

    DuckDB lets one process write a database file and then refuses every other process, readers included. Every
    command and Dagster job that writes calls this once its connection is closed (closing checkpoints the
    write-ahead log into the file): the copy is written beside it under a temporary name and renamed over the
    previous copy, so a reader opens either the old or the new copy, never half of one. Read-only commands
    (`status`, `sql`) fall back to it while the database is locked. Returns the copy's path (None if the database
    does not exist, or is locked by a writer that has not finished).
    """
    path = Path(path) if path is not None else default_db_path()
    if not path.is_file():
        return None
    target = published_path(path)
    staging = target.with_name(target.name + f".{os.getpid()}.tmp")
    try:
        # A read-only connection held for the copy keeps writers out, so the file does not change under it; if a
        # writer holds the file already, its contents are in flux and the next writer to finish publishes instead.
        guard = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException:
        return None
    try:
        shutil.copyfile(path, staging)
        os.replace(staging, target)
    finally:
        guard.close()
        if staging.exists():
            staging.unlink()
    return target


def project_dir(name: str) -> Path:
    """A folder shipped with the project (`sql/`): beside the package in a source checkout, inside
    it in an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / name, here / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name}/ folder is missing from this installation")


def sql_dir() -> Path:
    return project_dir("sql")


def quote(identifier: str) -> str:
    """An identifier quoted for DuckDB SQL. Every name that comes from data (a column of a user's file) or could
    clash with a keyword goes through here; values never do: they are parameters."""
    return '"' + str(identifier).replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string literal for DuckDB SQL, for the rare place a value cannot be a parameter (a name inside generated
    SQL, such as a JSON key taken from a file's header)."""
    return "'" + str(text).replace("'", "''") + "'"


def table_exists(con, name: str, kind: str | None = None) -> bool:
    """Whether a relation ``name`` exists in the main schema: a table or a view, or only a ``kind`` ("table",
    "view"). Temporary tables and DuckDB's internal views do not count. The one existence check of the library."""
    kinds = {"table": ("table",), "view": ("view",), None: ("table", "view")}[kind]
    return bool(con.execute(
        "SELECT count(*) FROM (SELECT table_name AS name, 'table' AS kind FROM duckdb_tables() "
        "WHERE schema_name = 'main' AND NOT temporary UNION ALL SELECT view_name, 'view' FROM duckdb_views() "
        "WHERE schema_name = 'main' AND NOT internal) WHERE name = ? AND list_contains(?, kind)",
        [name, list(kinds)]).fetchall()[0][0])


LAKE_RELATIONS = "lake_relations"


def from_lake(con, name: str) -> bool:
    """Whether relation `name` is a view over a Parquet lake the Spark engine built (observatory.spark.attach_lake):
    its rows are the engine's, and the DuckDB engine does not rebuild it."""
    if not table_exists(con, LAKE_RELATIONS, "table"):
        return False
    return bool(con.execute(f"SELECT count(*) FROM {LAKE_RELATIONS} WHERE name = ?", [name]).fetchone()[0])


def row_count(con, name: str) -> int:
    """Rows of table `name`, 0 when it does not exist (a step that was not estimable writes no table)."""
    return con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0] if table_exists(con, name) else 0


def write_table(con, name: str, frame) -> None:
    """(Re)create table `name` from a pandas DataFrame or Arrow table."""
    con.register("_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")


def connect(path: str | Path | None = None, *, read_only: bool = False):
    """Open (creating if needed) the observatory database with the session settings every step relies on.

    Timestamps are compared and printed in UTC: the contract reads naive timestamps as UTC.
    """
    path = Path(path) if path is not None else default_db_path()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    configure(con)
    return con


MEMORY_ENV_VAR = "OBSERVATORY_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"


def configure(con):
    """Session settings every step relies on, for connections opened elsewhere (e.g. by Dagster's resource).

    Timestamps in UTC; DuckDB's own progress bar off (our callers report progress); a memory limit
    (`$OBSERVATORY_MEMORY_LIMIT`, default 4GB) beyond which DuckDB spills to disk instead of growing.
    """
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    limit = os.environ.get(MEMORY_ENV_VAR) or DEFAULT_MEMORY_LIMIT
    con.execute(f"SET memory_limit = '{_checked_size(limit)}'")
    return con


def _checked_size(size: str) -> str:
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[KMGT]i?B\s*", size, flags=re.I):
        raise ValueError(f"not a memory size: {size!r} (expected e.g. '4GB')")
    return size.strip()


# The staging layer, in dependency order: `stg_*` views (sql/staging/) define the clean records; each clean entity
# is also a table of the same name as its view without `stg_`, refreshed after every ingest (`refresh_clean_tables`).
# A deduplicating window over 10^7 raw rows is cheap to define and costly to recompute in every query, so the
# researchers' `comments` and every analysis read the table. `quarantine` stays a view: it is read rarely and must
# always reflect what is known now.
STAGING = (
    ("view", "finished_drops"),
    ("view", "stg_agents"), ("table", "agents"),
    ("view", "stg_agent_names"),
    ("view", "stg_posts_resolved"), ("view", "stg_posts"), ("table", "posts"),
    ("view", "stg_submolts"), ("table", "submolts"),
    ("view", "stg_comments_resolved"), ("view", "stg_comments"), ("table", "comments"),
    ("view", "stg_votes"), ("table", "votes"),
    ("view", "stg_tasks_resolved"), ("view", "stg_tasks"), ("table", "tasks"),
    ("view", "quarantine"),
)
CLEAN_TABLES = tuple(name for kind, name in STAGING if kind == "table")


def _create_macros(con) -> None:
    for path in sorted((sql_dir() / "macros").glob("*.sql")):
        con.execute(f"CREATE OR REPLACE MACRO {path.read_text()}")


def _create_staging(con, refresh: bool) -> None:
    _create_macros(con)
    # A database from before the clean tables had views of these names: replace them.
    for name in CLEAN_TABLES:
        if table_exists(con, name, "view"):
            con.execute(f"DROP VIEW {name}")
    for kind, name in STAGING:
        if kind == "view":
            con.execute(f"CREATE OR REPLACE VIEW {name} AS\n{(sql_dir() / 'staging' / f'{name}.sql').read_text()}")
        elif refresh or not table_exists(con, name, "table"):
            # Created (or recomputed) from what has been ingested: empty in a new database, complete in one that
            # predates the clean tables.
            refresh_clean_table(con, name)


def _finished_through(con) -> int:
    return con.execute("SELECT coalesce(max(drop_seq), 0) FROM ingest_drops WHERE finished_at IS NOT NULL").fetchone()[0]


def clean_tables_stale(con) -> bool:
    """Whether a finished drop is missing from a clean table (the refresh after it never committed)."""
    through = _finished_through(con)
    state = dict(con.execute("SELECT table_name, refreshed_through FROM clean_table_state").fetchall())
    return any(state.get(name, 0) < through for name in CLEAN_TABLES)


def invalidate_clean_tables(con) -> None:
    """Make the next refresh of every clean table a full one (after drops were removed)."""
    con.execute("DELETE FROM clean_table_state")


# Incremental refresh of the clean tables. A new drop changes the clean row of a key only if the drop holds a copy
# of it, or if what the row is resolved against changed: the agent that holds a name, an agent's shown name, a
# post's existence or author. Each refresh logs the keys whose row changed in the columns others read
# (`clean_changes`: a sequence number, the drops it brought the table through, the table, the key; a NULL key for a
# full rebuild), so that a table recomputes its keys with a copy in the new drops (`$drops`) and those resolved
# against what changed since it was last refreshed (`$since`). The same staging SQL recomputes exactly those keys
# from all their copies ("the copy observed last wins" looks at every copy of a key, old and new).
_NEW = "_drop_seq IN (SELECT unnest($drops::INTEGER[]))"
_CHANGED = "SELECT key FROM clean_changes WHERE table_name = '{}' AND through > $since"
_CHANGED_AGENTS = _CHANGED.format("agents")
_CHANGED_NAMES = f"SELECT name FROM agents WHERE id IN ({_CHANGED_AGENTS}) AND name IS NOT NULL"
_CHANGED_POSTS = _CHANGED.format("posts")
# What each table's rows are resolved against: a full rebuild of one of these makes the next refresh full too.
RESOLVED_AGAINST = {"posts": ("agents",), "comments": ("agents", "posts"), "tasks": ("posts",)}
# The columns whose change is logged: a re-scrape with new counters changes nothing anyone resolves against.
CHANGE_LOGGED = {"agents": ("id", "name"),
                 "posts": ("id", "title", "content", "url", "submolt", "author_id", "created_at", "is_deleted"),
                 "comments": ("id", "post_id", "parent_id", "author_id", "content", "created_at", "is_deleted")}
CLEAN_KEYS = {"agents": ("id",), "posts": ("id",), "comments": ("id",), "tasks": ("id",),
              "votes": ("voter_id", "target_type", "target_id")}
_TOUCHED = {
    "agents": f"SELECT id FROM raw_agents WHERE {_NEW}",
    "posts": (f"SELECT id FROM raw_posts WHERE {_NEW} "
              f"UNION SELECT id FROM raw_posts WHERE author_id IS NULL AND author_name IN ({_CHANGED_NAMES}) "
              f"UNION SELECT id FROM posts WHERE author_id IN ({_CHANGED_AGENTS})"),
    "comments": (f"SELECT id FROM raw_comments WHERE {_NEW} "
                 f"UNION SELECT id FROM raw_comments WHERE author_id IS NULL AND author_name IN ({_CHANGED_NAMES}) "
                 f"UNION SELECT id FROM comments WHERE author_id IN ({_CHANGED_AGENTS}) "
                 f"UNION SELECT id FROM raw_comments WHERE post_id IN ({_CHANGED_POSTS})"),
    "tasks": f"SELECT id FROM raw_tasks WHERE {_NEW} UNION SELECT id FROM raw_tasks WHERE post_id IN ({_CHANGED_POSTS})",
    "votes": f"SELECT voter_id, target_type, target_id FROM raw_votes WHERE {_NEW}",
}
# An agent's row can change who holds a name without its own name changing (two agents of one name: the one
# observed last holds it), so a touched agent whose name another agent shares is logged too.
_SHARED_NAMES = ("SELECT id FROM agents WHERE id IN (SELECT id FROM _touched) AND name IN "
                 "(SELECT name FROM agents GROUP BY name HAVING count(*) > 1)")


def _chain(name: str) -> list[str]:
    """The staging views between a clean table and its raw table, outermost first (stg_comments, then
    stg_comments_resolved)."""
    from observatory.sqlmodels import catalogue

    models = catalogue()
    return [view for view in (f"stg_{name}", f"stg_{name}_resolved") if view in models]


def _sql_fingerprint(name: str) -> str:
    """A hash of the SQL that defines a clean table (its views and the macros): a changed definition means a full
    refresh."""
    from observatory.sqlmodels import catalogue, fingerprint

    models = catalogue()
    texts = [models[view].path.read_text() for view in _chain(name)]
    texts += [p.read_text() for p in sorted((sql_dir() / "macros").glob("*.sql"))]
    return fingerprint(*texts)


def refresh_clean_table(con, name: str, *, full: bool = False) -> int:
    """Bring one clean table up to date with every finished drop; returns its row count.

    Incremental where it can be: only the keys a newly finished drop can change are recomputed (see `_TOUCHED`),
    from every copy of each, by the table's own staging SQL; a full rebuild when the table is new, drops were
    removed, its SQL changed, or `full`. Which drops each clean table reflects is recorded (`clean_table_state`),
    so a crash between finishing a drop and refreshing is detected (`clean_tables_stale`) and repaired by the next
    ingest.
    """
    through = _finished_through(con)
    fingerprint = _sql_fingerprint(name)
    state = con.execute("SELECT refreshed_through, sql_fingerprint FROM clean_table_state WHERE table_name = ?",
                        [name]).fetchone()
    exists = table_exists(con, name, "table")
    # An empty table has nothing to keep: building it whole costs a fraction of recomputing every key as touched
    # (the first drop of a database, 8.8 s of incremental refreshes at 100,000 agents).
    incremental = (not full and exists and state is not None and state[1] == fingerprint and name in _TOUCHED
                   and (through == state[0] or con.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(name)})").fetchone()[0])
                   and not con.execute(
                       "SELECT count(*) FROM clean_changes WHERE key IS NULL AND through > ? AND table_name IN "
                       "(SELECT unnest(?::VARCHAR[]))", [state[0], list(RESOLVED_AGAINST.get(name, ()))]
                   ).fetchone()[0])
    if not incremental:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM stg_{name}")
        if name in CHANGE_LOGGED:  # every key may have changed: a marker, and older entries are moot
            seq = _next_change(con)
            con.execute("DELETE FROM clean_changes WHERE table_name = ?", [name])
            con.execute("INSERT INTO clean_changes VALUES (?, ?, ?, NULL)", [seq, through, name])
    elif through > state[0]:
        new = [row[0] for row in con.execute(
            "SELECT drop_seq FROM ingest_drops WHERE finished_at IS NOT NULL AND drop_seq > ? ORDER BY drop_seq",
            [state[0]]).fetchall()]
        _refresh_keys(con, name, new, state[0], through)
    con.execute("INSERT OR REPLACE INTO clean_table_state VALUES (?, ?, ?, now())", [name, through, fingerprint])
    return con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


def _next_change(con) -> int:
    return con.execute("SELECT coalesce(max(seq), 0) + 1 FROM clean_changes").fetchone()[0]


def _refresh_keys(con, name: str, new_drops: list[int], since: int, through: int) -> None:
    from observatory.sqlmodels import renamed_sql

    keys = CLEAN_KEYS[name]
    query = _TOUCHED[name]
    key_list = ", ".join(quote(k) for k in keys)
    on = " AND ".join(f"t.{quote(k)} = r.{quote(k)}" for k in keys)
    parameters = {k: v for k, v in (("drops", new_drops), ("since", since)) if f"${k}" in query}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT {key_list} FROM ({query})", parameters)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _delta_raw AS SELECT r.* FROM raw_{name} AS r "
                f"SEMI JOIN _touched AS t ON {on}")
    chain = _chain(name)
    renames = {f"raw_{name}": "_delta_raw", **{view: f"_delta_{view}" for view in chain}}
    for view in reversed(chain):
        con.execute(f"CREATE OR REPLACE TEMP VIEW _delta_{view} AS {renamed_sql(view, renames)}")
    on_table = " AND ".join(f"{quote(name)}.{quote(k)} = t.{quote(k)}" for k in keys)
    if name in CHANGE_LOGGED:  # what the cascade marts recompute from (observatory.studies.cascades)
        # a row's logged columns as one 64-bit hash: comparing texts costs more than recomputing them
        columns = f"id, hash({', '.join(quote(c) for c in CHANGE_LOGGED[name])}) AS h"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _before AS SELECT {columns} FROM {quote(name)} "
                    "WHERE id IN (SELECT id FROM _touched)")
    con.execute(f"DELETE FROM {quote(name)} USING _touched AS t WHERE {on_table}")
    con.execute(f"INSERT INTO {quote(name)} BY NAME SELECT * FROM _delta_{chain[0]}")
    if name in CHANGE_LOGGED:
        seq = _next_change(con)
        con.execute(
            f"""INSERT INTO clean_changes SELECT DISTINCT ?, ?, ?, id FROM (
                (SELECT * FROM _before EXCEPT SELECT {columns} FROM {quote(name)} WHERE id IN (SELECT id FROM _touched))
                UNION ALL
                (SELECT {columns} FROM {quote(name)} WHERE id IN (SELECT id FROM _touched) EXCEPT SELECT * FROM _before))""",
            [seq, through, name])
        if name == "agents":
            con.execute(f"INSERT INTO clean_changes SELECT ?, ?, ?, id FROM ({_SHARED_NAMES})", [seq, through, name])
        con.execute("DROP TABLE IF EXISTS temp._before")
    for view in chain:
        con.execute(f"DROP VIEW IF EXISTS temp._delta_{view}")
    con.execute("DROP TABLE IF EXISTS temp._delta_raw")
    con.execute("DROP TABLE IF EXISTS temp._touched")


def refresh_clean_tables(con) -> dict[str, int]:
    """Bring the clean tables (`agents`, `posts`, `submolts`, `comments`, `votes`, `tasks`) up to date with their
    `stg_*` views, in one transaction; returns their row counts. The ingest calls it after every drop."""
    con.execute("BEGIN TRANSACTION")
    try:
        _create_staging(con, refresh=True)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in CLEAN_TABLES}


INGEST_TABLES_DDL = (
    """CREATE TABLE IF NOT EXISTS ingest_drops (
        drop_seq INTEGER PRIMARY KEY,
        drop_path VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        files INTEGER,
        rows_read BIGINT,
        rows_loaded BIGINT,
        rows_quarantined BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS ingest_log (
        drop_seq INTEGER NOT NULL,
        file VARCHAR NOT NULL,
        entity VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        content_sha256 VARCHAR NOT NULL,
        bytes BIGINT NOT NULL,
        rows_read BIGINT NOT NULL,
        rows_loaded BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine_rows (
        drop_seq INTEGER NOT NULL,
        file VARCHAR NOT NULL,
        line BIGINT,
        entity VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        field VARCHAR,
        detail VARCHAR,
        raw VARCHAR,
        raw_bytes BLOB,
        path VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS clean_table_state (
        table_name VARCHAR PRIMARY KEY,
        refreshed_through INTEGER NOT NULL,
        sql_fingerprint VARCHAR NOT NULL,
        refreshed_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS clean_changes (
        seq BIGINT NOT NULL,
        through INTEGER NOT NULL,
        table_name VARCHAR NOT NULL,
        key VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS mart_state (
        table_name VARCHAR PRIMARY KEY,
        seq BIGINT NOT NULL,
        fingerprint VARCHAR NOT NULL,
        refreshed_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS mart_changes (
        seq BIGINT NOT NULL,
        item VARCHAR
    )""",
    # Superseded by clean_table_state (one row per clean table): its next refresh of each table is a full one.
    "DROP TABLE IF EXISTS clean_tables_state",
)

# Columns added since a table was first created: a database from an earlier version gains them (empty).
ADDED_COLUMNS = (("quarantine_rows", "path", "VARCHAR"),)


def ensure_bookkeeping(con) -> None:
    """Create the ingest's and the incremental refreshes' bookkeeping tables if missing (cheap: no views)."""
    for ddl in INGEST_TABLES_DDL:
        con.execute(ddl)


def ensure_schema(con) -> None:
    """Create the raw tables, the ingest bookkeeping, the staging views and (empty) clean tables if missing."""
    for entity in ENTITIES:
        con.execute(raw_table_ddl(entity))
        for name, typ in raw_table_columns(entity):
            con.execute(f"ALTER TABLE {entity.raw_table} ADD COLUMN IF NOT EXISTS {quote(name)} {typ}")
    for ddl in INGEST_TABLES_DDL:
        con.execute(ddl)
    for table, name, typ in ADDED_COLUMNS:
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(name)} {typ}")
    _create_staging(con, refresh=False)


def build_table(con, name: str, variables: dict | None = None) -> int:
    """(Re)build the relation `name` of `sql/` (see :mod:`observatory.sqlmodels`); returns its row count."""
    from observatory.sqlmodels import build

    return build(con, name, variables)
