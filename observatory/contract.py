"""The interaction-log contract, version 2, as data.

One place says which entities a drop may hold, which fields each record has, which are required, and where each
field may be found in the record shapes the contract accepts (the public Moltbook API's nested objects in both of
its generations, and the flat columns of the public archives). The ingest builds its SQL from this table, the raw
tables' DDL comes from it, and `docs/contract.md` describes it in prose. Where records sit inside the API's
responses (a post detail's comment tree, a profile's recent posts) is :mod:`observatory.ingest.responses`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Logical types of contract fields and the DuckDB type each lands as.
#   id    ids are strings; numbers are read as their decimal text
#   text  free text
#   int   integer (an integral number, or a string of one)
#   float real number
#   bool  true/false (or the strings true/false/1/0)
#   ts    ISO-8601 with offset or Z (naive means UTC), or epoch seconds
DUCKDB_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "ts": "TIMESTAMPTZ",
}


@dataclass(frozen=True)
class Field:
    """A field of a contract record.

    `sources` lists where the value may be found, in order of preference; each source is a path of keys into the
    record (`("author", "id")` is the `id` of a nested `author` object, `("agent_id",)` a flat column).
    """

    name: str
    kind: str
    sources: tuple[tuple[str, ...], ...]
    required: bool = False
    # Required only of complete records, not of partial observations (an author object embedded in a comment
    # names an agent without saying when it registered).
    required_of_partial: bool = True
    # Values that are present but outside the allowed set or range are invalid rather than ill-typed.
    allowed: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


# Timestamps outside this window are not observations of an agent society (`infinity`, `epoch`, the year 57971
# that epoch milliseconds read as seconds give): bad_timestamp. Epoch numbers of 10^11 and more are milliseconds
# (10^11 seconds is the year 5138).
TIMESTAMP_WINDOW = ("2000-01-01 00:00:00+00", "2100-01-01 00:00:00+00")
# `OBSERVATORY_TIMESTAMP_WINDOW=2020-01-01/2031-01-01` narrows or widens it (start inclusive, end exclusive).
TIMESTAMP_WINDOW_ENV = "OBSERVATORY_TIMESTAMP_WINDOW"


def timestamp_window() -> tuple[str, str]:
    """The window of plausible timestamps, from `$OBSERVATORY_TIMESTAMP_WINDOW` (two ISO dates joined by "/") or
    the default; a malformed setting is an error naming it, never SQL."""
    import os
    from datetime import date

    setting = os.environ.get(TIMESTAMP_WINDOW_ENV, "").strip()
    if not setting:
        return TIMESTAMP_WINDOW
    try:
        low, high = (date.fromisoformat(part.strip()) for part in setting.split("/"))
    except ValueError:
        raise ValueError(f"{TIMESTAMP_WINDOW_ENV}={setting!r}: expected two ISO dates, START/END, "
                         "e.g. 2000-01-01/2100-01-01") from None
    if not low < high:
        raise ValueError(f"{TIMESTAMP_WINDOW_ENV}={setting!r}: the start must come before the end")
    return (f"{low.isoformat()} 00:00:00+00", f"{high.isoformat()} 00:00:00+00")
EPOCH_MILLISECONDS_FROM = 10**11

# Counters beyond these bounds are not counts (9223372036854775807 upvotes) and would overflow the clean tables'
# arithmetic (score = upvotes - downvotes): such a record is quarantined as invalid_value.
COUNT_MAX = 10**12


def _count(name, *sources, signed=False) -> Field:
    """A counter: an integer in [0, COUNT_MAX], or [-COUNT_MAX, COUNT_MAX] for net counts (score, karma)."""
    return _f(name, "int", *sources, minimum=-COUNT_MAX if signed else 0, maximum=COUNT_MAX)


def _f(name, kind, *sources, required=False, partial=True, allowed=None, minimum=None, maximum=None) -> Field:
    paths = tuple(tuple(s.split(".")) for s in (sources or (name,)))
    return Field(name, kind, paths, required, partial, allowed, minimum, maximum)


@dataclass(frozen=True)
class Entity:
    name: str
    fields: tuple[Field, ...]
    # The columns that identify a record: the same key twice is one record.
    key: tuple[str, ...]
    # At least one of these must be given (e.g. a post's author by id or by name). A source that is there but null
    # (`"author": null`, an empty `agent_id` column: a deleted account) counts as given: the record lands without
    # an author. Only a record that does not name the field at all is missing it.
    required_any: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def raw_table(self) -> str:
        return f"raw_{self.name}"


# Every record also lands with these, which say where and when it was observed.
OBSERVED_FIELDS = (
    _f("fetched_at", "ts", "fetched_at", "_downloaded_at"),
    _f("dump_date", "ts"),
)

AGENTS = Entity(
    "agents",
    (
        _f("id", "id", required=True),
        _f("name", "text", required=True),
        _f("description", "text"),
        _count("karma", signed=True),
        # Later API generations write the author's fields in camelCase.
        _f("created_at", "ts", "created_at", "createdAt", required=True, partial=False),
        _f("is_claimed", "bool", "is_claimed", "claimed", "isClaimed"),
        _f("is_active", "bool", "is_active", "isActive"),
        _count("follower_count", "follower_count", "followerCount"),
        _count("following_count", "following_count", "followingCount"),
        _f("avatar_url", "text", "avatar_url", "avatarUrl"),
        _f("owner_x_handle", "text", "owner_x_handle", "x_handle", "owner.x_handle"),
        _f("first_seen_at", "ts"),
        _f("last_seen_at", "ts", "last_seen_at", "last_active", "lastActive"),
        _f("deleted_at", "ts", "deleted_at", "deletedAt"),
        *OBSERVED_FIELDS,
    ),
    key=("id",),
)

SUBMOLTS = Entity(
    "submolts",
    (
        _f("name", "text", required=True),
        _f("id", "id"),
        _f("display_name", "text"),
        _f("description", "text"),
        _count("subscriber_count"),
        _count("post_count"),
        _f("created_at", "ts"),
        _f("owner", "text", "owner", "owner_name", "created_by.name"),
        _f("owner_id", "id", "owner_id", "created_by.id"),
        *OBSERVED_FIELDS,
    ),
    key=("name",),
)

POSTS = Entity(
    "posts",
    (
        _f("id", "id", required=True),
        _f("title", "text"),
        _f("content", "text"),
        _f("url", "text"),
        # The API nests the submolt as an object; the archives carry its name as a string.
        _f("submolt", "text", "submolt.name", "submolt", "submolt_name", required=True),
        _f("submolt_id", "id", "submolt.id", "submolt_id"),
        _f("author_id", "id", "author.id", "author_id", "agent_id"),
        _f("author_name", "text", "author.name", "author_name", "agent_name", "author"),
        _count("upvotes"),
        _count("downvotes"),
        _count("score", signed=True),
        _count("comment_count"),
        _f("is_pinned", "bool"),
        _f("created_at", "ts", "created_at", "createdAt", required=True),
        # Added by the API's later generation.
        _f("updated_at", "ts", "updated_at", "updatedAt"),
        _f("type", "text", "type", "post_type"),
        _f("is_deleted", "bool"),
        _f("is_spam", "bool"),
        _f("verification_status", "text"),
        *OBSERVED_FIELDS,
    ),
    key=("id",),
    required_any=(("author_id", "author_name"),),
)

COMMENTS = Entity(
    "comments",
    (
        _f("id", "id", required=True),
        _f("post_id", "id", "post_id", "post.id", required=True),
        _f("parent_id", "id"),
        _f("author_id", "id", "author.id", "author_id", "agent_id"),
        # The SDK returns `author` as the author's name string; the raw API returns an object.
        _f("author_name", "text", "author.name", "author", "author_name", "agent_name", "authorName"),
        _f("content", "text"),
        _count("score", signed=True),
        _count("upvotes"),
        _count("downvotes"),
        _f("depth", "int", minimum=0),
        _f("created_at", "ts", "created_at", "createdAt", required=True),
        _f("is_deleted", "bool"),
        *OBSERVED_FIELDS,
    ),
    key=("id",),
    required_any=(("author_id", "author_name"),),
)

VOTES = Entity(
    "votes",
    (
        _f("voter_id", "id", "voter_id", "voter.id", "agent_id", required=True),
        _f("target_type", "text", required=True, allowed=("post", "comment")),
        _f("target_id", "id", required=True),
        _f("value", "int", required=True, allowed=(1, -1)),
        _f("created_at", "ts"),
        *OBSERVED_FIELDS,
    ),
    key=("voter_id", "target_type", "target_id"),
)

TASKS = Entity(
    "tasks",
    (
        _f("id", "id", required=True),
        _f("post_id", "id", required=True),
        _f("requester_id", "id"),
        _f("created_at", "ts"),
        _f("category", "text"),
        _f("resolved", "bool"),
        _f("resolved_at", "ts"),
        _f("quality", "float", minimum=0.0, maximum=1.0),
        *OBSERVED_FIELDS,
    ),
    key=("id",),
)

# Ingest order matters only for the report: staging resolves references whatever the order.
ENTITIES: tuple[Entity, ...] = (AGENTS, SUBMOLTS, POSTS, COMMENTS, VOTES, TASKS)
ENTITY_BY_NAME = {e.name: e for e in ENTITIES}

# Columns every raw table carries besides the contract fields: provenance of each row.
PROVENANCE_COLUMNS = (
    ("_drop_seq", "INTEGER"),  # the ingest sequence number of the drop (later drops are larger)
    ("_file", "VARCHAR"),  # the file, as given on the command line joined with its path in the drop
    ("_line", "BIGINT"),  # 1-based line (JSONL, CSV), element (JSON array), row (Parquet) or document (1)
    ("_observed_at", "TIMESTAMPTZ"),  # fetched_at or dump_date: when the record was observed
    ("_path", "VARCHAR"),  # where in an API response the record sat (`$.comments[0].replies[2]`); NULL for a record
    ("_partial", "BOOLEAN"),  # an observation that shows only some fields (an embedded author, a list item)
)

# Quarantine reasons, one per kind of bad input the contract names (and a few it implies).
REASONS = {
    "not_utf8": "bytes that are not UTF-8",
    "not_json": "a line (or element) that is not a JSON object",
    "csv_malformed": "a CSV row that cannot be split into the header's columns",
    "missing_field": "a required field is missing or null",
    "bad_timestamp": "a timestamp that cannot be parsed",
    "wrong_type": "a value of the wrong type",
    "invalid_value": "a value outside the allowed set or range",
    "unknown_post": "a comment (or task) whose post is unknown",
    "unknown_author": "a comment or post whose author name matches no agent",
    "unrecognised": "a JSON object that is neither a record of the file's entity nor an API response",
}


def raw_table_columns(entity: Entity) -> list[tuple[str, str]]:
    return [(f.name, f.duckdb_type) for f in entity.fields] + list(PROVENANCE_COLUMNS)


def raw_table_ddl(entity: Entity) -> str:
    from observatory.db import quote

    columns = [f"{quote(name)} {typ}" for name, typ in raw_table_columns(entity)]
    return f"CREATE TABLE IF NOT EXISTS {entity.raw_table} (\n    " + ",\n    ".join(columns) + "\n)"
