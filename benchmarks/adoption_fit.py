"""Wall time and peak memory of the adoption-hazard fit on a planted panel of about a million rows.

    .venv/bin/python benchmarks/adoption_fit.py [--rows 1000000] [--max-rows 200000] [--seed 0]

Fits the exposure hazard model (exposure count plus an agent covariate, Efron ties, standard errors clustered by
agent, proportional-hazards test, concordance over the whole panel) once on the whole panel and once on a
case-control sample of it, and the exposure curve. Peak memory is the largest traced allocation during each step
(tracemalloc, which sees numpy's buffers) and the process's maximum resident set size at the end. Goal: each fit
under two minutes on two cores.
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc

from observatory.estimators.cox import ExposureHazardModel, simulate_exposure_panel
from observatory.estimators.exposure_curve import ExposureCurve, exposure_pairs_from_panel

PLANTED_HAZARD_RATIO = 0.53
# With the simulator's defaults (0.1 exposures per hour over 100 hours, baseline hazard 0.02 per hour) a pair
# contributes about 9.8 rows.
ROWS_PER_PAIR = 9.5


def measured(label, step):
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    print(f"{label:<34} {seconds:8.1f} s   peak traced {peak / 2**20:8.0f} MiB")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="approximate panel size")
    parser.add_argument("--max-rows", type=int, default=200_000, help="rows kept by the case-control sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tracemalloc.start()
    panel = measured(
        "simulate panel",
        lambda: simulate_exposure_panel(
            n_pairs=math.ceil(args.rows / ROWS_PER_PAIR), hazard_ratio=PLANTED_HAZARD_RATIO,
            activity_hazard_effect=0.3, activity_exposure_effect=0.3, seed=args.seed,
        ),
    )
    print(f"panel: {len(panel):,} rows, {int(panel['event'].sum()):,} adoptions, "
          f"{panel['agent_id'].nunique():,} agents; planted hazard ratio {PLANTED_HAZARD_RATIO}")

    full = measured("fit, whole panel", lambda: ExposureHazardModel().fit(panel, covariates=["activity"]))
    sampled = measured(
        f"fit, case-control to {args.max_rows:,} rows",
        lambda: ExposureHazardModel(max_rows=args.max_rows, seed=args.seed).fit(panel, covariates=["activity"]),
    )
    curve = measured(
        "exposure curve + curvature test",
        lambda: ExposureCurve().fit(exposure_pairs_from_panel(panel), hazard_ratio_ci=full.hazard_ratio_ci_),
    )
    tracemalloc.stop()

    for name, model in (("whole panel", full), ("case-control", sampled)):
        low, high = model.hazard_ratio_ci_
        print(f"{name:<13} HR {model.hazard_ratio_:.4f} [{low:.4f}, {high:.4f}]  rows {model.n_rows_:,}  "
              f"concordance {model.concordance_:.4f}  PH test p {model.ph_test_['p'].iloc[0]:.3f}")
    print(f"sampling: p = {sampled.sampling_['probability']:.4f}, "
          f"{sampled.sampling_['n_non_event_rows_sampled']:,} of {sampled.sampling_['n_non_event_rows_panel']:,} "
          "non-event rows")
    print(f"exposure curve: k^2 coefficient {curve.curvature_coef_:+.4f} (p = {curve.curvature_p_value_:.3g}); "
          f"verdict {curve.verdict_}")
    # ru_maxrss is in KiB on Linux.
    print(f"process peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
    main()
