"""How often the trends step flags a shift that is not there, and how often it finds one that is.

    .venv/bin/python benchmarks/trends.py [--seeds 100] [--agents 3000] [--days 21] [--window 7d]

For each seed a society is simulated twice: without a change, and with the planted change of the acceptance
(hazard ratio 0.5 before day 11 and 1.2 after; the conversationalists' active count doubled at day 11). Each runs
the whole pipeline (`observatory run`, no bootstrap) in a fresh database. Printed: the share of no-change societies
with any flag (the family-wise false-alarm rate; the detector's level is 0.05), which quantities raised them, and
per planted change the share of societies where it was flagged in a pair of windows around day 11, each with its
exact (Clopper-Pearson) 95% interval.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

from scipy import stats


def exact_interval(k: int, n: int) -> tuple[float, float]:
    lower = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    upper = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(lower), float(upper)


def run_society(work: Path, seed: int, agents: int, days: float, window: str, **change) -> tuple[object, dict]:
    import json

    from typer.testing import CliRunner

    from observatory import db
    from observatory.cli import app
    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate

    folder = work / f"seed-{seed}-{'change' if change else 'none'}"
    simulate(folder / "drop", SimulationConfig(n_agents=agents, days=days, seed=seed, cascade_root_window=0.9,
                                               **change))
    result = CliRunner().invoke(app, ["run", str(folder / "drop"), "--db", str(folder / "obs.duckdb"),
                                      "--out", str(folder / "report"), "--bootstrap", "0", "--window", window])
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    con = db.connect(folder / "obs.duckdb", read_only=True)
    try:
        shifts = con.execute("SELECT * FROM headline_shifts").df()
    finally:
        con.close()
    truth = json.loads((folder / "drop" / "truth.json").read_text())
    shutil.rmtree(folder, ignore_errors=True)
    return shifts, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--agents", type=int, default=3000)
    parser.add_argument("--days", type=float, default=21.0)
    parser.add_argument("--window", default="7d")
    args = parser.parse_args()
    import pandas as pd

    work = Path(tempfile.mkdtemp(prefix="trends-bench-"))
    alarms, by_quantity = 0, collections.Counter()
    found = collections.Counter()
    comparisons = []
    started = time.perf_counter()
    failed: list[str] = []
    changed_runs = 0
    try:
        for seed in range(1, args.seeds + 1):
            try:
                shifts, _ = run_society(work, seed, args.agents, args.days, args.window)
            except RuntimeError as exc:  # a step failed: counted and shown, not hidden
                failed.append(f"seed {seed} without change: {str(exc).strip().splitlines()[-1][:200]}")
                continue
            comparisons.append(len(shifts))
            flagged = shifts[shifts["flagged"]]
            alarms += bool(len(flagged))
            by_quantity.update(set(flagged["quantity"]))
            try:
                shifts, truth = run_society(work, seed, args.agents, args.days, args.window,
                                            adoption_hazard_ratio=0.5, change_at_day=11, hazard_ratio_after=1.2,
                                            role_growth_after=("conversationalist", 2.0))
            except RuntimeError as exc:
                failed.append(f"seed {seed} with the change: {str(exc).strip().splitlines()[-1][:200]}")
                continue
            changed_runs += 1
            at = pd.Timestamp(truth["change"]["at"])
            around = shifts[shifts["flagged"] & (shifts["start_before"] <= at) & (shifts["end_after"] > at)]
            found["adoption.hazard_ratio"] += bool((around["quantity"] == "adoption.hazard_ratio").any())
            found["roles.conversationalist_share"] += bool(
                (around["quantity"] == "roles.conversationalist_share").any())
            elsewhere = shifts[shifts["flagged"] & ~shifts.index.isin(around.index)]
            found["flag away from the change"] += bool(len(elsewhere))
            print(f"seed {seed}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(comparisons)
    print(f"{n} societies of {args.agents:,} agents over {args.days:g} days, windows of {args.window}, "
          f"{sum(comparisons) / max(n, 1):.1f} comparisons per run on average")
    for line in failed:
        print(f"FAILED {line}")
    lo, hi = exact_interval(alarms, n)
    print(f"no change: {alarms} of {n} runs raised a flag = {alarms / n:.3f} (95% CI {lo:.3f}-{hi:.3f}; level 0.05)")
    for quantity, k in sorted(by_quantity.items()):
        print(f"  flagged {quantity}: {k}")
    for what, k in found.items():
        lo, hi = exact_interval(k, changed_runs)
        print(f"planted change, {what}: {k} of {changed_runs} = {k / max(changed_runs, 1):.3f} "
              f"(95% CI {lo:.3f}-{hi:.3f})")


if __name__ == "__main__":
    main()
