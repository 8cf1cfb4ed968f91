"""Benchmark: the power-law goodness-of-fit bootstrap, fast refit against a plain loop of `powerlaw.Fit`.

10,000 cascade sizes drawn from the exact discrete power law (alpha = 2.5, xmin = 1); alpha, xmin and a
1,000-replicate goodness-of-fit p-value (Clauset et al. 2009, section 4.1). The baseline refits each synthetic
sample with `powerlaw.Fit`; it is timed on a few replicates and extrapolated. Both draw the synthetic samples with
the same exact sampler, so the comparison is of the refits (powerlaw's own exact discrete sampler, a Python
bisection per value, is timed separately and would only add to the baseline).

    .venv/bin/python benchmarks/powerlaw_fit.py [--replicates 1000] [--loop-replicates 20] [--n-jobs 2]

``--data words`` runs the same comparison on the Moby Dick word counts (Clauset et al. Table 6.1); with
``--loop-replicates 300`` the plain loop's own p-value is precise enough (SE ~0.027) to check the fast bootstrap's.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np  # noqa: E402
import powerlaw  # noqa: E402

from observatory.estimators import _powerlaw_core as core  # noqa: E402
from observatory.estimators.powerlaw import PowerLawFit  # noqa: E402


def synthetic_sample(rng, data, model, n_tail):
    below = data[data < model.xmin]
    n = len(data)
    k = int(rng.binomial(n, n_tail / n)) if len(below) else n
    body = below[rng.integers(0, len(below), n - k)] if len(below) else np.empty(0)
    return np.concatenate((model.sample(rng, k), body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--alpha", type=float, default=2.5)
    parser.add_argument("--replicates", type=int, default=1_000)
    parser.add_argument("--loop-replicates", type=int, default=20)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", choices=("planted", "words"), default="planted")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    if args.data == "words":
        data = np.loadtxt(Path(powerlaw.__file__).parent / "reference_data" / "words.txt")
        print(f"sample: Moby Dick word counts, {len(data):,} values")
    else:
        data = core.DiscretePowerLaw(args.alpha, 1).sample(np.random.default_rng(args.seed), args.n)
        print(f"sample: {args.n:,} sizes from the discrete power law alpha={args.alpha}, xmin=1")
    print(f"  {len(np.unique(data))} distinct values, max {data.max():,.0f}")

    start = time.perf_counter()
    reference = powerlaw.Fit(data, discrete=True, verbose=0)
    fit_seconds = time.perf_counter() - start
    print(f"powerlaw.Fit: alpha={reference.power_law.alpha:.4f}, xmin={reference.xmin:g}, "
          f"n_tail={reference.n_tail:.0f} ({fit_seconds * 1e3:.1f} ms)")

    observed = core.fit_tail(data, True)
    # Sample from powerlaw's fit, as PowerLawFit does; the refits then follow the same procedure.
    problem = core.BootstrapProblem(data=data, discrete=True, xmin=reference.xmin, alpha=reference.power_law.alpha,
                                    n_tail=int(reference.n_tail), fixed_xmin=False)
    # The seeds PowerLawFit(seed=args.seed) gives its goodness-of-fit replicates, so the p-values below agree.
    seeds = {"goodness_of_fit": np.random.SeedSequence(args.seed).spawn(2)[0].spawn(args.replicates)}
    fast = {}
    for jobs in sorted({1, args.n_jobs}):
        start = time.perf_counter()
        ks = core.run_bootstrap(problem, seeds, n_jobs=jobs)["goodness_of_fit"][:, 0]
        fast[jobs] = time.perf_counter() - start
    p = float(np.mean(ks >= observed.ks))
    print(f"fast bootstrap: p = {p:.3f} +/- {np.sqrt(p * (1 - p) / args.replicates):.3f} (Monte Carlo SE), "
          f"{args.replicates:,} replicates")

    # The baseline: the same synthetic samples, refitted by powerlaw.Fit one at a time.
    rng = np.random.default_rng(args.seed + 1)
    model = core.DiscretePowerLaw(reference.power_law.alpha, reference.xmin)
    loop_ks = []
    start = time.perf_counter()
    for _ in range(args.loop_replicates):
        sample = synthetic_sample(rng, data, model, reference.n_tail)
        loop_ks.append(powerlaw.Fit(sample, discrete=True, verbose=0).power_law.D)
    loop_per_replicate = (time.perf_counter() - start) / args.loop_replicates
    loop_seconds = loop_per_replicate * args.replicates
    loop_p = float(np.mean(np.array(loop_ks) >= reference.power_law.D))
    print(f"plain loop:     p = {loop_p:.3f} +/- {np.sqrt(loop_p * (1 - loop_p) / args.loop_replicates):.3f} "
          f"(Monte Carlo SE), {args.loop_replicates:,} replicates, powerlaw's D")

    law = powerlaw.Power_Law(xmin=reference.xmin, parameters=[reference.power_law.alpha], discrete=True, verbose=0)
    draws = 500
    start = time.perf_counter()
    law.generate_random(draws, estimate_discrete=False)
    powerlaw_sampler = (time.perf_counter() - start) / draws * reference.n_tail

    start = time.perf_counter()
    full = PowerLawFit(discrete=True, n_bootstrap=args.replicates, seed=args.seed, n_jobs=args.n_jobs).fit(data)
    full_seconds = time.perf_counter() - start

    print()
    print(f"{'goodness-of-fit bootstrap, ' + format(args.replicates, ',') + ' replicates':<58}{'wall s':>9}"
          f"{'ms/rep':>9}{'vs loop':>9}")
    print(f"{'plain loop of powerlaw.Fit (extrapolated from ' + str(args.loop_replicates) + ')':<58}"
          f"{loop_seconds:>9.1f}{loop_per_replicate * 1e3:>9.2f}{1:>9.1f}")
    for jobs, seconds in fast.items():
        print(f"{'fast refit, n_jobs=' + str(jobs):<58}{seconds:>9.2f}{seconds / args.replicates * 1e3:>9.2f}"
              f"{loop_seconds / seconds:>9.1f}x")
    print()
    print(f"powerlaw's own exact discrete sampler: {powerlaw_sampler:.1f} s per synthetic tail of "
          f"{reference.n_tail:.0f} (timed on {draws}); not included in the loop above")
    print(f"PowerLawFit.fit, everything (GoF and alpha-interval bootstraps of {args.replicates:,} each, "
          f"4 alternatives), n_jobs={args.n_jobs}: {full_seconds:.1f} s")
    print(f"  alpha = {full.alpha_:.4f} (SE {full.alpha_se_:.4f}, bootstrap 95% CI {full.alpha_ci_[0]:.4f}-"
          f"{full.alpha_ci_[1]:.4f}), xmin = {full.xmin_:g}, p = {full.p_value_:.3f} +/- {full.p_value_se_:.3f}, "
          f"verdict: {full.verdict_}")


if __name__ == "__main__":
    main()
