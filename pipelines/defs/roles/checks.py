"""Checks on the role clustering: a degenerate or unstable solution fails loudly, with the sizes beside it."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _status
from pipelines.defs.roles.assets import ROLE_KEYS


@dg.asset_check(asset=ROLE_KEYS["agent_roles"], name="roles_not_degenerate")
def roles_not_degenerate(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """The chosen clustering has no cluster under the minimum share and is stable across seeds."""
    with duckdb.get_connection() as con:
        status = _status.read(con).get("roles")
        if status and not status["estimable"]:
            # Nothing was clustered, so nothing is degenerate; the asset says why.
            return dg.AssetCheckResult(passed=True, metadata={"not_estimable": status["reason"]})
        k, silhouette, sd, sizes, degenerate, unstable, stability = con.execute(
            "SELECT k, silhouette, silhouette_sd, sizes, degenerate, unstable, stability_ari "
            "FROM role_k_selection WHERE chosen"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=not (degenerate or unstable),
        metadata={"k": int(k), "silhouette": float(silhouette), "silhouette_sd": float(sd),
                  "sizes": dg.MetadataValue.json([int(s) for s in sizes]), "stability_ari": float(stability)},
    )


@dg.asset_check(asset=ROLE_KEYS["agent_features"], name="features_cover_active_agents")
def features_cover_active_agents(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Every active agent has a feature row and no feature is missing where it must be defined."""
    with duckdb.get_connection() as con:
        active, featured, missing = con.execute(
            """
            SELECT (SELECT count(*) FROM agent_activity WHERE active),
                   (SELECT count(*) FROM agent_features),
                   (SELECT count(*) FROM agent_features WHERE in_degree IS NULL OR pagerank IS NULL OR coreness IS NULL)
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=active == featured and missing == 0,
        metadata={"active_agents": int(active), "feature_rows": int(featured), "rows_missing_features": int(missing)},
    )
