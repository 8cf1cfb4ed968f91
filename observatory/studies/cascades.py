"""Cascades: items, adoptions, exposures, cascade trees, and the power-law fit of cascade sizes.

The relational work is SQL (`sql/marts/`): `item_mentions` (every use of an item), `adoptions` (first use per agent
and item), `exposures` (the contract's rule, see docs/contract.md), `cascade_edges` (each adoption's parent is the
agent whose post or comment exposed it first), `cascade_nodes` (the trees), `cascades` (per-cascade statistics)
and `items`. The power-law fit of their sizes is the power-law study (:mod:`observatory.studies.powerlaw`).
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from observatory import db
from observatory.config import CascadeConfig

__all__ = ["CascadeConfig", "build_cascades", "cascade_summary", "refresh_cascade_table"]

TABLES = ("item_mentions", "adoptions", "exposures", "cascade_edges", "cascade_nodes", "cascades", "items")


def build_cascades(con, config: CascadeConfig | None = None, *, full: bool = False) -> dict[str, int]:
    """Bring the cascade tables up to date with the clean tables; returns the row count of each.

    Incremental (see :func:`refresh_cascade_table`) unless `full`.
    """
    config = config or CascadeConfig()
    db.configure(con)
    if config.extract_duplicates or not db.table_exists(con, "duplicate_texts"):
        from observatory.sqlmodels import build

        build(con, "duplicate_texts", asdict(config))
    return {name: refresh_cascade_table(con, name, config, full=full) for name in TABLES}


# Incremental cascade tables. Every cascade table is a function of each item separately (an item's mentions, its
# adoptions, the exposures to it, its trees), and item_mentions of each post or comment separately. So a new drop
# changes item_mentions only for the posts and comments whose clean rows changed (logged by the clean tables'
# refresh, `clean_changes`), and the other tables only for the items whose mentions changed or whose threads
# gained or lost a comment (logged here, `mart_changes`). Those rows are deleted and recomputed by the tables'
# own SQL applied to the touched posts, comments or items (observatory.sqlmodels.renamed_sql).


def _fingerprint(name: str, config: CascadeConfig) -> str:
    from observatory.sqlmodels import catalogue, fingerprint

    configuration = repr(sorted(asdict(config).items())) if name == "item_mentions" else ""
    return fingerprint(catalogue()[name].path.read_text(), configuration)


def _state(con, name: str):
    return con.execute("SELECT seq, fingerprint FROM mart_state WHERE table_name = ?", [name]).fetchone()


def _set_state(con, name: str, seq: int, fingerprint: str) -> None:
    con.execute("INSERT OR REPLACE INTO mart_state VALUES (?, ?, ?, now())", [name, seq, fingerprint])


def refresh_cascade_table(con, name: str, config: CascadeConfig | None = None, *, full: bool = False) -> int:
    """Bring one cascade table up to date; returns its row count.

    `item_mentions` recomputes the posts and comments the clean tables' refreshes changed since it last ran; each
    later table the items item_mentions logged as changed since it last ran. A table is rebuilt in full when it is
    new, its SQL or the configuration changed, its input was rebuilt in full, word n-grams or duplicates are
    extracted (they count adopters or uses across posts, so they are not a function of each post), or `full`.
    """
    from observatory.sqlmodels import build

    if db.from_lake(con, name):
        return db.row_count(con, name)  # built by the Spark engine, read from its lake
    config = config or CascadeConfig()
    db.ensure_bookkeeping(con)
    fingerprint = _fingerprint(name, config)
    state = _state(con, name)
    possible = (not full and state is not None and state[1] == fingerprint and db.table_exists(con, name)
                and not config.extract_memes and not config.extract_duplicates)
    if name == "item_mentions":
        last = con.execute("SELECT coalesce(max(seq), 0) FROM clean_changes").fetchone()[0]
        rebuilt = possible and con.execute(
            "SELECT count(*) FROM clean_changes WHERE seq > ? AND key IS NULL AND table_name IN ('posts', 'comments')",
            [state[0]]).fetchone()[0]
    else:
        last = con.execute("SELECT coalesce(max(seq), 0) FROM mart_changes").fetchone()[0]
        rebuilt = possible and con.execute(
            "SELECT count(*) FROM mart_changes WHERE seq > ? AND item IS NULL", [state[0]]).fetchone()[0]
    if not possible or rebuilt:
        rows = build(con, name, asdict(config))
        if name == "item_mentions":  # every item may have changed
            seq = _next_mart_change(con)
            con.execute("DELETE FROM mart_changes")
            con.execute("INSERT INTO mart_changes VALUES (?, NULL)", [seq])
        _set_state(con, name, last, fingerprint)
        return rows
    if last > state[0]:
        if name == "item_mentions":
            _update_mentions(con, state[0], config)
        else:
            _update_items(con, name, state[0])
    _set_state(con, name, last, fingerprint)
    return db.row_count(con, name)


def _next_mart_change(con) -> int:
    return con.execute("SELECT coalesce(max(seq), 0) + 1 FROM mart_changes").fetchone()[0]


def _update_mentions(con, since: int, config: CascadeConfig) -> None:
    from observatory.sqlmodels import renamed_sql

    for variable, value in asdict(config).items():
        con.execute(f"SET VARIABLE {variable} = ?", [value])
    con.execute("CREATE OR REPLACE TEMP TABLE _touched_content AS SELECT DISTINCT table_name, key FROM clean_changes "
                "WHERE seq > ? AND table_name IN ('posts', 'comments')", [since])
    con.execute("CREATE OR REPLACE TEMP VIEW _delta_posts AS SELECT * FROM posts "
                "WHERE id IN (SELECT key FROM _touched_content WHERE table_name = 'posts')")
    con.execute("CREATE OR REPLACE TEMP VIEW _delta_comments AS SELECT * FROM comments "
                "WHERE id IN (SELECT key FROM _touched_content WHERE table_name = 'comments')")
    touched = ("(content_type = 'post' AND content_id IN (SELECT key FROM _touched_content WHERE table_name = 'posts')) "
               "OR (content_type = 'comment' AND content_id IN "
               "(SELECT key FROM _touched_content WHERE table_name = 'comments'))")
    # The items to recompute downstream: those of the mentions removed and added, those the threads of touched
    # comments carry (a comment exposes its author to its post's and its parent's items), and those the touched
    # comments were exposures to before.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _touched_items AS SELECT DISTINCT item FROM item_mentions WHERE {touched}")
    con.execute(f"DELETE FROM item_mentions WHERE {touched}")
    con.execute("INSERT INTO item_mentions BY NAME "
                + renamed_sql("item_mentions", {"posts": "_delta_posts", "comments": "_delta_comments"}))
    con.execute(
        f"""INSERT INTO _touched_items
        SELECT item FROM item_mentions WHERE {touched}
        UNION SELECT m.item FROM _delta_comments c JOIN item_mentions m
            ON (m.content_type = 'post' AND m.content_id = c.post_id)
            OR (m.content_type = 'comment' AND m.content_id = c.parent_id)
        UNION SELECT item FROM exposures WHERE comment_id IN
            (SELECT key FROM _touched_content WHERE table_name = 'comments')""")
    con.execute("INSERT INTO mart_changes SELECT DISTINCT ?, item FROM _touched_items", [_next_mart_change(con)])
    for name in ("_delta_posts", "_delta_comments"):
        con.execute(f"DROP VIEW IF EXISTS temp.{name}")
    for name in ("_touched_content", "_touched_items"):
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _update_items(con, name: str, since: int) -> None:
    """Recompute one cascade table for the items changed since `since`, from its upstream tables restricted to them."""
    from observatory.sqlmodels import catalogue, renamed_sql

    con.execute("CREATE OR REPLACE TEMP TABLE _items AS SELECT DISTINCT item FROM mart_changes WHERE seq > ?", [since])
    upstream = [t for t in TABLES if t in catalogue()[name].reads]
    for table in upstream:
        con.execute(f"CREATE OR REPLACE TEMP VIEW _items_{table} AS SELECT * FROM {table} "
                    "WHERE item IN (SELECT item FROM _items)")
    con.execute(f"DELETE FROM {name} WHERE item IN (SELECT item FROM _items)")
    con.execute(f"INSERT INTO {name} BY NAME " + renamed_sql(name, {t: f"_items_{t}" for t in upstream}))
    for table in upstream:
        con.execute(f"DROP VIEW IF EXISTS temp._items_{table}")
    con.execute("DROP TABLE IF EXISTS temp._items")


def cascade_summary(con) -> pd.DataFrame:
    """Cascade statistics by item kind: how many cascades, their sizes, depth and structural virality."""
    return con.execute(
        """
        SELECT kind, count(*) AS cascades, sum(size) AS adoptions, avg(size) AS mean_size, max(size) AS max_size,
               avg(depth) AS mean_depth, max(depth) AS max_depth, avg(structural_virality) AS mean_virality
        FROM cascades GROUP BY kind ORDER BY kind
        """
    ).df()
