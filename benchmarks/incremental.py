"""The cost of adding one day's drop to a 21-day society, relative to a full run, through the Dagster definitions.

    .venv/bin/python benchmarks/incremental.py [--agents 20000] [--days 22] [--seed 7] [--bootstrap 1000]

A society of `--agents` over `--days` days is simulated as one drop per day (overlapping: later drops re-scrape
some records of earlier days). Full run: a fresh database, every day's partition ingested, then every table,
analysis and the report (the `refresh` job). Incremental run: the database holding the first days-1 drops, fully
built; the last day's partition is ingested and the `refresh` job runs again, as the landing sensor and automation
would. Printed: both wall times, their ratio, and the assets that take the incremental run's time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def _run(definitions, instance, job: str, partition_key: str | None = None, run_config: dict | None = None):
    import dagster as dg

    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = definitions.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition_key, run_config={**quiet, **(run_config or {})},
        raise_on_error=True)
    steps = {}
    for record in instance.all_logs(result.run_id, of_type={dg.DagsterEventType.STEP_SUCCESS}):
        data = record.dagster_event.event_specific_data
        steps[record.dagster_event.step_key] = data.duration_ms / 1000
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=22)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--top", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="incremental-"))
    landing = work / "landing"
    os.environ.update({"OBSERVATORY_LANDING": str(landing), "OBSERVATORY_REPORTS": str(work / "report"),
                       "OBSERVATORY_DB": str(work / "full.duckdb")})
    import dagster as dg

    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate
    from pipelines.definitions import defs
    from pipelines.defs.ingest.assets import DROPS

    started = time.perf_counter()
    simulate(landing, SimulationConfig(n_agents=args.agents, seed=args.seed, days=float(args.days),
                                       n_drops=args.days, bad_rate=0.001))
    drops = sorted(p.name for p in landing.iterdir() if p.is_dir() and p.name.startswith("drop-"))
    print(f"simulated {args.agents:,} agents over {args.days} days as {len(drops)} drops "
          f"in {time.perf_counter() - started:.0f} s ({work})")
    config = {"ops": {"cascade_powerlaw": {"config": {"n_bootstrap": args.bootstrap}}}}

    def ingest(definitions, instance, names):
        seconds = 0.0
        for name in names:
            t = time.perf_counter()
            _run(definitions, instance, "ingest", partition_key=name)
            seconds += time.perf_counter() - t
        return seconds

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DROPS.name, drops)
        # Full: everything from an empty database.
        definitions = defs()
        t = time.perf_counter()
        full_ingest = ingest(definitions, instance, drops)
        full_steps = _run(definitions, instance, "refresh", run_config=config)
        full = time.perf_counter() - t
        print(f"full run: {full:.1f} s ({full_ingest:.1f} s ingesting {len(drops)} partitions)")

        # Incremental: the first days-1 drops fully built, then the last day.
        os.environ["OBSERVATORY_DB"] = str(work / "incremental.duckdb")
        definitions = defs()
        ingest(definitions, instance, drops[:-1])
        _run(definitions, instance, "refresh", run_config=config)
        t = time.perf_counter()
        last_ingest = ingest(definitions, instance, drops[-1:])
        steps = _run(definitions, instance, "refresh", run_config=config)
        incremental = time.perf_counter() - t
    print(f"adding day {len(drops)}: {incremental:.1f} s ({last_ingest:.1f} s ingesting its partition)")
    print(f"incremental / full: {incremental / full:.1%}")
    print(f"\nrefresh steps: {sum(full_steps.values()):.1f} s in the full run, {sum(steps.values()):.1f} s after one "
          f"more day; the slowest of either:")
    print(f"  {'full':>8}  {'one day':>8}  step")
    slowest = sorted(set(full_steps) | set(steps), key=lambda k: -max(full_steps.get(k, 0), steps.get(k, 0)))
    for key in slowest[:args.top]:
        print(f"  {full_steps.get(key, 0):7.2f}s  {steps.get(key, 0):7.2f}s  {key}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
