"""Roles: per-agent features, role clustering and core-periphery (observatory.studies.roles), from the reply graph and
activity marts of `sql/marts/`."""

import dagster as dg

from observatory.studies.roles import run_roles
from pipelines.tables import key_for, study_asset

ROLE_KEYS = {name: key_for(name) for name in ("interaction_edges", "vote_edges", "agent_features", "agent_roles",
                                              "role_profiles", "role_k_selection")}


def _metadata(result) -> dict:
    extra: dict = {name: {} for name in ("agent_features", "agent_roles", "role_profiles", "role_k_selection")}
    if not result.estimable:
        for values in extra.values():
            values["not_estimable"] = dg.MetadataValue.text(result.reason)
        return extra
    extra["agent_roles"].update({
        "k": result.k, "silhouette": result.silhouette, "silhouette_sd": result.silhouette_sd,
        "degenerate": result.degenerate, "periphery_share": result.periphery_share,
        "active_agents": result.active_agents, "inactive_agents": result.inactive_agents,
        "role_sizes": dg.MetadataValue.json(result.role_sizes),
        "seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in result.timings.items()}),
    })
    selection = result.k_selection[["k", "silhouette", "silhouette_sd", "bic", "stability_ari", "min_share",
                                    "degenerate", "chosen"]]
    extra["role_k_selection"]["k_selection"] = dg.MetadataValue.md(selection.to_markdown(index=False, floatfmt=".4g"))
    return extra


roles = study_asset(
    "roles", {
        "agent_features": "Per active agent: activity features (SQL) and graph features of the reply graph "
                          "(igraph: degree, strength, PageRank, sampled betweenness, clustering, reciprocity, "
                          "coreness).",
        "agent_roles": "Per agent: the role cluster (k-means on standardised features, k chosen in the open) and "
                       "the core-periphery score; inactive agents are their own group.",
        "role_profiles": "Per role: size, share, and the mean, median and standardised centroid of each feature.",
        "role_k_selection": "Per candidate k: silhouette (sampled, with its SD), BIC, stability across seeds, "
                            "smallest cluster share, and which k was chosen.",
    },
    lambda con, settings, context: run_roles(con, settings, progress=context.log.info, build_marts=False),
    name="roles", summary="Features -> k-means over k with silhouette, BIC, stability and sizes -> role tables.",
    metadata=_metadata,
    plots={"role_k_selection": "k_selection", "agent_roles": "role_sizes", "role_profiles": "role_heatmap"},
)
