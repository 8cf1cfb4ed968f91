"""Ingest throughput and peak memory, beside a bare DuckDB read of the same files.

    .venv/bin/python benchmarks/ingest.py                       # 10^7 comments, simulated (770,000 agents)
    .venv/bin/python benchmarks/ingest.py --drop path/to/drop   # an existing drop
    .venv/bin/python benchmarks/ingest.py --synthetic 1000000   # DuckDB-generated comments, no simulator

Each measurement runs in a fresh process so that its peak resident memory is its own. "Bare" is
`CREATE TABLE <entity> AS SELECT * FROM read_json/read_parquet(<that entity's files>)` for every entity of the
drop, into a fresh database: DuckDB's own reader over the same files, with nothing checked. The ingest is `observatory.ingest.ingest_drop` of the whole drop (agents and posts
first, then comments), with every record checked against the contract.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_measured(code: str) -> tuple[float, float, str]:
    """Run Python code in a fresh process; return wall seconds, its own peak RSS in GiB, and its other output."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    out = done.stdout.strip().splitlines()
    return wall, json.loads(out[-1])["peak_gib"], "\n".join(out[:-1])


PEAK = "import resource, json; print(json.dumps({'peak_gib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))"


def synthetic_drop(out: Path, comments: int) -> None:
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    posts, agents = max(comments // 10, 1), max(comments // 100, 1)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'a' || i AS id, 'agent' || i AS name, '2026-01-01T00:00:00Z' AS created_at
                  FROM range({agents}) t(i)) TO '{out}/agents.jsonl' (FORMAT json)""")
    con.execute(f"""COPY (SELECT 'p' || i AS id, 'title ' || i AS title, {{'id': 's1', 'name': 'general'}} AS submolt,
                  {{'id': 'a' || (i % {agents}), 'name': 'agent' || (i % {agents})}} AS author,
                  strftime(TIMESTAMP '2026-01-27' + INTERVAL (i) SECOND, '%Y-%m-%dT%H:%M:%SZ') AS created_at
                  FROM range({posts}) t(i)) TO '{out}/posts.jsonl' (FORMAT json)""")
    con.execute(f"""COPY (SELECT 'c' || i AS id, 'p' || (i % {posts}) AS post_id,
                  CASE WHEN i % 3 = 0 THEN NULL ELSE 'c' || (i - 1) END AS parent_id,
                  {{'id': 'a' || (i % {agents}), 'name': 'agent' || (i % {agents})}} AS author,
                  'some words of content here number ' || i AS content, (i % 7) - 2 AS upvotes, 0 AS downvotes,
                  strftime(TIMESTAMP '2026-01-28' + INTERVAL (i) SECOND, '%Y-%m-%dT%H:%M:%SZ') AS created_at
                  FROM range({comments}) t(i)) TO '{out}/comments.jsonl' (FORMAT json)""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drop", type=Path, help="an existing drop to measure")
    parser.add_argument("--agents", type=int, default=770_000, help="simulate a society of this size (default)")
    parser.add_argument("--synthetic", type=int, help="generate this many comments with DuckDB instead")
    parser.add_argument("--keep", action="store_true", help="keep the generated drop and databases")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        if args.drop:
            drop = args.drop
        elif args.synthetic:
            drop = work / "drop"
            synthetic_drop(drop, args.synthetic)
        else:
            drop = work / "drop"
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "observatory.cli", "simulate", "--agents", str(args.agents),
                            "--out", str(drop)], check=True)
            print(f"simulated {args.agents:,} agents in {time.perf_counter() - started:.0f} s")
        from observatory.ingest.load import discover_drop

        files = discover_drop(drop)[0]
        by_entity_files: dict[str, list[str]] = {}
        for f in files:
            by_entity_files.setdefault(f.entity.name, []).append(str(f.path))
        size = sum(Path(f).stat().st_size for names in by_entity_files.values() for f in names)
        print(f"drop: {drop}  files: {len(files)}  ({size / 2**30:.2f} GiB)")

        # Bare: DuckDB's own reader over the same files, one table per entity, nothing checked.
        bare_db = work / "bare.duckdb"
        statements = []
        for entity, names in sorted(by_entity_files.items()):
            reader = "read_parquet" if all(n.endswith(".parquet") for n in names) else "read_json"
            statements.append(f"con.execute('CREATE TABLE {entity} AS SELECT * FROM {reader}(?)', [{names!r}])")
        wall, peak, out = run_measured(
            "import duckdb, json\n"
            f"con = duckdb.connect({str(bare_db)!r})\n" + "\n".join(statements) + "\n"
            f"print(sum(con.execute(f'SELECT count(*) FROM {{t}}').fetchone()[0] for t in {sorted(by_entity_files)!r}))\n"
            + PEAK
        )
        rows = int(out.splitlines()[-1])
        print(f"bare read of every file: {rows:,} rows in {wall:.1f} s = {rows / wall:,.0f} rows/s, peak {peak:.2f} GiB")

        ingest_db = work / "ingest.duckdb"
        wall_i, peak_i, out_i = run_measured(
            "import json, time\n"
            "from observatory.ingest import ingest_drop\n"
            f"report = ingest_drop({str(drop)!r}, {str(ingest_db)!r})\n"
            "by_entity = {}\n"
            "for f in report.files:\n"
            "    by_entity[f.entity] = by_entity.get(f.entity, 0) + f.rows_read\n"
            "print(json.dumps(by_entity))\n" + PEAK
        )
        by_entity = json.loads(out_i.splitlines()[-1])
        total = sum(by_entity.values())
        print(f"ingest (all entities, checked): {total:,} rows in {wall_i:.1f} s = {total / wall_i:,.0f} rows/s, "
              f"peak {peak_i:.2f} GiB  {by_entity}")
        print(f"ratio of rates, ingest / bare: {(total / wall_i) / (rows / wall):.2f}  (goal >= 0.5); "
              f"peak memory goal < 4 GiB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
