"""Checks on the staging views: unique keys, references between entities, and how much went to quarantine."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from pipelines.defs.ingest.assets import STAGING_KEYS

UNIQUE_KEYS = {"agents": "id", "posts": "id", "comments": "id", "submolts": "name", "tasks": "id"}

# A share of quarantined records above this is worth a warning: the drop may not follow the contract.
QUARANTINE_WARN_SHARE = 0.05


def _unique_check(view: str, column: str):
    @dg.asset_check(asset=STAGING_KEYS[view], name=f"{view}_{column}_unique", blocking=True)
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            _db.configure(con)
            rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT {column}) FROM {view}").fetchone()
            nulls = con.execute(f"SELECT count(*) FROM {view} WHERE {column} IS NULL").fetchone()[0]
        return dg.AssetCheckResult(
            passed=bool(rows == distinct and nulls == 0),
            metadata={"rows": int(rows), "distinct": int(distinct), "nulls": int(nulls)},
        )

    return check


unique_checks = [_unique_check(view, column) for view, column in UNIQUE_KEYS.items()]


@dg.asset_check(asset=STAGING_KEYS["comments"], name="comments_reference_known_posts")
def comments_reference_known_posts(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Every clean comment's post is a clean post (comments whose post is unknown are in quarantine)."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        orphans = con.execute(
            "SELECT count(*) FROM comments c LEFT JOIN posts p ON p.id = c.post_id WHERE p.id IS NULL"
        ).fetchone()[0]
        quarantined = con.execute("SELECT count(*) FROM quarantine WHERE reason = 'unknown_post'").fetchone()[0]
    return dg.AssetCheckResult(
        passed=orphans == 0, metadata={"orphan_comments": int(orphans), "quarantined_unknown_post": int(quarantined)}
    )


@dg.asset_check(asset=STAGING_KEYS["comments"], name="comments_reference_known_agents")
def comments_reference_known_agents(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Comment authors and parents exist. Authors given by id but missing from agents (an incomplete agents
    scrape) are counted, and warn rather than fail: the comment itself is sound."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        unknown_authors, missing_parents, total = con.execute(
            """
            SELECT
                count(*) FILTER (WHERE a.id IS NULL),
                count(*) FILTER (WHERE c.parent_id IS NOT NULL AND parent.id IS NULL),
                count(*)
            FROM comments c
            LEFT JOIN agents a ON a.id = c.author_id
            LEFT JOIN comments parent ON parent.id = c.parent_id
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=unknown_authors == 0 and missing_parents == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "comments": int(total),
            "author_not_in_agents": int(unknown_authors),
            "parent_comment_missing": int(missing_parents),
        },
    )


@dg.asset_check(asset=STAGING_KEYS["quarantine"], name="quarantine_share")
def quarantine_share(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """How many records went to quarantine, by entity and reason; warns above 5% of what was read."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        by_reason = con.execute(
            "SELECT entity || ': ' || reason, count(*) FROM quarantine GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        read = con.execute("SELECT COALESCE(sum(rows_read), 0) FROM ingest_log").fetchone()[0]
    quarantined = sum(n for _, n in by_reason)
    share = quarantined / read if read else 0.0
    return dg.AssetCheckResult(
        passed=share <= QUARANTINE_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": int(quarantined),
            "rows_read": int(read),
            "share": float(round(share, 6)),
            "by_reason": dg.MetadataValue.json({k: int(v) for k, v in by_reason}),
        },
    )
