"""The main job end to end at several sizes: wall time and peak resident memory per asset and in total, and how the
time grows with the number of comments.

    .venv/bin/python benchmarks/end_to_end.py [--sizes 20000,50000,100000] [--seed 7] [--bootstrap 1000] [--top 15]

For each size a society of that many agents is simulated into a fresh landing folder (timed apart: it is not part
of the job), then the `main` job runs in this process as `make demo` runs it: the drop's partition is ingested and
every table, analysis and check is built, down to the report. A thread samples this process's resident memory
every 50 ms; each step's peak is the largest sample between its start and end events (steps run one after
another in process). Printed per size: the slowest steps, the total and its peak; then the growth exponent of the
total time against the number of comments (least-squares slope in log-log: 1 is linear). The goal at Moltbook's
size (770,000 agents, ~10M comments): under 10 minutes and 6 GiB on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from _measure import rss_bytes  # this folder is on the path when one of its scripts runs


class Sampler:
    """(time, RSS) every `interval` seconds in a background thread."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.samples = interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.time(), rss_bytes()))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside) if inside else 0


def step_times(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """{step key: (start, end)} in seconds since the epoch, from the run's event log."""
    import dagster as dg

    started: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    for record in instance.all_logs(run_id, of_type=kinds):
        event = record.dagster_event
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.step_key in started:
            spans[event.step_key] = (started[event.step_key], record.timestamp)
    return spans


def run_size(agents: int, seed: int, bootstrap: int, work: Path) -> dict:
    landing = work / "landing"
    os.environ.update({"OBSERVATORY_LANDING": str(landing), "OBSERVATORY_REPORTS": str(work / "report"),
                       "OBSERVATORY_DB": str(work / "observatory.duckdb")})
    import dagster as dg

    from observatory import db
    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate
    from pipelines import DEMO_BAD_RATE
    from pipelines.definitions import defs
    from pipelines.defs.ingest.assets import DROPS, simulated_drop_name

    drop = landing / simulated_drop_name(agents, seed)
    started = time.perf_counter()
    simulate(drop, SimulationConfig(n_agents=agents, seed=seed, bad_rate=DEMO_BAD_RATE))
    simulated = time.perf_counter() - started
    print(f"{agents:,} agents: simulated in {simulated:.0f} s", flush=True)

    definitions = defs()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}},
             "ops": {"cascade_powerlaw": {"config": {"n_bootstrap": bootstrap}}}}
    with dg.instance_for_test() as instance, Sampler() as sampler:
        instance.add_dynamic_partitions(DROPS.name, [drop.name])
        t0 = time.time()
        result = definitions.resolve_job_def("main").execute_in_process(
            instance=instance, partition_key=drop.name, run_config=quiet, raise_on_error=True)
        t1 = time.time()
        spans = step_times(instance, result.run_id)
    steps = {key: (end - start, sampler.peak(start, end)) for key, (start, end) in spans.items()}
    con = db.connect(os.environ["OBSERVATORY_DB"], read_only=True)
    try:
        comments = con.execute("SELECT count(*) FROM comments").fetchone()[0]
    finally:
        con.close()
    return {"agents": agents, "comments": comments, "simulate": simulated, "total": t1 - t0,
            "peak": sampler.peak(t0, t1), "steps": steps}


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) on log(x)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,50000,100000", help="comma-separated numbers of agents")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--top", type=int, default=15, help="slowest steps printed per size")
    args = parser.parse_args()

    runs = []
    for agents in (int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix=f"end-to-end-{agents}-"))
        try:
            run = run_size(agents, args.seed, args.bootstrap, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs.append(run)
        print(f"\n{agents:,} agents, {run['comments']:,} comments: main job {run['total']:.1f} s, "
              f"peak RSS {run['peak'] / 2**30:.2f} GiB ({len(run['steps'])} steps)")
        print(f"  {'seconds':>8} {'peak GiB':>9}  step")
        for key, (seconds, peak) in sorted(run["steps"].items(), key=lambda kv: -kv[1][0])[:args.top]:
            print(f"  {seconds:8.1f} {peak / 2**30:9.2f}  {key}")
        print(flush=True)

    print(f"{'agents':>9} {'comments':>11} {'simulate s':>11} {'main job s':>11} {'peak GiB':>9} {'s / M comments':>15}")
    for run in runs:
        print(f"{run['agents']:>9,} {run['comments']:>11,} {run['simulate']:>11.1f} {run['total']:>11.1f} "
              f"{run['peak'] / 2**30:>9.2f} {run['total'] / run['comments'] * 1e6:>15.1f}")
    if len(runs) >= 2:
        exponent = slope([r["comments"] for r in runs], [r["total"] for r in runs])
        print(f"\ngrowth exponent of the main job's time in comments (log-log slope): {exponent:.2f}")
        steps = set.intersection(*(set(r["steps"]) for r in runs))
        growth = {key: slope([r["comments"] for r in runs], [max(r["steps"][key][0], 1e-3) for r in runs])
                  for key in steps if min(r["steps"][key][0] for r in runs) > 0.5}
        print("steps growing fastest (exponent, seconds at the largest size):")
        for key, g in sorted(growth.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {g:5.2f}  {runs[-1]['steps'][key][0]:7.1f} s  {key}")


if __name__ == "__main__":
    main()
