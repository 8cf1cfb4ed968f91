"""Checks on the cascade tables: every adoption is in exactly one cascade, and parents adopted first."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.defs.cascades.assets import CASCADE_KEYS


@dg.asset_check(asset=CASCADE_KEYS["cascades"], name="cascades_partition_adoptions")
def cascades_partition_adoptions(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Cascade sizes add up to the adoptions, and no child adopted before its parent."""
    with duckdb.get_connection() as con:
        adoptions, in_cascades, backwards = con.execute(
            """
            SELECT (SELECT count(*) FROM adoptions), (SELECT coalesce(sum(size), 0) FROM cascades),
                   (SELECT count(*) FROM cascade_edges WHERE parent_adopted_at > child_adopted_at)
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=adoptions == in_cascades and backwards == 0,
        metadata={"adoptions": int(adoptions), "adopters_in_cascades": int(in_cascades),
                  "children_before_parents": int(backwards)},
    )
