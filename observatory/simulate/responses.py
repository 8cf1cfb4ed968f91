"""Writing a simulated society as the Moltbook API's responses, in the layout scrapers save them.

`simulate(..., SimulationConfig(layout="api"))` first writes the society as per-entity files, then this module
turns them into what a scrape of the API holds, with DuckDB doing the relational work:

* `posts/<post id>.json`: a post detail response (`{"success", "post", "comments", "_downloaded_at",
  "_endpoint"}`), the post with its `author` and `submolt` objects, its comments as a tree of `replies` (without
  `post_id` or `depth`, which the tree implies);
* `agents/<agent id>.json`: a profile response, the agent with its `owner` object, and its five latest posts and
  comments as `recentPosts` / `recentComments` (list items without parent ids, as the API shows them);
* `submolts/<submolt id>.json`: a submolt response, with `created_by`;
* `votes/` and `tasks/` stay per-entity files: the API has no endpoint for them.

The same society ingested from either layout gives the same clean tables (a test checks their checksums). Files are
named by id: agents' and submolts' names are hostile text. Documents are pretty-printed, as scrapers write them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

RECENT = 5  # latest posts and comments shown on a profile

def _fields(alias: str, *names: str) -> str:
    """json_object arguments copying fields of a record `alias.r` (JSON) as they are."""
    return ", ".join(f"'{n}', {alias}.r -> '{n}'" for n in names)


_POST = f"json_object({_fields('p', 'id', 'title', 'content', 'url', 'upvotes', 'downvotes', 'comment_count', 'is_pinned', 'created_at', 'submolt', 'author')})"


def write_responses(entity_dir: Path, out_dir: Path) -> dict[str, int]:
    """Turn the per-entity JSONL drop in `entity_dir` (API shape) into response files under `out_dir`; returns the
    number of files written per folder."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Records as JSON, their values kept exactly as written (no type detection of ids or timestamps).
        for entity in ("agents", "submolts", "posts", "comments"):
            con.execute(
                f"CREATE TABLE {entity} AS SELECT json AS r, json ->> 'id' AS id, json ->> 'created_at' AS created_at "
                "FROM read_json_objects(?, format = 'newline_delimited')", [str(entity_dir / entity / "*.jsonl")])
        written = {"posts": _write_post_details(con, out_dir / "posts"),
                   "agents": _write_profiles(con, out_dir / "agents"),
                   "submolts": _write_submolts(con, out_dir / "submolts")}
    finally:
        con.close()
    for entity in ("votes", "tasks"):
        if (entity_dir / entity).is_dir():
            shutil.copytree(entity_dir / entity, out_dir / entity, dirs_exist_ok=True)
    return written


def _write_documents(con, query: str, folder: Path) -> int:
    """Write each `(name, document)` row of a query as `folder/<name>.json`, pretty-printed."""
    from observatory.ingest.load import _arrow_reader

    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for batch in _arrow_reader(con, query, None, 10_000):
        for name, document in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            (folder / f"{name}.json").write_text(json.dumps(json.loads(document), indent=2, ensure_ascii=False) + "\n")
            n += 1
    return n


def _write_post_details(con, folder: Path) -> int:
    # Comment trees bottom-up: each comment's JSON holds its replies' JSON, level by level from the deepest.
    con.execute(
        "CREATE TABLE nodes AS SELECT c.id, c.r ->> 'post_id' AS post_id, c.r ->> 'parent_id' AS parent_id, "
        "CAST(c.r ->> 'depth' AS INTEGER) AS depth, c.created_at, "
        f"json_object({_fields('c', 'id', 'content', 'parent_id', 'upvotes', 'downvotes', 'created_at', 'author')}) "
        "AS body, CAST(NULL AS JSON) AS node FROM comments AS c"
    )
    deepest = con.execute("SELECT coalesce(max(depth), -1) FROM nodes").fetchone()[0]
    for depth in range(deepest, -1, -1):
        con.execute(
            """
            UPDATE nodes SET node = json_merge_patch(nodes.body, json_object('replies', coalesce(children.replies,
                json('[]'))))
            FROM (SELECT n.id, r.replies FROM nodes AS n
                  LEFT JOIN (SELECT parent_id, to_json(list(node ORDER BY created_at, id)) AS replies
                             FROM nodes WHERE depth = ? GROUP BY parent_id) AS r ON r.parent_id = n.id
                  WHERE n.depth = ?) AS children
            WHERE nodes.id = children.id
            """, [depth + 1, depth])
    query = f"""
        SELECT p.id, json_object('success', true, 'post', {_POST},
            'comments', coalesce(t.tree, json('[]')), '_downloaded_at', p.r -> 'fetched_at',
            '_endpoint', '/posts/' || p.id)
        FROM posts AS p
        LEFT JOIN (SELECT post_id, to_json(list(node ORDER BY created_at, id)) AS tree FROM nodes
                   WHERE depth = 0 GROUP BY post_id) AS t ON t.post_id = p.id
        ORDER BY p.id
    """
    return _write_documents(con, query, folder)


