"""Coverage of every interval the report prints, on planted societies, and the power-law test's size.

    .venv/bin/python benchmarks/coverage.py [--societies 200] [--agents 3000] [--calibration 1000]

Part 1 (`observatory.studies.coverage`): N planted societies with seeds 1..N; for each 95% interval the share that
contains the planted value, with its exact binomial interval. Part 2: the share of goodness-of-fit p-values below
0.1 on pure power-law samples (150 draws, alpha 2.5, 49 replicates each, so an exact test rejects 10%).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np  # noqa: E402
from rich.progress import track  # noqa: E402
from scipy import stats  # noqa: E402

from observatory.estimators import _powerlaw_core as core  # noqa: E402
from observatory.estimators.powerlaw import PowerLawFit  # noqa: E402
from observatory.studies.coverage import run_coverage, summarise  # noqa: E402


def run_coverage_with_progress(societies: int, agents: int):
    from rich.progress import Progress

    with Progress() as progress:
        task = progress.add_task("planted societies", total=societies)
        return run_coverage(societies, n_agents=agents, progress=lambda done, total: progress.update(task,
                                                                                                   completed=done))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--societies", type=int, default=200)
    parser.add_argument("--agents", type=int, default=3_000)
    parser.add_argument("--calibration", type=int, default=1_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    start = time.perf_counter()
    rows = run_coverage_with_progress(args.societies, args.agents)
    table = summarise(rows)
    print(f"\nCoverage of 95% intervals, {args.societies} planted societies of {args.agents:,} agents "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"{'interval':<32}{'n':>5}{'coverage':>10}{'exact 95% CI':>18}{'mean width':>12}{'mean bias':>11}")
    for r in table.itertuples():
        print(f"{r.interval:<32}{r.n:>5}{r.coverage:>10.3f}{f'{r.coverage_lower:.3f}-{r.coverage_upper:.3f}':>18}"
              f"{r.mean_width:>12.4f}{r.mean_bias:>+11.4f}")

    for discrete in (True, False):
        rejected = 0
        for i in track(range(args.calibration), description=f"GoF size, {'discrete' if discrete else 'continuous'}"):
            values = core.power_law(2.5, 1.0, discrete).sample(np.random.default_rng(7_000 + i), 150)
            fit = PowerLawFit(discrete=discrete, n_bootstrap=49, seed=i, alternatives=()).fit(values)
            rejected += fit.p_value_ < 0.1
        ci = stats.binomtest(rejected, args.calibration).proportion_ci(0.95, method="exact")
        print(f"power-law GoF on pure power laws ({'discrete' if discrete else 'continuous'}): share p < 0.1 = "
              f"{rejected / args.calibration:.3f} (exact 95% CI {ci.low:.3f}-{ci.high:.3f}), nominal 0.100")


if __name__ == "__main__":
    main()
