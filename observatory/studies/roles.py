"""Structural roles: the reply graph, per-agent features, role clustering with honest k selection, core-periphery.

The study reported "six structural roles (silhouette 0.91) ... 93.5% of agents occupy a homogeneous peripheral
cluster". A re-analysis of its code found k-means picking k=3 with silhouette 0.938 while the clusters had 12,281,
1 and 21 members. Here every silhouette is printed beside the cluster sizes, a second criterion (Gaussian-mixture
BIC) and the stability of the partition across seeds, and a solution with a tiny cluster is flagged as degenerate
rather than reported as a finding.

Pipeline: :func:`build_interaction_graph` (SQL marts `interaction_edges`, `vote_edges`) ->
:func:`compute_agent_features` (igraph on the whole graph + SQL activity features -> `agent_features`) ->
:class:`RoleClustering` (scikit-learn) -> :func:`run_roles` writes `agent_roles`, `role_profiles`,
`role_k_selection`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import igraph as ig
import numpy as np
import pandas as pd

from observatory import _status, db
from observatory.config import RolesConfig, overridden
from observatory.estimators.roles import (
    ACTIVITY_FEATURES,
    ALL_FEATURES,
    CLUSTERING_FEATURES,
    GRAPH_FEATURES,
    RoleClustering,
    feature_matrix,
)
from observatory.studies.base import StudyResult

__all__ = [
    "ACTIVITY_FEATURES",
    "GRAPH_FEATURES",
    "CLUSTERING_FEATURES",
    "build_interaction_graph",
    "compute_agent_features",
    "approximate_betweenness",
    "RoleClustering",
    "RolesConfig",
    "RolesResult",
    "run_roles",
]


# --------------------------------------------------------------------------------------------------------------
# The graph and the features


def build_interaction_graph(con) -> dict:
    """(Re)build `interaction_edges` and `vote_edges` from the clean tables; returns their row counts."""
    db.configure(con)
    return {
        "interaction_edges": db.build_table(con, "interaction_edges"),
        "vote_edges": db.build_table(con, "vote_edges"),
    }


def approximate_betweenness(graph: ig.Graph, n_sources: int | None, seed: int = 0) -> np.ndarray:
    """Betweenness centrality estimated from shortest paths out of a random sample of source vertices.

    .. math:: \\hat b(v) = \\frac{n}{k} \\sum_{s \\in S} \\sum_{t \\ne s, v} \\frac{\\sigma_{st}(v)}{\\sigma_{st}}

    with `S` a uniform sample of `k` sources (Brandes & Pich 2007, "Centrality estimation in large networks"): an
    unbiased estimate of the exact (unnormalised, directed, unweighted) betweenness. Its cost is `k` BFS traversals
    instead of `n`; igraph's `cutoff` alternative truncates path lengths instead, and on heavy-tailed graphs is both
    biased and slower. With `n_sources` None or >= n, the exact betweenness is returned.

    Parameters
    ----------
    graph : a directed igraph Graph; edge weights are not used (path length is the number of replies in a chain).
    n_sources : the number of sampled sources `k`.
    seed : seed of the source sample.
    """
    n = graph.vcount()
    if n == 0:
        return np.zeros(0)
    if n_sources is None or n_sources >= n:
        return np.asarray(graph.betweenness(directed=True), dtype=float)
    rng = np.random.default_rng(seed)
    sources = np.sort(rng.choice(n, size=n_sources, replace=False)).tolist()
    partial = np.asarray(graph.betweenness(directed=True, sources=sources), dtype=float)
    return partial * (n / n_sources)


def compute_agent_features(
    con,
    *,
    betweenness_sources: int | None = RolesConfig.betweenness_sources,
    seed: int = RolesConfig.seed,
    progress: Callable[[str], None] | None = None,
    build_marts: bool = True,
) -> pd.DataFrame:
    """Per-agent features of every active agent, written to the `agent_features` table and returned.

    Graph features (igraph, on the whole reply graph): in/out degree (distinct partners), in/out strength (replies),
    PageRank (damping 0.85, weighted), betweenness (sampled sources, see :func:`approximate_betweenness`), local
    clustering of the undirected simple graph, reciprocity (share of the agents it replied to that replied back),
    coreness (k-core index of the undirected simple graph). Activity features (SQL, `agent_activity_features`):
    posts, comments, share of comments that start a thread, active days, submolt entropy, burstiness.

    An *active* agent wrote at least one post or comment; the others are not in this table (they are reported as
    the inactive group by :func:`run_roles`).
    """
    say = progress or (lambda message: None)
    db.configure(con)
    if build_marts:
        say("activity features (SQL)")
        db.build_table(con, "agent_activity_features")
    activity = con.execute("SELECT * FROM agent_activity_features ORDER BY agent_id").df()
    n = len(activity)

    say("reply graph")
    con.execute("CREATE OR REPLACE TEMP TABLE _node_index AS SELECT agent_id, row_number() OVER (ORDER BY agent_id) - 1 AS idx FROM agent_activity_features")
    edges = con.execute(
        """
        SELECT s.idx AS source, t.idx AS target, e.weight
        FROM interaction_edges e
        JOIN _node_index s ON s.agent_id = e.source_id
        JOIN _node_index t ON t.agent_id = e.target_id
        """
    ).fetchnumpy()
    reciprocated = con.execute(
        """
        SELECT s.idx, count(*) AS reciprocated
        FROM interaction_edges e
        JOIN interaction_edges back ON back.source_id = e.target_id AND back.target_id = e.source_id
        JOIN _node_index s ON s.agent_id = e.source_id
        GROUP BY s.idx
        """
    ).fetchnumpy()
    con.execute("DROP TABLE _node_index")
    graph = ig.Graph(n=n, edges=np.column_stack([edges["source"], edges["target"]]).astype(np.int64).tolist()
                     if len(edges["source"]) else [], directed=True)
    weights = np.asarray(edges["weight"], dtype=float)
    graph.es["weight"] = weights.tolist()

    say("degree, strength, PageRank")
    features = pd.DataFrame({"agent_id": activity["agent_id"]})
    features["in_degree"] = np.asarray(graph.degree(mode="in"), dtype=np.int64)
    features["out_degree"] = np.asarray(graph.degree(mode="out"), dtype=np.int64)
    features["in_strength"] = np.asarray(graph.strength(mode="in", weights="weight"), dtype=float)
    features["out_strength"] = np.asarray(graph.strength(mode="out", weights="weight"), dtype=float)
    features["pagerank"] = np.asarray(graph.pagerank(damping=0.85, weights="weight", directed=True), dtype=float)
    say(f"betweenness ({'exact' if betweenness_sources is None or betweenness_sources >= n else f'{betweenness_sources} sampled sources'})")
    features["betweenness"] = approximate_betweenness(graph, betweenness_sources, seed)
    say("clustering, coreness")
    simple = graph.as_undirected(mode="collapse")
    features["clustering"] = np.asarray(simple.transitivity_local_undirected(mode="zero"), dtype=float)
    features["coreness"] = np.asarray(simple.coreness(mode="all"), dtype=np.int64)
    recip = np.zeros(n)
    recip[np.asarray(reciprocated["idx"], dtype=np.int64)] = np.asarray(reciprocated["reciprocated"], dtype=float)
    out_degree = features["out_degree"].to_numpy()
    features["reciprocity"] = np.divide(recip, out_degree, out=np.zeros(n), where=out_degree > 0)

    for column in ACTIVITY_FEATURES + ["submolts", "first_activity", "last_activity"]:
        features[column] = activity[column].to_numpy()
    features["thread_start_share"] = features["thread_start_share"].astype(float).fillna(0.0)
    features["burstiness"] = features["burstiness"].astype(float)
    ordered = ["agent_id"] + ACTIVITY_FEATURES + ["submolts"] + GRAPH_FEATURES + ["first_activity", "last_activity"]
    features = features[ordered]
    db.write_table(con, "agent_features", features)
    return features


# --------------------------------------------------------------------------------------------------------------
# The whole step


@dataclass
class RolesResult(StudyResult):
    """What :func:`run_roles` found; the tables it wrote hold the same numbers."""

    k: int
    silhouette: float
    silhouette_sd: float
    bic_best_k: int
    degenerate: bool
    registered_agents: int
    active_agents: int
    inactive_agents: int
    periphery_share: float  # of active agents, in the cluster named periphery
    periphery_share_all: float  # of all agents, periphery or inactive
    role_sizes: dict[str, int]
    k_selection: pd.DataFrame
    profiles: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    # Why no roles were estimated (too few active agents), or None; and what was restricted (the k range).
    reason: str | None = None
    note: str | None = None

    @property
    def estimable(self) -> bool:
        return self.reason is None

    def _text(self) -> str:
        if not self.estimable:
            return (f"agents: {self.registered_agents:,} registered, {self.active_agents:,} active\n"
                    f"roles: not estimable: {self.reason}")
        lines = [
            f"agents: {self.registered_agents:,} registered, {self.active_agents:,} active, "
            f"{self.inactive_agents:,} inactive (no post or comment; not clustered)",
            f"roles: k = {self.k}, silhouette {self.silhouette:.3f} +/- {self.silhouette_sd:.3f}"
            f"{'  [DEGENERATE OR UNSTABLE: not a finding]' if self.degenerate else ''}; BIC prefers k = {self.bic_best_k}",
            "sizes: " + ", ".join(f"{name} {n:,} ({n / max(self.active_agents, 1):.1%})" for name, n in self.role_sizes.items()),
            f"periphery: {self.periphery_share:.1%} of active agents; with the inactive, {self.periphery_share_all:.1%} of all agents",
            "",
            "k selection (silhouette on sampled agents, mean +/- sd; sizes always beside it):",
            self.k_selection.to_string(index=False),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "k": self.k, "silhouette": self.silhouette, "silhouette_sd": self.silhouette_sd,
            "bic_best_k": self.bic_best_k, "degenerate": self.degenerate, "active_agents": self.active_agents,
            "inactive_agents": self.inactive_agents, "periphery_share": self.periphery_share,
            "periphery_share_all": self.periphery_share_all, "role_sizes": self.role_sizes,
        }


def core_periphery_score(coreness: np.ndarray) -> np.ndarray:
    """A continuous core-periphery score in [0, 1]: the agent's k-core index over the graph's largest.

    1 is the innermost core; agents in the 1-core (a single partner) score 1/max; isolated active agents 0.
    """
    coreness = np.asarray(coreness, dtype=float)
    top = coreness.max() if len(coreness) else 0.0
    return coreness / top if top > 0 else np.zeros_like(coreness)


def run_roles(
    con,
    config: RolesConfig | None = None,
    *,
    features: Sequence[str] = CLUSTERING_FEATURES,
    clustering_options: dict | None = None,
    progress: Callable[[str], None] | None = None,
    build_marts: bool = True,
    **settings,
) -> RolesResult:
    """The whole roles step on the database: graph, features, clustering, and the researcher-facing tables.

    ``config`` holds the settings (:class:`~observatory.config.RolesConfig`); any of them may be given as a keyword
    instead (``run_roles(con, k_max=6)``). ``features`` are the columns of `agent_features` the clustering uses
    (see `CLUSTERING_FEATURES`); ``clustering_options`` go to :class:`RoleClustering`."""
    config = overridden(config, RolesConfig, **settings)
    betweenness_sources, seed, min_share = config.betweenness_sources, config.seed, config.min_share
    features_to_cluster = list(features)
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if build_marts:  # False where the marts are built on their own (the Dagster assets of sql/marts/)
        say("reply graph (SQL)")
        build_interaction_graph(con)
    timings["graph_sql"] = time.perf_counter() - started

    started = time.perf_counter()
    features = compute_agent_features(con, betweenness_sources=betweenness_sources, seed=seed, progress=say,
                                      build_marts=build_marts)
    timings["features"] = time.perf_counter() - started

    k_range = list(range(config.k_min, config.k_max + 1))
    usable = [k for k in k_range if k * _status.MIN_AGENTS_PER_ROLE <= len(features)]
    if not usable:
        return _roles_not_estimable(con, features, k_range, timings, say)
    note = None
    if len(usable) < len(k_range):
        note = (f"k = {usable[0]}..{usable[-1]} only: {len(features):,} active agents, at least "
                f"{_status.MIN_AGENTS_PER_ROLE} per role")
        say(note)
    k_range = usable

    started = time.perf_counter()
    clustered = list(features_to_cluster)
    X = pd.DataFrame(feature_matrix(features, clustered), columns=clustered)
    # Names come from every feature's standardised mean per cluster, not only the clustered ones: a hub is named
    # for its in-degree and PageRank as well as the replies it receives.
    every = pd.DataFrame(feature_matrix(features, ALL_FEATURES), columns=ALL_FEATURES)
    model = RoleClustering(k_range=k_range, min_share=min_share, seed=seed, progress=say,
                           **(clustering_options or {})).fit(X, profile=every)
    timings["clustering"] = time.perf_counter() - started

    roles = pd.DataFrame({
        "agent_id": features["agent_id"],
        "cluster": model.labels_,
        "role": model.roles_,
        "core_periphery_score": core_periphery_score(features["coreness"].to_numpy()),
    })
    con.register("_roles", roles)
    try:
        con.execute(
            """
            CREATE OR REPLACE TABLE agent_roles AS
            SELECT a.id AS agent_id, a.name, r.cluster, coalesce(r.role, 'inactive') AS role,
                   r.agent_id IS NOT NULL AS active, coalesce(r.core_periphery_score, 0.0) AS core_periphery_score
            FROM agents a LEFT JOIN _roles r ON r.agent_id = a.id
            UNION ALL BY NAME
            SELECT r.agent_id, NULL AS name, r.cluster, r.role, true AS active, r.core_periphery_score
            FROM _roles r WHERE r.agent_id NOT IN (SELECT id FROM agents)
            """
        )
    finally:
        con.unregister("_roles")

    raw = features[ALL_FEATURES].astype(float)
    centroid = {c: model.centroids_[c] for c in clustered}
    profile_rows = []
    for cluster in range(model.k_):
        members = model.labels_ == cluster
        row = {"cluster": cluster, "role": model.role_names_[cluster], "agents": int(members.sum()),
               "share": float(members.mean())}
        for column in ALL_FEATURES:
            row[f"{column}_mean"] = float(raw.loc[members, column].mean())
            row[f"{column}_median"] = float(raw.loc[members, column].median())
            # the standardised centroid, for the features the clustering used
            row[f"{column}_z"] = float(centroid[column][cluster]) if column in centroid else None
        profile_rows.append(row)
    profiles = pd.DataFrame(profile_rows)
    k_selection = model.summary.reset_index()
    k_selection["sizes"] = k_selection["sizes"].map(lambda s: [int(v) for v in s])
    for name, frame in (("role_profiles", profiles), ("role_k_selection", k_selection)):
        db.write_table(con, name, frame)

    registered = con.execute("SELECT count(*) FROM agents").fetchone()[0]
    active = len(features)
    inactive = con.execute("SELECT count(*) FROM agent_roles WHERE NOT active").fetchone()[0]
    periphery = int(sum(n for c, n in enumerate(model.sizes_) if model.role_names_[c] == "periphery"))
    sizes = {model.role_names_[c]: int(n) for c, n in enumerate(model.sizes_)}
    total = max(registered, active)
    _status.record(con, "roles", note=note)
    return RolesResult(
        k=model.k_, silhouette=model.silhouette_, silhouette_sd=model.silhouette_sd_, bic_best_k=model.bic_best_k_,
        degenerate=model.degenerate_, registered_agents=int(registered), active_agents=int(active),
        inactive_agents=int(inactive), periphery_share=periphery / active if active else float("nan"),
        periphery_share_all=(periphery + inactive) / total if total else float("nan"),
        role_sizes=sizes, k_selection=k_selection, profiles=profiles, timings=timings, note=note,
    )


def _roles_not_estimable(con, features: pd.DataFrame, k_range: list[int], timings: dict, say) -> RolesResult:
    """Too few active agents to cluster: every active agent is `unclassified`, and the step says why."""
    active = len(features)
    reason = (f"{active:,} active agents; {k_range[0]} roles need at least {k_range[0] * _status.MIN_AGENTS_PER_ROLE} "
              f"({_status.MIN_AGENTS_PER_ROLE} per role)")
    con.register("_active", features[["agent_id"]])
    try:
        con.execute(
            """
            CREATE OR REPLACE TABLE agent_roles AS
            SELECT a.id AS agent_id, a.name, CAST(NULL AS INTEGER) AS cluster,
                   CASE WHEN r.agent_id IS NULL THEN 'inactive' ELSE 'unclassified' END AS role,
                   r.agent_id IS NOT NULL AS active, 0.0 AS core_periphery_score
            FROM agents a LEFT JOIN _active r ON r.agent_id = a.id
            UNION ALL BY NAME
            SELECT r.agent_id, NULL AS name, NULL AS cluster, 'unclassified' AS role, true AS active,
                   0.0 AS core_periphery_score
            FROM _active r WHERE r.agent_id NOT IN (SELECT id FROM agents)
            """
        )
    finally:
        con.unregister("_active")
    for name in ("role_profiles", "role_k_selection"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    registered = con.execute("SELECT count(*) FROM agents").fetchone()[0]
    inactive = con.execute("SELECT count(*) FROM agent_roles WHERE NOT active").fetchone()[0]
    say(f"roles: not estimable: {reason}")
    _status.record(con, "roles", reason)
    nan = float("nan")
    return RolesResult(
        k=None, silhouette=nan, silhouette_sd=nan, bic_best_k=None, degenerate=False,
        registered_agents=int(registered), active_agents=active, inactive_agents=int(inactive),
        periphery_share=nan, periphery_share_all=nan, role_sizes={}, k_selection=pd.DataFrame(),
        profiles=pd.DataFrame(), timings=timings, reason=reason,
    )