def _write_profiles(con, folder: Path) -> int:
    query = f"""
        WITH authored_posts AS (
            SELECT p.r ->> '$.author.id' AS agent_id, p.created_at, p.id,
                   json_object({_fields('p', 'id', 'title', 'content', 'upvotes', 'downvotes', 'comment_count',
                                        'created_at')},
                               'submolt', json_object('name', p.r -> '$.submolt.name')) AS item
            FROM posts AS p
        ),
        authored_comments AS (
            SELECT coalesce(c.r ->> '$.author.id', a.id) AS agent_id, c.created_at, c.id,
                   json_object({_fields('c', 'id', 'content', 'upvotes', 'downvotes', 'created_at')},
                               'post', json_object('id', c.r -> 'post_id')) AS item
            FROM comments AS c
            LEFT JOIN agents AS a ON json_type(c.r, '$.author') = 'VARCHAR' AND a.r ->> 'name' = c.r ->> '$.author'
        ),
        recent_posts AS (
            SELECT agent_id, to_json(list(item ORDER BY created_at DESC, id)) AS items FROM (
                SELECT * FROM authored_posts QUALIFY row_number() OVER (PARTITION BY agent_id
                                                                         ORDER BY created_at DESC, id) <= {RECENT})
            GROUP BY agent_id
        ),
        recent_comments AS (
            SELECT agent_id, to_json(list(item ORDER BY created_at DESC, id)) AS items FROM (
                SELECT * FROM authored_comments QUALIFY row_number() OVER (PARTITION BY agent_id
                                                                            ORDER BY created_at DESC, id) <= {RECENT})
            GROUP BY agent_id
        )
        SELECT a.id, json_object('success', true,
            'agent', json_object({_fields('a', 'id', 'name', 'description', 'karma', 'created_at', 'is_claimed',
                                          'follower_count', 'following_count')},
                                 'owner', CASE WHEN a.r ->> 'owner_x_handle' IS NOT NULL
                                               THEN json_object('x_handle', a.r -> 'owner_x_handle') END),
            'recentPosts', coalesce(rp.items, json('[]')), 'recentComments', coalesce(rc.items, json('[]')),
            '_downloaded_at', a.r -> 'fetched_at', '_endpoint', '/agents/profile?name=' || (a.r ->> 'name'))
        FROM agents AS a
        LEFT JOIN recent_posts AS rp ON rp.agent_id = a.id
        LEFT JOIN recent_comments AS rc ON rc.agent_id = a.id
        ORDER BY a.id
    """
    return _write_documents(con, query, folder)


def _write_submolts(con, folder: Path) -> int:
    query = f"""
        SELECT s.id, json_object('success', true,
            'submolt', json_object({_fields('s', 'id', 'name', 'display_name', 'description', 'subscriber_count',
                                            'post_count', 'created_at')},
                                   'created_by', json_object('id', s.r -> 'owner_id', 'name', s.r -> 'owner')),
            'posts', json('[]'), '_downloaded_at', s.r -> 'fetched_at', '_endpoint', '/submolts/' || (s.r ->> 'name'))
        FROM submolts AS s ORDER BY s.id
    """
    return _write_documents(con, query, folder)
