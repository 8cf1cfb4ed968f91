"""Roles: the reply graph, per-agent features, role clustering and core-periphery (observatory.roles)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from observatory._charts import markdown_image
from observatory.roles import run_roles
from pipelines.defs.ingest.assets import STAGING_KEYS
from pipelines.defs.population.assets import AGENT_ACTIVITY

ROLE_KEYS = {
    name: dg.AssetKey(["roles", name])
    for name in ("interaction_edges", "vote_edges", "agent_features", "agent_roles", "role_profiles", "role_k_selection")
}


class RolesConfig(dg.Config):
    k_min: int = 2
    k_max: int = 10
    min_share: float = 0.01  # a solution with a smaller cluster is degenerate
    betweenness_sources: int = 256  # sampled sources for the betweenness estimate
    seed: int = 0


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, group_name="roles", kinds={"duckdb"},
                     deps=[STAGING_KEYS["comments"], STAGING_KEYS["posts"], STAGING_KEYS["votes"], AGENT_ACTIVITY])
        for key in ROLE_KEYS.values()
    ],
    can_subset=False,
)
def roles(context: dg.AssetExecutionContext, config: RolesConfig, duckdb: DuckDBResource):
    """Reply graph -> igraph features -> k-means over k with silhouette, BIC, stability and sizes -> role tables."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        result = run_roles(
            con,
            k_range=range(config.k_min, config.k_max + 1),
            min_share=config.min_share,
            betweenness_sources=config.betweenness_sources,
            seed=config.seed,
            progress=context.log.info,
        )
        counts = {name: _db.row_count(con, name) for name in ROLE_KEYS}
        plots = {"role_k_selection": markdown_image(con, "k_selection"), "agent_roles": markdown_image(con, "role_sizes"),
                 "role_profiles": markdown_image(con, "role_heatmap")}
    context.log.info("\n" + result.summary())
    selection = result.k_selection[["k", "silhouette", "silhouette_sd", "bic", "stability_ari", "min_share",
                                    "degenerate", "chosen"]] if result.estimable else None
    for name, key in ROLE_KEYS.items():
        metadata = {"rows": dg.MetadataValue.int(int(counts[name]))}
        if not result.estimable:
            metadata["not_estimable"] = dg.MetadataValue.text(result.reason)
        elif name == "agent_roles":
            metadata.update({
                "k": dg.MetadataValue.int(result.k),
                "silhouette": dg.MetadataValue.float(round(result.silhouette, 4)),
                "silhouette_sd": dg.MetadataValue.float(round(result.silhouette_sd, 4)),
                "degenerate": dg.MetadataValue.bool(result.degenerate),
                "periphery_share": dg.MetadataValue.float(round(result.periphery_share, 4)),
                "active_agents": dg.MetadataValue.int(result.active_agents),
                "inactive_agents": dg.MetadataValue.int(result.inactive_agents),
                "role_sizes": dg.MetadataValue.json(result.role_sizes),
                "seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in result.timings.items()}),
            })
        if name == "role_k_selection" and selection is not None:
            metadata["k_selection"] = dg.MetadataValue.md(selection.to_markdown(index=False))
        if plots.get(name):
            metadata["plot"] = dg.MetadataValue.md(plots[name])
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
