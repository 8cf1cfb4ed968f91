"""The relational layer on both engines: a simulated society in overlapping drops, ingested and built into clean
tables and marts by DuckDB (the embedded database) and by Spark (local mode, a Parquet lake), back to back.

Prints the wall time of each engine's ingest and build, and per relation the rows and the lake's Parquet bytes:
what the marts reduce the data to, which is what the estimators would need to hold on one machine.

    python benchmarks/spark_engine.py --agents 20000 --drops 3 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--drops", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the drops, database and lake here.")
    args = parser.parse_args()

    from observatory import db, sqlmodels
    from observatory.config import CascadeConfig, CooperationConfig
    from observatory.ingest import ingest_drop
    from observatory.simulate import SimulationConfig, simulate
    from observatory.spark import SparkEngine

    root = args.workdir or Path(tempfile.mkdtemp(prefix="spark-engine-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    simulate(root / "society", SimulationConfig(n_agents=args.agents, seed=args.seed, n_drops=args.drops))
    drops = sorted(str(p) for p in (root / "society").glob("drop-*")) or [str(root / "society")]
    print(f"simulated {args.agents:,} agents in {len(drops)} drops: {time.perf_counter() - started:.1f} s")

    variables = asdict(CascadeConfig()) | asdict(CooperationConfig())
    con = db.connect(root / "obs.duckdb")
    timings = {}
    started = time.perf_counter()
    for drop in drops:
        ingest_drop(drop, con=con)
    timings["duckdb ingest (clean tables included)"] = time.perf_counter() - started

    engine = SparkEngine(root / "lake", master=args.master)
    started = time.perf_counter()
    engine.ingest(drops)
    timings[f"spark ingest ({args.master})"] = time.perf_counter() - started

    marts = [n for n in engine.relations() if sqlmodels.catalogue()[n].kind == "table" and n not in db.CLEAN_TABLES]
    started = time.perf_counter()
    for name in marts:
        sqlmodels.build(con, name, variables)
    timings["duckdb marts"] = time.perf_counter() - started

    started = time.perf_counter()
    written = engine.build()
    timings[f"spark clean tables, quarantine and marts ({args.master})"] = time.perf_counter() - started
    engine.stop()

    print(f"\n{'step':<58} {'seconds':>9}")
    for step, seconds in timings.items():
        print(f"{step:<58} {seconds:>9.1f}")
    print(f"\n{'relation':<26} {'rows (spark)':>13} {'rows (duckdb)':>14} {'lake MiB':>9}")
    for name, rows in written.items():
        size = sum(p.stat().st_size for p in (root / "lake" / name).glob("*.parquet")) / 2**20
        duck = con.execute(f"SELECT count(*) FROM {db.quote(name)}").fetchone()[0]
        print(f"{name:<26} {rows:>13,} {duck:>14,} {size:>9.1f}")
    con.close()
    print(f"\nfiles kept in {root}" if args.workdir else "")


if __name__ == "__main__":
    main()
