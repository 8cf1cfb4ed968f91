"""Coverage of the intervals the report prints, measured on planted societies.

Study: for each of N seeds, simulate a small society (the simulator plants the cascade exponent, the adoption
hazard ratio and the matched effects), run the analyses as the pipeline does, and record whether each 95%
interval contains the planted value. The coverage of an interval is the share of seeds whose interval does,
reported with its exact (Clopper-Pearson) binomial interval. A 95% interval whose coverage is credibly below 90%
is miscalibrated.

Intervals and their planted targets:

- ``cascades.alpha_bootstrap``: the percentile interval of alpha over resampled cascades; target the planted
  exponent. ``cascades.alpha_asymptotic``: alpha +/- 1.96 times its asymptotic standard error.
- ``adoption.hazard_ratio``: the Cox model's hazard ratio per exposure, agent-clustered robust interval; target
  the planted ratio.
- ``cooperation.rate_difference``: the matched success-rate difference; target the planted effect on the treated.
- ``cooperation.quality_difference``: the matched quality difference; target the planted effect on the treated.
- ``cooperation.cohens_d``: Cohen's d; target the planted quality effect over the pooled SD of the observed quality
  of the two groups (the estimand d divides by a sample SD, so this is its population counterpart).
- ``roles.silhouette``: the silhouette's band as the headline prints it, the mean of ``n_samples`` subsample
  silhouettes +/- 1.96 times their SD; target the exact silhouette of the same clustering (what the subsamples
  estimate).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["society_intervals", "silhouette_intervals", "run_coverage", "summarise"]

LEVEL = 0.95


def _row(interval, seed, planted, estimate, lower, upper):
    return {"interval": interval, "seed": seed, "planted": float(planted), "estimate": float(estimate),
            "lower": float(lower), "upper": float(upper),
            "covered": bool(lower <= planted <= upper) if math.isfinite(lower) and math.isfinite(upper) else None}


def society_intervals(seed: int, n_agents: int = 3_000, n_bootstrap: int = 200) -> list[dict]:
    """One planted society through ingest, cascades, adoption and cooperation: a row per interval."""
    from observatory import db as _db
    from observatory.ingest.load import ingest_drop
    from observatory.simulate.config import SimulationConfig, load_truth
    from observatory.simulate.run import simulate
    from observatory.studies.adoption import run_adoption
    from observatory.studies.cascades import build_cascades
    from observatory.steps import build_agent_activity
    from observatory.studies.cooperation import CooperationConfig, run_cooperation
    from observatory.studies.powerlaw import fit_cascade_sizes

    rows = []
    with tempfile.TemporaryDirectory(prefix="observatory-coverage-") as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drop, db = Path(folder) / "drop", Path(folder) / "observatory.duckdb"
        simulate(drop, SimulationConfig(n_agents=n_agents, seed=seed, votes=False))
        truth = load_truth(drop)
        ingest_drop(drop, db)
        con = _db.connect(db)
        try:
            build_agent_activity(con)
            build_cascades(con)
            # The report's fit without the alternatives: they leave alpha and its intervals as they are, and are a
            # fifth of a society's time.
            fit = fit_cascade_sizes(con, n_bootstrap=n_bootstrap, seed=seed, alternatives=())
            alpha = truth["cascades"]["alpha"]
            rows.append(_row("cascades.alpha_bootstrap", seed, alpha, fit.alpha_, *fit.alpha_ci_))
            z = stats.norm.ppf(0.5 + LEVEL / 2)
            rows.append(_row("cascades.alpha_asymptotic", seed, alpha, fit.alpha_,
                             fit.alpha_ - z * fit.alpha_se_, fit.alpha_ + z * fit.alpha_se_))
            adoption = run_adoption(con, seed=seed)
            model = adoption.linear
            rows.append(_row("adoption.hazard_ratio", seed, truth["adoption"]["hazard_ratio"],
                             model.hazard_ratio_, *model.hazard_ratio_ci_))
            result = run_cooperation(con, CooperationConfig(seed=seed, n_bootstrap=n_bootstrap * 2,
                                                            n_permutations=0))
            m = result.matcher
            if m is not None:
                planted = truth["cooperation"]
                rows.append(_row("cooperation.rate_difference", seed, planted["att_success"], m.rate_difference_,
                                 *m.rate_difference_ci_))
                if m.outcome_ is not None:
                    rows.append(_row("cooperation.quality_difference", seed, planted["att_quality"], m.att_,
                                     *m.att_ci_))
                    quality = con.execute(
                        "SELECT quality, team FROM task_events WHERE team IN ('multi', 'single')").df()
                    sd = math.sqrt((quality.loc[quality.team == "multi", "quality"].var()
                                    + quality.loc[quality.team == "single", "quality"].var()) / 2)
                    rows.append(_row("cooperation.cohens_d", seed, planted["att_quality"] / sd, m.cohens_d_,
                                     *m.cohens_d_ci_))
        finally:
            con.close()
    return rows


def silhouette_intervals(seed: int, n: int = 4_000, sample_size: int = 500, n_samples: int = 5) -> dict:
    """The silhouette band of `RoleClustering` on four planted Gaussian roles, against the exact silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from observatory.estimators.roles import RoleClustering

    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0, 0], [3, 0, 1, 0], [0, 3, 0, 1], [2, 2, 2, 2]], dtype=float)
    labels = rng.choice(len(centres), size=n, p=[0.55, 0.2, 0.15, 0.1])
    X = centres[labels] + rng.normal(0, 1, (n, centres.shape[1]))
    model = RoleClustering(sample_size=sample_size, n_samples=n_samples, seed=seed)
    found = KMeans(n_clusters=4, n_init=model.n_init, random_state=seed).fit(X).labels_
    mean, sd = model._silhouette(X, found)
    exact = silhouette_score(X, found)
    half = stats.norm.ppf(0.5 + LEVEL / 2) * sd
    return _row("roles.silhouette", seed, exact, mean, mean - half, mean + half)


def run_coverage(n_societies: int = 30, n_agents: int = 3_000, first_seed: int = 1, n_bootstrap: int = 200,
                 progress=None) -> pd.DataFrame:
    """Every interval on `n_societies` planted societies (seeds first_seed, first_seed + 1, ...): one row each."""
    rows = []
    for i in range(n_societies):
        seed = first_seed + i
        rows.extend(society_intervals(seed, n_agents=n_agents, n_bootstrap=n_bootstrap))
        rows.append(silhouette_intervals(seed))
        if progress is not None:
            progress(i + 1, n_societies)
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Coverage per interval with its Clopper-Pearson 95% interval, mean width and mean estimate minus target."""
    out = []
    for name, group in rows.dropna(subset=["covered"]).groupby("interval", sort=False):
        n, covered = len(group), int(group["covered"].sum())
        ci = stats.binomtest(covered, n).proportion_ci(0.95, method="exact")
        out.append({"interval": name, "n": n, "covered": covered, "coverage": covered / n,
                    "coverage_lower": ci.low, "coverage_upper": ci.high,
                    "mean_width": float((group["upper"] - group["lower"]).mean()),
                    "mean_bias": float((group["estimate"] - group["planted"]).mean())})
    return pd.DataFrame(out)
