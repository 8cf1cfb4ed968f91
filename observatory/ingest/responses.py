"""Where records sit inside the Moltbook API's responses, as data, and the SQL that takes them out.

Researchers hold what a scraper saved: one response per file (`data/posts/<id>.json`: a post with its comment
tree; `data/agents/<name>.json`: a profile with its recent posts and comments; `data/submolts/<name>.json`), list
responses, or the same envelopes one per line in NDJSON archives. The ingest reads every JSON document of a drop;
a document that is not itself a record (it has no `id` and no `created_at`) but holds one of :data:`ENVELOPE_KEYS` is a response, and
the records in it are taken out here, each with the place it sat (`$.comments[0].replies[2]`), whether it is a
complete record or a *partial observation* (a list item, an author object embedded in a comment), and the values it
inherits from its envelope (a comment in a post's tree belongs to that post, at the depth it sits; a profile's
recent posts are the profile agent's). Those inherited values are *defaults*: a record's own fields win.

The records then go through the same checks and typing as records of a per-entity file
(:func:`observatory.ingest.load` builds that SQL from :mod:`observatory.contract`).
"""

from __future__ import annotations

from dataclasses import dataclass

# A document that holds one of ENVELOPE_KEYS and none of NOT_IN_ENVELOPES is an API response (an envelope of
# records). Records have an `id` or a `created_at` (a post missing its id still has its `submolt`, an envelope key:
# it is a broken post, not a response); no response has either at its top.
ENVELOPE_KEYS = ("post", "posts", "comment", "comments", "agent", "agents", "submolt", "submolts", "recentPosts",
                 "recentComments")
NOT_IN_ENVELOPES = ("id", "created_at")

# Every path the SQL below reads from an envelope, extracted from each document in one pass (`_parts`, a list of
# JSON values, built by the ingest): the document is parsed once, not once per placement.
ENVELOPE_PATHS: list[str] = []


def part(path: str) -> str:
    """SQL for the JSON value at `path` of the envelope (NULL where absent)."""
    if path not in ENVELOPE_PATHS:
        ENVELOPE_PATHS.append(path)
    return f"_parts[{ENVELOPE_PATHS.index(path) + 1}]"


# When the response was observed: scrapers add `_downloaded_at`, archivers `fetched_at`.
OBSERVED_AT = f"coalesce({part('$._downloaded_at')}, {part('$.fetched_at')})"

# The post a tree of comments belongs to: the detail's post, an archiver's `post_id`, else the endpoint fetched
# (`/posts/<id>/comments`).
TREE_POST_ID = (
    f"coalesce({part('$.post.id')}, {part('$.post_id')}, "
    f"to_json(nullif(regexp_extract({part('$._endpoint')} ->> '$', '/posts/([^/?#]+)', 1), '')))"
)

# The profile whose recent posts and comments these are.
PROFILE_AUTHOR = (("author_id", part("$.agent.id")), ("author_name", part("$.agent.name")))


@dataclass(frozen=True)
class Placement:
    """Records of `entity` at `key` of a response: one object, or a list of them (`many`).

    `defaults` are (field, SQL over the envelope `_doc`) pairs: values the record takes where it lacks the field.
    A list of strings is taken as names where `names_as` says which field they fill (a submolt list of names).
    """

    entity: str
    key: str
    many: bool
    partial: bool
    defaults: tuple[tuple[str, str], ...] = ()
    names_as: str | None = None
    # An object nested in the envelope that describes another record (a submolt's creator): partial, and only an
    # observation where it carries its key.
    embedded: bool = False


PLACEMENTS = (
    # GET /posts/{id}: the post in full, and its comments (a tree, see TREE below).
    Placement("posts", "post", many=False, partial=False),
    # GET /posts, GET /submolts/{name}: list items; a submolt's posts belong to it.
    Placement("posts", "posts", many=True, partial=True,
              defaults=(("submolt", part("$.submolt.name")), ("submolt_id", part("$.submolt.id")))),
    # GET /agents/profile: the agent in full, its recent posts and comments as list items.
    Placement("agents", "agent", many=False, partial=False),
    Placement("posts", "recentPosts", many=True, partial=True, defaults=PROFILE_AUTHOR),
    Placement("comments", "recentComments", many=True, partial=True, defaults=PROFILE_AUTHOR),
    # An archiver's comment envelope: {"type": "comment", "post_id", "depth", "comment": {...}}.
    Placement("comments", "comment", many=False, partial=False,
              defaults=(("post_id", part("$.post_id")), ("depth", part("$.depth")))),
    Placement("agents", "agents", many=True, partial=True),
    # GET /submolts/{name}: the submolt in full; GET /submolts: list items (or names).
    Placement("submolts", "submolt", many=False, partial=False),
    Placement("submolts", "submolts", many=True, partial=True, names_as="name"),
    Placement("agents", "submolt.created_by", many=False, partial=True, embedded=True),
    Placement("agents", "submolt.moderators", many=True, partial=True, embedded=True),
)

# A post detail's (or GET /posts/{id}/comments') comments: a tree whose every node lists its `replies`. Flattened,
# each node is a comment of the envelope's post, with its tree parent and depth as defaults.
TREE_KEY, REPLIES_KEY = "comments", "replies"

