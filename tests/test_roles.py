"""Structural roles: betweenness approximation, honest k selection, role naming, and the reply-graph mart."""

from __future__ import annotations

import igraph as ig
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from observatory import db as _db
from observatory.estimators.roles import RoleClustering, name_roles
from observatory.ingest.load import ingest_drop
from observatory.studies.roles import approximate_betweenness, build_interaction_graph, compute_agent_features

from .test_ingest import write_jsonl


def reply_like_graph(n: int, seed: int) -> ig.Graph:
    """A directed heavy-tailed graph with reciprocated edges, like a reply graph."""
    rng = np.random.default_rng(seed)
    graph = ig.Graph.Barabasi(n=n, m=3, directed=True)
    edges = np.array(graph.get_edgelist())
    graph.add_edges(edges[rng.random(len(edges)) < 0.5][:, ::-1].tolist())
    return graph.simplify()


@pytest.mark.parametrize("seed", [1, 2])
def test_sampled_source_betweenness_agrees_with_exact(seed):
    # Reference: igraph's exact Brandes betweenness on a graph small enough for it.
    graph = reply_like_graph(3000, seed)
    exact = np.asarray(graph.betweenness(directed=True))
    approx = approximate_betweenness(graph, 512, seed=seed)
    assert spearmanr(exact, approx).statistic >= 0.9
    # The estimator is unbiased: totals agree to a few percent.
    assert approx.sum() == pytest.approx(exact.sum(), rel=0.05)
    # With as many sources as vertices it is the exact value.
    assert np.allclose(approximate_betweenness(graph, None), exact)


def test_degenerate_solution_is_flagged_not_reported_as_a_success():
    # The shape a re-analysis found in the study: one giant cluster and a few far outliers (12,281 / 1 / 21).
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, size=(2000, 5)), np.full((1, 5), 60.0), rng.normal(-40, 0.5, size=(20, 5))])
    model = RoleClustering(k_range=range(2, 6), seed=0, name_clusters=False).fit(pd.DataFrame(X))
    table = model.k_selection_.set_index("k")
    # Silhouette alone would call this an excellent clustering...
    assert table.loc[3, "silhouette"] > 0.9
    assert table.loc[3, "sizes"] == [2000, 20, 1]
    # ...but every solution has a cluster under 1% of agents, so the result is flagged.
    assert table["degenerate"].all()
    assert model.degenerate_
    text = pd.DataFrame(model.summary).to_string()
    assert "sizes" in text and "degenerate" in text


def test_well_separated_groups_are_recovered_with_the_right_k():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 4]])
    sizes = [1500, 300, 200, 100]
    X = np.vstack([rng.normal(c, 0.5, size=(s, 3)) for c, s in zip(centres, sizes)])
    truth = np.repeat(np.arange(4), sizes)
    model = RoleClustering(k_range=range(2, 8), seed=0, name_clusters=False).fit(pd.DataFrame(X, columns=list("abc")))
    assert model.k_ == 4
    assert not model.degenerate_
    assert sorted(model.sizes_.tolist(), reverse=True) == pytest.approx(sizes, abs=10)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, model.labels_) > 0.98
    assert model.k_selection_.set_index("k").loc[4, "stability_ari"] > 0.95


def test_role_names_follow_the_centroid_profile():
    centroids = pd.DataFrame(
        {
            "posts": [-0.3, 0.2, 3.0, 0.1],
            "comments": [-0.5, 2.0, -0.2, 1.0],
            "in_strength": [-0.4, 0.5, 0.3, 3.0],
            "pagerank": [-0.4, 0.4, 0.2, 2.5],
            "in_degree": [-0.4, 0.6, 0.2, 2.0],
            "out_degree": [-0.5, 2.5, -0.8, 0.5],
            "reciprocity": [-0.3, 1.5, -0.5, 0.4],
            "thread_start_share": [0.1, -1.0, 0.5, 0.0],
            "coreness": [-0.6, 1.5, 0.0, 1.5],
        }
    )
    assert name_roles(centroids) == {0: "periphery", 1: "conversationalist", 2: "broadcaster", 3: "hub"}
    # A fifth cluster that fits none of the four signatures is named after its most distinctive feature.
    extra = pd.concat([centroids, pd.DataFrame([{c: 0.0 for c in centroids.columns} | {"thread_start_share": 3.0}])],
                      ignore_index=True)
    assert name_roles(extra) == {0: "periphery", 1: "conversationalist", 2: "broadcaster", 3: "hub",
                                 4: "high_thread_start_share"}


