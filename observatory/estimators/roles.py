"""Role clustering: k-means with the k chosen in the open (silhouette beside the sizes, BIC, seed stability).

A DataFrame of per-agent features in, a fitted :class:`RoleClustering` out; the features and the tables come from
the roles study (:mod:`observatory.studies.roles`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from observatory.estimators.base import Estimator

__all__ = ["ACTIVITY_FEATURES", "GRAPH_FEATURES", "CLUSTERING_FEATURES", "ALL_FEATURES", "RoleClustering",
           "feature_matrix", "name_roles"]

ACTIVITY_FEATURES = ["posts", "comments", "thread_start_share", "active_days", "submolt_entropy", "burstiness"]
GRAPH_FEATURES = [
    "in_degree", "out_degree", "in_strength", "out_strength", "pagerank", "betweenness", "clustering",
    "reciprocity", "coreness",
]
# Counts and centralities are heavy-tailed: they enter the clustering as log1p; shares and entropies as they are.
LOG_FEATURES = {"posts", "comments", "active_days", "in_degree", "out_degree", "in_strength", "out_strength",
                "pagerank", "betweenness", "coreness"}
# What the clustering sees: four behavioural axes of a structural role, each on its own scale -- how much an agent
# broadcasts (posts), how much it takes part (comments), how much attention it draws (replies received) and how much
# it exchanges (reciprocity). The other features are computed, stored in `agent_features` and profiled per role in
# `role_profiles`, but not clustered on: degree, strength, PageRank, betweenness and coreness largely restate
# volume and so weight "how active" several times over, and clustering coefficient, thread-start share, submolt
# entropy and burstiness are noise for the many agents with one or two comments. On the simulator's planted roles
# all fourteen features make the silhouette prefer k = 2 (ARI 0.86) and split the periphery by whether an agent has
# a triangle; these four find the planted k = 4 (ARI 0.997). `run_roles(features=...)` takes any other choice.
CLUSTERING_FEATURES = ["posts", "comments", "in_strength", "reciprocity"]
ALL_FEATURES = ACTIVITY_FEATURES + GRAPH_FEATURES


def feature_matrix(features: pd.DataFrame, columns: Sequence[str] = CLUSTERING_FEATURES) -> np.ndarray:
    """The clustering's input: log1p of the heavy-tailed columns, the rest as they are, missing values as 0.

    Scaling (to zero mean, unit variance) is done by :class:`RoleClustering`.
    """
    matrix = np.empty((len(features), len(columns)))
    for j, column in enumerate(columns):
        values = features[column].to_numpy(dtype=float)
        if column == "pagerank":
            values = values * len(features)  # in units of the uniform share 1/n, so that log1p spreads it
        matrix[:, j] = np.log1p(np.clip(values, 0, None)) if column in LOG_FEATURES else values
    return np.nan_to_num(matrix, nan=0.0)


ROLE_SCORES = {
    # Each role's signature on the standardised centroid; names are assigned to clusters by maximising the total
    # score (Hungarian algorithm), so a name goes to the cluster that fits it best, and only once.
    "hub": {"in_strength": 1.0, "pagerank": 1.0, "in_degree": 0.5},
    "broadcaster": {"posts": 1.0, "out_degree": -1.0, "comments": -0.5},
    "conversationalist": {"out_degree": 1.0, "comments": 1.0, "reciprocity": 1.0, "thread_start_share": -0.5},
    "periphery": {"comments": -1.0, "posts": -1.0, "in_strength": -1.0, "coreness": -1.0},
}


def name_roles(centroids: pd.DataFrame) -> dict[int, str]:
    """A descriptive, stable name for each cluster from its standardised centroid (rows: cluster, columns: features).

    The four named roles are hub, broadcaster, conversationalist and periphery. When there are more clusters than
    names, the extra clusters are called after their most distinctive feature (`high_<feature>` or
    `low_<feature>`); the same centroids always give the same names.
    """
    clusters = list(centroids.index)
    names = list(ROLE_SCORES)
    score = np.zeros((len(clusters), len(names)))
    for j, name in enumerate(names):
        for feature, weight in ROLE_SCORES[name].items():
            if feature in centroids.columns:
                score[:, j] += weight * centroids[feature].to_numpy()
    rows, cols = linear_sum_assignment(-score)
    assigned = {clusters[r]: names[c] for r, c in zip(rows, cols)}
    for cluster in clusters:
        if cluster not in assigned:
            profile = centroids.loc[cluster]
            feature = profile.abs().idxmax()
            assigned[cluster] = f"{'high' if profile[feature] > 0 else 'low'}_{feature}"
    # Two leftovers with the same description get numbered, in cluster order.
    seen: dict[str, int] = {}
    for cluster in clusters:
        name = assigned[cluster]
        if name in seen:
            seen[name] += 1
            assigned[cluster] = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
    return assigned


class RoleClustering(Estimator):
    """k-means role clustering with the k chosen in the open.

    For every k in `k_range` the same procedure runs: k-means (`n_init` restarts), the silhouette on `n_samples`
    random subsamples of `sample_size` agents with fixed seeds (its mean and spread), the Bayesian information
    criterion of a Gaussian mixture with k components (on a subsample of at most `gmm_sample_size`), the stability
    of the partition (mean adjusted Rand index between k-means runs from `n_stability_seeds` different seeds), and
    the cluster sizes. A solution whose smallest cluster holds less than `min_share` of the agents is *degenerate*.

    The chosen k maximises the mean silhouette among solutions that are neither degenerate nor unstable
    (stability ARI below `min_stability`); if every solution is, the best silhouette is chosen and `degenerate_`
    is set, so the output cannot be mistaken for a finding.

    .. math:: s(i) = \\frac{b(i) - a(i)}{\\max(a(i), b(i))}, \\qquad \\mathrm{BIC} = -2 \\ln \\hat L + p \\ln n

    Parameters
    ----------
    k_range : the candidate numbers of clusters (default 2..10).
    min_share : the smallest acceptable cluster share (default 0.01).
    min_stability : the smallest acceptable mean ARI between seeds (default 0.8).
    sample_size, n_samples : silhouette subsample size and number of subsamples (exact when that costs no more:
        n <= sample_size * sqrt(n_samples)).
    gmm_sample_size : agents used for the Gaussian-mixture BIC.
    n_init : k-means restarts; n_stability_seeds : k-means runs compared for stability.
    seed : the seed of everything random here.
    name_clusters : name the clusters by their profile (`name_roles`) or call them ``cluster_<c>``.
    progress : a callable told each k as it is tried.

    Attributes
    ----------
    k_ : the chosen k.
    labels_ : cluster of each agent (0..k-1, ordered by decreasing size).
    role_names_ : {cluster: role name}; roles_ : the role name of each agent.
    k_selection_ : DataFrame, one row per k: silhouette mean and sd, BIC, stability ARI, sizes, min share,
        degenerate, unstable, chosen.
    centroids_ : standardised centroid of each cluster (rows) over the features (columns).
    degenerate_ : True when the chosen solution is degenerate or unstable.
    silhouette_, silhouette_sd_, bic_best_k_ : for the chosen k, and the k that BIC prefers.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(np.vstack([rng.normal(m, 0.3, size=(200, 3)) for m in (0, 3, 6)]), columns=list("abc"))
    >>> RoleClustering(k_range=range(2, 6), name_clusters=False).fit(X).k_
    3
    """

    _fitted_attribute = "roles_"

    def __init__(
        self,
        k_range: Sequence[int] = range(2, 11),
        *,
        min_share: float = 0.01,
        min_stability: float = 0.8,
        sample_size: int = 10_000,
        n_samples: int = 5,
        gmm_sample_size: int = 20_000,
        n_init: int = 10,
        n_stability_seeds: int = 4,
        seed: int = 0,
        name_clusters: bool = True,
        progress: Callable[[str], None] | None = None,
    ):
        self.k_range = list(k_range)
        self.min_share = min_share
        self.min_stability = min_stability
        self.sample_size = sample_size
        self.n_samples = n_samples
        self.gmm_sample_size = gmm_sample_size
        self.n_init = n_init
        self.n_stability_seeds = n_stability_seeds
        self.seed = seed
        self.name_clusters = name_clusters
        self.progress = progress

    def _silhouette(self, X: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        n = len(X)
        # The exact silhouette costs n^2 distances, the sampled one n_samples * sample_size^2: below the size where
        # they cost the same (sample_size * sqrt(n_samples), 22,360 agents by default) exact is cheaper and exact.
        if n <= self.sample_size or n * n <= self.n_samples * self.sample_size ** 2:
            return float(silhouette_score(X, labels)), 0.0
        values = [
            silhouette_score(X, labels, sample_size=self.sample_size, random_state=self.seed + i)
            for i in range(self.n_samples)
        ]
        return float(np.mean(values)), float(np.std(values, ddof=1))

    def fit(self, X, *, profile: pd.DataFrame | None = None) -> "RoleClustering":
        """Choose k and cluster the rows of ``X`` (agents by features).

        ``profile``, optional: a DataFrame of features for the same rows whose standardised means per cluster name
        the roles (`name_roles`), when the names should draw on more than the clustered features (a hub is named
        for its PageRank as well as the replies it receives); the default names from ``X``'s centroids.
        """
        say = self.progress or (lambda message: None)
        columns = list(X.columns) if isinstance(X, pd.DataFrame) else [f"x{j}" for j in range(np.shape(X)[1])]
        raw = np.asarray(X, dtype=float)
        self.scaler_ = StandardScaler().fit(raw)
        Z = self.scaler_.transform(raw)
        n = len(Z)
        rng = np.random.default_rng(self.seed)
        gmm_rows = rng.choice(n, size=min(n, self.gmm_sample_size), replace=False)
        rows, solutions = [], {}
        for k in self.k_range:
            if k >= n:
                continue
            say(f"k = {k}")
            model = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed).fit(Z)
            labels = model.labels_
            sizes = np.bincount(labels, minlength=k)
            sil, sil_sd = self._silhouette(Z, labels)
            gmm = GaussianMixture(n_components=k, covariance_type="full", random_state=self.seed, reg_covar=1e-4)
            bic = float(gmm.fit(Z[gmm_rows]).bic(Z[gmm_rows]))
            runs = [KMeans(n_clusters=k, n_init=1, random_state=self.seed + 1000 + i).fit(Z).labels_
                    for i in range(self.n_stability_seeds)]
            stability = float(np.mean([adjusted_rand_score(labels, r) for r in runs])) if runs else float("nan")
            min_share = float(sizes.min() / n)
            rows.append({
                "k": k, "silhouette": sil, "silhouette_sd": sil_sd, "bic": bic, "stability_ari": stability,
                "sizes": sorted(sizes.tolist(), reverse=True), "min_share": min_share,
                "degenerate": min_share < self.min_share,
                "unstable": bool(stability < self.min_stability),
            })
            solutions[k] = model
        table = pd.DataFrame(rows)
        if table.empty:
            raise ValueError(f"too few agents ({n}) for any k in {self.k_range}")
        acceptable = table[~table["degenerate"] & ~table["unstable"]]
        pool = acceptable if len(acceptable) else table
        chosen = int(pool.loc[pool["silhouette"].idxmax(), "k"])
        table["chosen"] = table["k"] == chosen
        self.k_selection_ = table
        self.k_ = chosen
        self.bic_best_k_ = int(table.loc[table["bic"].idxmin(), "k"])
        row = table[table["chosen"]].iloc[0]
        self.silhouette_, self.silhouette_sd_ = float(row["silhouette"]), float(row["silhouette_sd"])
        self.degenerate_ = bool(row["degenerate"] or row["unstable"])
        model = solutions[chosen]
        # Clusters numbered by decreasing size, so that labels do not depend on k-means' arbitrary order.
        order = np.argsort(-np.bincount(model.labels_, minlength=chosen), kind="stable")
        relabel = np.empty(chosen, dtype=int)
        relabel[order] = np.arange(chosen)
        self.labels_ = relabel[model.labels_]
        self.centroids_ = pd.DataFrame(model.cluster_centers_[order], columns=columns)
        self.sizes_ = np.bincount(self.labels_, minlength=chosen)
        if not self.name_clusters:
            self.role_names_ = {c: f"cluster_{c}" for c in range(chosen)}
        elif profile is None:
            self.role_names_ = name_roles(self.centroids_)
        else:
            profile = profile.reset_index(drop=True).astype(float)
            standardised = (profile - profile.mean()) / profile.std(ddof=0).replace(0, 1)
            self.role_names_ = name_roles(standardised.groupby(self.labels_).mean())
        self.roles_ = np.array([self.role_names_[c] for c in self.labels_])
        return self

    @property
    def summary(self) -> pd.DataFrame:
        self._check_fitted()
        table = self.k_selection_.copy()
        table["silhouette"] = table["silhouette"].round(3)
        table["silhouette_sd"] = table["silhouette_sd"].round(4)
        table["stability_ari"] = table["stability_ari"].round(3)
        table["min_share"] = table["min_share"].round(4)
        return table.set_index("k")

    def print_summary(self) -> None:
        self._check_fitted()
        print(self.summary.to_string())
        verdict = "DEGENERATE or unstable: not a finding" if self.degenerate_ else "acceptable"
        print(f"chosen k = {self.k_} (silhouette {self.silhouette_:.3f} +/- {self.silhouette_sd_:.3f}, {verdict}); "
              f"BIC prefers k = {self.bic_best_k_}")

    def to_dict(self) -> dict:
        """The chosen k, its silhouette, the role sizes and the k-selection table, JSON-ready."""
        self._check_fitted()
        table = self.k_selection_.astype(object).where(self.k_selection_.notna(), None)
        return {
            "k": int(self.k_), "silhouette": self.silhouette_, "silhouette_sd": self.silhouette_sd_,
            "degenerate": self.degenerate_, "bic_best_k": self.bic_best_k_,
            "roles": {self.role_names_[c]: int(n) for c, n in enumerate(self.sizes_)},
            "k_selection": [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                            for row in table.to_dict(orient="records")],
        }