# Objects embedded in records, which are partial observations of other records: the author of a post or comment is
# an agent, a post's submolt a submolt. Only objects that carry the other record's key count (an author object
# without an `id` is a reference, resolved by name like the SDK's author string).
EMBEDS = {
    "posts": (("author", "agents", "id"), ("submolt", "submolts", "name")),
    "comments": (("author", "agents", "id"),),
}

# The key an embedded object must carry to be an observation, per entity.
ENTITY_KEY = {"agents": "id", "submolts": "name", "posts": "id", "comments": "id"}


def _defaults_sql(placement_defaults: tuple[tuple[str, str], ...]) -> str:
    pairs = [("fetched_at", OBSERVED_AT), *placement_defaults]
    return "json_object(" + ", ".join(f"'{name}', {expr}" for name, expr in pairs) + ")"


def _json_path(key: str) -> str:
    return "$." + key


def placement_sql(p: Placement) -> str:
    """SELECT of the records one placement yields from the envelopes in `_envelopes(_fid, _line, _parts)`:
    `_entity, _fid, _line, _path, _partial, _embedded, _text, _defaults`."""
    path = _json_path(p.key)
    value = part(path)
    defaults = _defaults_sql(p.defaults)
    head = f"'{p.entity}' AS _entity, _fid, _line"
    flags = f"{str(p.partial).lower()} AS _partial, {str(p.embedded).lower()} AS _embedded"
    key_check = f"json_type(_obj, '$.{ENTITY_KEY[p.entity]}') IS NOT NULL AND " if p.embedded else ""
    if not p.many:
        return (
            f"SELECT {head}, '{path}' AS _path, {flags}, _obj AS _text, {defaults} AS _defaults "
            f"FROM (SELECT *, {value} AS _obj FROM _envelopes "
            f"WHERE json_type({value}) = 'OBJECT') AS _e WHERE {key_check}true"
        )
    item = "_list[_i]"
    if p.names_as:
        obj = (f"CASE WHEN json_type({item}) = 'VARCHAR' THEN json_object('{p.names_as}', {item}) "
               f"ELSE {item} END")
        keep = f"json_type({item}) IN ('OBJECT', 'VARCHAR')"
    else:
        obj, keep = item, f"json_type({item}) = 'OBJECT'"
    return (
        f"SELECT {head}, _path, {flags}, _obj AS _text, _defaults FROM ("
        f"SELECT _fid, _line, '{path}[' || (_i - 1) || ']' AS _path, {obj} AS _obj, {defaults} AS _defaults "
        f"FROM (SELECT *, json_extract({value}, '$[*]') AS _list FROM _envelopes "
        f"WHERE json_type({value}) = 'ARRAY') AS _e, range(1, len(_list) + 1) AS _r(_i) WHERE {keep}"
        f") AS _items WHERE {key_check}true"
    )


def tree_sql() -> str:
    """The comments of every tree in `_envelopes`, flattened: one row per node, with its parent and depth."""
    path = _json_path(TREE_KEY)
    value = part(path)
    defaults = _defaults_sql((("post_id", TREE_POST_ID),))
    return f"""
WITH RECURSIVE _tree(_fid, _line, _path, _node, _parent, _depth, _base) AS (
    SELECT _fid, _line, '{path}[' || (_i - 1) || ']', _list[_i], CAST(NULL AS VARCHAR), 0, _base
    FROM (SELECT _fid, _line, json_extract({value}, '$[*]') AS _list, {defaults} AS _base FROM _envelopes
          WHERE json_type({value}) = 'ARRAY') AS _e, range(1, len(_list) + 1) AS _r(_i)
    WHERE json_type(_list[_i]) = 'OBJECT'
    UNION ALL
    SELECT _fid, _line, _path || '.{REPLIES_KEY}[' || (_i - 1) || ']', _list[_i], _node ->> '$.id', _depth + 1, _base
    FROM (SELECT *, json_extract(_node, '$.{REPLIES_KEY}[*]') AS _list FROM _tree
          WHERE json_type(_node, '$.{REPLIES_KEY}') = 'ARRAY') AS _t, range(1, len(_list) + 1) AS _r(_i)
    WHERE json_type(_list[_i]) = 'OBJECT'
)
SELECT 'comments' AS _entity, _fid, _line, _path, false AS _partial, false AS _embedded,
    json_merge_patch(_node, '{{"{REPLIES_KEY}": null}}') AS _text,
    json_merge_patch(_base, json_object('parent_id', _parent, 'depth', _depth)) AS _defaults
FROM _tree"""


def _envelope_records_sql() -> str:
    return "\nUNION ALL\n".join([placement_sql(p) for p in PLACEMENTS] + [f"SELECT * FROM ({tree_sql()})"])


# Every record held by the envelopes in `_envelopes(_fid, _line, _parts)`: the placements and the comment trees.
# Built once, at import, so that ENVELOPE_PATHS is complete before the ingest extracts `_parts`.
ENVELOPE_RECORDS_SQL = _envelope_records_sql()


def envelope_parts_sql(document: str) -> str:
    """SQL extracting `_parts` (every value of ENVELOPE_PATHS) from a document, in one parse."""
    return f"json_extract({document}, [{', '.join(repr(p) for p in ENVELOPE_PATHS)}])"
