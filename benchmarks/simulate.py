"""Wall time, peak memory and output size of the society simulator at a given scale.

    .venv/bin/python benchmarks/simulate.py --agents 770000 --out benchmarks/out/sim-770k

prints one line per step (as the simulator reports progress), then the totals: records written per entity, bytes
on disk, wall time and the process's peak resident memory. Moltbook's scale is about 770,000 agents.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from observatory.simulate.config import SimulationConfig
from observatory.simulate.run import simulate  # noqa: E402


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", dest="fmt", default="jsonl", choices=["jsonl", "parquet", "csv"])
    parser.add_argument("--shape", default="api", choices=["api", "flat"])
    parser.add_argument("--drops", type=int, default=1)
    parser.add_argument("--no-votes", action="store_true", help="skip votes (they are the largest entity)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/simulate"))
    parser.add_argument("--keep", action="store_true", help="keep the written drop (deleted by default)")
    args = parser.parse_args()

    config = SimulationConfig(n_agents=args.agents, seed=args.seed, fmt=args.fmt, shape=args.shape,
                              n_drops=args.drops, votes=not args.no_votes)
    started = time.perf_counter()
    last = [started]

    def progress(step: str, done: int, total: int) -> None:
        now = time.perf_counter()
        print(f"  {now - started:8.1f} s  (+{now - last[0]:6.1f} s)  {step:<10} {done}/{total}  "
              f"peak RSS {_peak_rss_mb():,.0f} MB", flush=True)
        last[0] = now

    print(f"simulating {args.agents:,} agents (seed {args.seed}, {args.fmt}/{args.shape}, {args.drops} drop(s))")
    result = simulate(args.out, config, progress=progress)
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print("records: " + ", ".join(f"{n:,} {entity}" for entity, n in result.counts.items()))
    print(f"active agents: {result.truth['population']['active_agents']:,}; cascades: "
          f"{result.truth['cascades']['n']:,} (largest {result.truth['cascades']['size_max']:,}); "
          f"tasks: {result.truth['cooperation']['n_tasks']:,}")
    print(f"wall time: {elapsed:,.1f} s; peak RSS: {_peak_rss_mb():,.0f} MB; on disk: {size / 1e9:,.2f} GB")
    if not args.keep:
        shutil.rmtree(args.out)


if __name__ == "__main__":
    main()
