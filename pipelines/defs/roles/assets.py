"""Roles: per-agent features, role clustering and core-periphery (observatory.studies.roles), from the reply graph and
activity marts of `sql/marts/`."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory.studies.roles import run_roles
from pipelines.tables import key_for, step_results, step_specs

ROLE_KEYS = {name: key_for(name) for name in ("interaction_edges", "vote_edges", "agent_features", "agent_roles",
                                              "role_profiles", "role_k_selection")}


class RolesConfig(dg.Config):
    k_min: int = 2
    k_max: int = 10
    min_share: float = 0.01  # a solution with a smaller cluster is degenerate
    betweenness_sources: int = 256  # sampled sources for the betweenness estimate
    seed: int = 0


@dg.multi_asset(
    specs=step_specs("roles", {
        "agent_features": "Per active agent: activity features (SQL) and graph features of the reply graph "
                          "(igraph: degree, strength, PageRank, sampled betweenness, clustering, reciprocity, "
                          "coreness).",
        "agent_roles": "Per agent: the role cluster (k-means on standardised features, k chosen in the open) and "
                       "the core-periphery score; inactive agents are their own group.",
        "role_profiles": "Per role: size, share, and the mean, median and standardised centroid of each feature.",
        "role_k_selection": "Per candidate k: silhouette (sampled, with its SD), BIC, stability across seeds, "
                            "smallest cluster share, and which k was chosen.",
    }),
    can_subset=False,
)
def roles(context: dg.AssetExecutionContext, config: RolesConfig, duckdb: DuckDBResource):
    """Features -> k-means over k with silhouette, BIC, stability and sizes -> role tables."""
    with duckdb.get_connection() as con:
        result = run_roles(con, k_range=range(config.k_min, config.k_max + 1), min_share=config.min_share,
                           betweenness_sources=config.betweenness_sources, seed=config.seed,
                           progress=context.log.info, build_marts=False)
        extra = {name: {} for name in ("agent_features", "agent_roles", "role_profiles", "role_k_selection")}
        if not result.estimable:
            for metadata in extra.values():
                metadata["not_estimable"] = dg.MetadataValue.text(result.reason)
        else:
            extra["agent_roles"].update({
                "k": result.k, "silhouette": result.silhouette, "silhouette_sd": result.silhouette_sd,
                "degenerate": result.degenerate, "periphery_share": result.periphery_share,
                "active_agents": result.active_agents, "inactive_agents": result.inactive_agents,
                "role_sizes": dg.MetadataValue.json(result.role_sizes),
                "seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in result.timings.items()}),
            })
            selection = result.k_selection[["k", "silhouette", "silhouette_sd", "bic", "stability_ari", "min_share",
                                            "degenerate", "chosen"]]
            extra["role_k_selection"]["k_selection"] = dg.MetadataValue.md(
                selection.to_markdown(index=False, floatfmt=".4g"))
        results = step_results(con, "roles", extra, plots={
            "role_k_selection": "k_selection", "agent_roles": "role_sizes", "role_profiles": "role_heatmap"})
    context.log.info("\n" + result.summary())
    yield from results