def test_reply_graph_edges_and_features_from_a_hand_made_log(tmp_path):
    """Worked by hand: bob and carol reply to alice's post, alice replies to bob, carol replies to herself."""
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    write_jsonl(drop / "agents.jsonl", [
        {"id": a, "name": n, "created_at": "2026-01-28T00:00:00Z"}
        for a, n in (("a1", "alice"), ("a2", "bob"), ("a3", "carol"), ("a4", "dave"))
    ])
    write_jsonl(drop / "posts.jsonl", [
        {"id": "p1", "submolt": "general", "author": {"id": "a1", "name": "alice"}, "created_at": "2026-01-28T01:00:00Z"},
        {"id": "p2", "submolt": "tools", "author": {"id": "a3", "name": "carol"}, "created_at": "2026-01-29T01:00:00Z"},
    ])
    write_jsonl(drop / "comments.jsonl", [
        {"id": "c1", "post_id": "p1", "author": "bob", "created_at": "2026-01-28T02:00:00Z"},
        {"id": "c2", "post_id": "p1", "parent_id": "c1", "author": "alice", "created_at": "2026-01-28T03:00:00Z"},
        {"id": "c3", "post_id": "p1", "author": "carol", "created_at": "2026-01-28T04:00:00Z"},
        {"id": "c4", "post_id": "p1", "parent_id": "c1", "author": "bob", "created_at": "2026-01-28T05:00:00Z"},
        {"id": "c5", "post_id": "p2", "author": "carol", "created_at": "2026-01-29T02:00:00Z"},
        {"id": "c6", "post_id": "p1", "author": "bob", "created_at": "2026-01-30T02:00:00Z"},
        {"id": "c7", "post_id": "p1", "parent_id": "gone", "author": "carol", "created_at": "2026-01-30T03:00:00Z"},
    ])
    ingest_drop(drop, db)
    con = _db.connect(db)
    build_interaction_graph(con)
    edges = con.execute("SELECT source_id, target_id, weight FROM interaction_edges ORDER BY ALL").fetchall()
    # c1, c6 bob->alice; c2 alice->bob; c3 carol->alice; c4 bob->bob (self, dropped); c5 carol->carol (dropped);
    # c7's parent is not in the log: dropped rather than guessed.
    assert edges == [("a1", "a2", 1), ("a2", "a1", 2), ("a3", "a1", 1)]
    features = compute_agent_features(con, betweenness_sources=None).set_index("agent_id")
    con.close()
    # dave never wrote anything: not an active agent.
    assert list(features.index) == ["a1", "a2", "a3"]
    assert features.loc["a1", ["in_degree", "out_degree", "in_strength"]].tolist() == [2, 1, 3]
    assert features.loc["a2", "reciprocity"] == 1.0 and features.loc["a3", "reciprocity"] == 0.0
    assert features.loc["a1", "posts"] == 1 and features.loc["a2", "comments"] == 3
    # bob's comments: c1 and c6 start threads, c4 does not.
    assert features.loc["a2", "thread_start_share"] == pytest.approx(2 / 3)
    # carol posts in tools and comments in general and tools twice: entropy of (general 2, tools 2) = 1 bit.
    assert features.loc["a3", "submolt_entropy"] == pytest.approx(1.0)
    # carol -> alice <-> bob: alice is on every path between carol and bob.
    assert features.loc["a1", "betweenness"] == pytest.approx(1.0)
    assert features.loc["a1", "coreness"] == 1 and features.loc["a3", "coreness"] == 1
