"""Shared by the benchmarks: wall time and peak resident memory of a step, and a simulated database to run on."""

from __future__ import annotations

import threading
import time
from pathlib import Path


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Step:
    """Times a block and samples the process's resident memory every 50 ms to find its peak."""

    def __init__(self, name: str, results: list):
        self.name, self.results = name, results

    def __enter__(self):
        self.peak = rss_bytes()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.started = time.perf_counter()
        return self

    def _sample(self):
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.started
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.results.append((self.name, seconds, self.peak / 2**30))
        print(f"  {self.name:<40} {seconds:8.1f} s   peak RSS {self.peak / 2**30:6.2f} GiB", flush=True)
        return False


def print_table(results: list) -> None:
    print(f"\n{'step':<40} {'seconds':>9} {'peak GiB':>9}")
    for name, seconds, peak in results:
        print(f"{name:<40} {seconds:9.1f} {peak:9.2f}")


def simulated_database(workdir: Path, agents: int, seed: int = 7, **config) -> Path:
    """Simulate a society of `agents` agents and ingest it into `workdir/obs.duckdb` (reused when present)."""
    db = workdir / f"sim-{agents}-{seed}.duckdb"
    if db.exists():
        return db
    drop = workdir / f"sim-{agents}-{seed}"
    started = time.perf_counter()
    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate

    simulate(drop, SimulationConfig(n_agents=agents, seed=seed, **config))
    print(f"simulated {agents:,} agents in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    from observatory import db as _db
    from observatory.ingest.load import ingest_drop
    from observatory.steps import build_agent_activity

    ingest_drop(drop, db)
    con = _db.connect(db)
    build_agent_activity(con)
    con.close()
    print(f"ingested in {time.perf_counter() - started:.0f} s", flush=True)
    return db
