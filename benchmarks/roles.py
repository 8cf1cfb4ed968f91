"""Roles step at Moltbook's scale: features and clustering, wall time and peak memory by step.

    .venv/bin/python benchmarks/roles.py                    # 770,000 agents (~90,000 active, ~10^7 comments)
    .venv/bin/python benchmarks/roles.py --agents 100000    # smaller
    .venv/bin/python benchmarks/roles.py --db path.duckdb   # an already ingested database

Beside it, the study's approach -- networkx with exact betweenness, clustering and k-core -- timed on random
induced subgraphs of growing size and extrapolated to the whole graph (betweenness as O(n m), the rest as O(m)),
printed as a ratio. With --networkx-whole, also run back to back on the whole graph where it can (tens of thousands
of agents), with how far the sampled betweenness and the roles are from the exact ones. Goal: the whole step under
3 minutes on 2 cores, peak memory under 6 GiB.

    .venv/bin/python benchmarks/roles.py --agents 66000 --networkx-whole
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import print_table, rss_bytes, simulated_database  # noqa: E402


class StepClock:
    """Turns progress messages into timed steps: each message ends the previous step and starts the next."""

    def __init__(self):
        import threading

        self.results, self.name, self.started, self.peak = [], None, None, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_bytes())

    def __call__(self, message: str) -> None:
        now = time.perf_counter()
        if self.name is not None:
            self.results.append((self.name, now - self.started, max(self.peak, rss_bytes()) / 2**30))
            print(f"  {self.name:<40} {now - self.started:8.1f} s   peak RSS {self.peak / 2**30:6.2f} GiB", flush=True)
        self.name, self.started, self.peak = message, now, rss_bytes()

    def close(self):
        self("(done)")
        self._stop.set()


def study_graph_features(graph):
    """The study's graph features in networkx: exact betweenness, then clustering and k-core. Returns the exact
    betweenness and the seconds of each part."""
    import networkx as nx

    started = time.perf_counter()
    exact = nx.betweenness_centrality(graph, normalized=False)
    between = time.perf_counter() - started
    started = time.perf_counter()
    undirected = graph.to_undirected()
    nx.clustering(undirected)
    nx.core_number(undirected)
    return exact, between, time.perf_counter() - started


def networkx_extrapolation(con, sizes=(500, 1000, 2000), seed=0) -> dict:
    """Time networkx's exact betweenness, clustering and k-core on subgraphs; extrapolate to the whole graph.

    Subgraphs are snowball samples (breadth-first from a random agent, chosen with igraph on the whole graph), which
    keep the density of the graph where a uniform node sample of a sparse graph would keep almost no edges.
    """
    import igraph as ig
    import networkx as nx
    import numpy as np

    edges = con.execute(
        "SELECT s.idx AS source, t.idx AS target FROM interaction_edges e "
        "JOIN (SELECT agent_id, row_number() OVER (ORDER BY agent_id) - 1 AS idx FROM agent_features) s ON s.agent_id = e.source_id "
        "JOIN (SELECT agent_id, row_number() OVER (ORDER BY agent_id) - 1 AS idx FROM agent_features) t ON t.agent_id = e.target_id"
    ).fetchnumpy()
    n_total = con.execute("SELECT count(*) FROM agent_features").fetchone()[0]
    m_total = len(edges["source"])
    whole = ig.Graph(n=n_total, edges=np.column_stack([edges["source"], edges["target"]]).tolist(), directed=True)
    rng = np.random.default_rng(seed)
    fits = []
    for size in sizes:
        start = int(rng.integers(n_total))
        order = whole.bfs(start, mode="all")[0][:size]
        sub = whole.induced_subgraph(order)
        graph = nx.DiGraph(sub.get_edgelist())
        n, m = graph.number_of_nodes(), graph.number_of_edges()
        _, between, rest = study_graph_features(graph)
        fits.append((n, m, between, rest))
        print(f"  networkx on {n:,} nodes / {m:,} edges: exact betweenness {between:.1f} s, clustering + k-core {rest:.2f} s",
              flush=True)
    # Scale from the largest subgraph: betweenness ~ n*m (Brandes), clustering and k-core ~ m.
    n, m, between, rest = fits[-1]
    return {
        "nodes": n_total, "edges": m_total,
        "betweenness_seconds": between * (n_total * m_total) / (n * m),
        "clustering_kcore_seconds": rest * m_total / m,
    }


def networkx_whole(con, ours_seconds: float, seed: int = 0) -> None:
    """The study's approach on the whole reply graph, where it can run: networkx's exact betweenness, clustering and
    k-core, timed beside our whole roles step; then how far our sampled betweenness is from the exact one (rank
    correlation, overlap of the top 1%), and whether the roles change when the betweenness is exact."""
    import networkx as nx
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.metrics import adjusted_rand_score

    from observatory.studies.roles import run_roles

    edges = con.execute("SELECT source_id, target_id FROM interaction_edges").fetchall()
    graph = nx.DiGraph(edges)
    exact, between, rest = study_graph_features(graph)
    theirs = between + rest
    print(f"  networkx on the whole graph ({graph.number_of_nodes():,} nodes / {graph.number_of_edges():,} edges): "
          f"exact betweenness {between:.1f} s, clustering + k-core {rest:.1f} s")
    print(f"  our whole roles step {ours_seconds:.1f} s: the study's graph features alone take {theirs / ours_seconds:,.0f}x")
    ours = dict(con.execute("SELECT agent_id, betweenness FROM agent_features").fetchall())
    ids = [a for a in exact if a in ours]
    a, b = np.array([ours[i] for i in ids]), np.array([exact[i] for i in ids])
    top = max(1, len(ids) // 100)
    overlap = len(set(np.argsort(-a)[:top]) & set(np.argsort(-b)[:top])) / top
    print(f"  sampled against exact betweenness on {len(ids):,} agents: Spearman {spearmanr(a, b).statistic:.3f}, "
          f"top-1% overlap {overlap:.2f}")
    sampled = dict(con.execute("SELECT agent_id, role FROM agent_roles WHERE active").fetchall())
    run_roles(con, betweenness_sources=None, seed=seed)
    exact_roles = dict(con.execute("SELECT agent_id, role FROM agent_roles WHERE active").fetchall())
    common = sorted(set(sampled) & set(exact_roles))
    ari = adjusted_rand_score([sampled[i] for i in common], [exact_roles[i] for i in common])
    print(f"  roles with sampled against exact betweenness: adjusted Rand {ari:.3f} over {len(common):,} active agents")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=770_000)
    parser.add_argument("--db", type=Path, help="an ingested database to run on")
    parser.add_argument("--workdir", type=Path, help="where to keep the simulated drop and database")
    parser.add_argument("--betweenness-sources", type=int, default=256)
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument("--networkx-whole", action="store_true",
                        help="also run the study's approach (networkx, exact) on the whole graph, where it can run")
    args = parser.parse_args()

    from observatory import db as _db
    from observatory.studies.roles import run_roles
    from observatory.steps import build_agent_activity

    db = args.db or simulated_database(args.workdir or Path(tempfile.mkdtemp(prefix="roles-bench-")), args.agents)
    con = _db.connect(db)
    _db.ensure_schema(con)  # the clean tables (computed once, at ingest)
    build_agent_activity(con)
    active = con.execute("SELECT count(*) FROM agent_activity WHERE active").fetchone()[0]
    comments = con.execute("SELECT count(*) FROM comments").fetchone()[0]
    print(f"database {db}: {active:,} active agents, {comments:,} comments", flush=True)

    clock = StepClock()
    started = time.perf_counter()
    clock("reply graph (SQL)")
    result = run_roles(con, betweenness_sources=args.betweenness_sources, progress=clock)
    clock.close()
    total = time.perf_counter() - started
    edges = con.execute("SELECT count(*), sum(weight) FROM interaction_edges").fetchone()
    print(f"\nreply graph: {edges[0]:,} weighted edges from {edges[1]:,} replies")
    print_table(clock.results[:-1] if clock.results and clock.results[-1][0] == "(done)" else clock.results)
    peak = max(p for _, _, p in clock.results)
    print(f"\nwhole roles step: {total:.1f} s (goal < 180 s), peak RSS {peak:.2f} GiB (goal < 6 GiB)")
    print(f"result: k = {result.k}, silhouette {result.silhouette:.3f}, sizes {result.role_sizes}")

    if not args.skip_networkx:
        print("\nthe study's approach (networkx, exact), extrapolated:")
        nx_cost = networkx_extrapolation(con)
        ours = dict((name, seconds) for name, seconds, _ in clock.results)
        ours_graph = sum(s for name, s in ours.items() if name.startswith(("betweenness", "clustering")))
        theirs = nx_cost["betweenness_seconds"] + nx_cost["clustering_kcore_seconds"]
        print(f"  extrapolated to {nx_cost['nodes']:,} nodes / {nx_cost['edges']:,} edges: betweenness "
              f"{nx_cost['betweenness_seconds'] / 3600:.1f} h, clustering + k-core {nx_cost['clustering_kcore_seconds']:.0f} s")
        print(f"  ours (sampled betweenness, igraph clustering + k-core): {ours_graph:.1f} s; ratio {theirs / ours_graph:,.0f}x")
    if args.networkx_whole:
        print("\nthe study's approach (networkx, exact) on the whole graph, back to back:")
        networkx_whole(con, total)
    con.close()


if __name__ == "__main__":
    main()
