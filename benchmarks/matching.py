"""Timing of `PropensityMatcher` at the scale of the Moltbook comparison: 10^5 baseline threads.

Prints the seconds each stage takes for 10^5 controls against 10^3, 10^4 and 2 x 10^4 treated units, with and
without replacement, exact on 50 strata. Run: `.venv/bin/python benchmarks/matching.py`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from observatory.estimators.matching import PropensityMatcher


def simulated_threads(n_treated: int, n_control: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_treated + n_control
    frame = pd.DataFrame({
        "replies": rng.poisson(5, n).astype(float),
        "age_hours": rng.exponential(24, n),
        "author_karma": rng.lognormal(3, 1, n),
        "submolt": rng.choice([f"s{i}" for i in range(50)], n),
    })
    # Treated units lean towards busier threads so the propensity model has something to find.
    lean = 0.3 * (frame["replies"] - 5) + rng.normal(0, 1, n)
    frame["collaborative"] = np.argsort(np.argsort(-lean)) < n_treated
    frame["quality"] = 0.2 * frame["collaborative"] + 0.1 * frame["replies"] + rng.normal(0, 1, n)
    frame["success"] = rng.random(n) < 0.1
    return frame


def main() -> None:
    covariates = ["replies", "age_hours", "author_karma"]
    print(f"{'treated':>8} {'controls':>9} {'replace':>8} {'matched':>8} {'seconds':>8}")
    for n_treated in (1_000, 10_000, 20_000):
        frame = simulated_threads(n_treated, 100_000)
        for replace in (False, True):
            matcher = PropensityMatcher(exact="submolt", replace=replace, n_bootstrap=2_000, n_permutations=10_000)
            start = time.perf_counter()
            matcher.fit(frame, treatment="collaborative", covariates=covariates, outcome="quality", binary_outcome="success")
            elapsed = time.perf_counter() - start
            print(f"{n_treated:>8} {100_000:>9} {str(replace):>8} {matcher.n_matched_:>8} {elapsed:>8.2f}")


if __name__ == "__main__":
    main()
