"""Clauset, Shalizi & Newman (2009) Table 6.1, recomputed on every dataset the `powerlaw` package ships.

For each dataset: the published xmin, alpha (bootstrap SD), n_tail and goodness-of-fit p beside ours, with
method="plfit" (Clauset's plfit.m/plpva.m, the procedure behind the table) and the default method="powerlaw"
(powerlaw.Fit's procedure). The p-values carry their Monte Carlo standard error; with 2,500 replicates (the
paper's recommendation, section 4.1) it is at most 0.01.

    .venv/bin/python benchmarks/powerlaw_table.py [--replicates 2500] [--datasets words,cities] [--n-jobs 2]

The table is read from tests/fixtures/reference/clauset_2009_table_6_1.csv, the transcription the tests use.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import pandas as pd  # noqa: E402
import powerlaw  # noqa: E402

from observatory.estimators.powerlaw import PowerLawFit  # noqa: E402

TABLE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference" / "clauset_2009_table_6_1.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2_500)
    parser.add_argument("--datasets", default="")
    parser.add_argument("--methods", default="plfit,powerlaw")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    table = pd.read_csv(TABLE, comment="#", dtype={"xmin": str, "alpha": str}).set_index("dataset")
    names = [n for n in args.datasets.split(",") if n] or list(table.index)

    print(f"{'dataset':<10} {'method':<9} {'xmin':>9} {'alpha (sd)':>14} {'n_tail':>7} {'p':>6} {'p SE':>6} "
          f"{'seconds':>8}")
    for name in names:
        row = table.loc[name]
        print(f"{name:<10} {'Table 6.1':<9} {row.xmin:>9} {f'{row.alpha} ({row.alpha_sd:g})':>14} "
              f"{row.n_tail:>7} {row.p:>6.2f}")
        values = powerlaw.load_test_dataset(name)
        for method in args.methods.split(","):
            start = time.perf_counter()
            fit = PowerLawFit(discrete=bool(row.discrete), n_bootstrap=args.replicates, seed=args.seed,
                              method=method, alternatives=(), n_jobs=args.n_jobs).fit(values)
            seconds = time.perf_counter() - start
            alpha = f"{fit.alpha_:.3f} ({fit.alpha_bootstrap_se_:.3f})"
            print(f"{'':<10} {method:<9} {fit.xmin_ / row.scale:>9.4g} {alpha:>14} {fit.n_tail_:>7} "
                  f"{fit.p_value_:>6.3f} {fit.p_value_se_:>6.3f} {seconds:>8.1f}")
    print()
    print(f"{args.replicates:,} goodness-of-fit replicates and as many resamples for the alpha SD, seed {args.seed}; "
          f"Monte Carlo SE of p at most {0.5 / math.sqrt(args.replicates):.3f}")


if __name__ == "__main__":
    main()
