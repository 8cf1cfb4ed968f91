"""Ingest of a scrape of API responses (one pretty-printed response per file), beside a bare loop that only parses.

    .venv/bin/python benchmarks/ingest_api.py                    # a simulated scrape with >= 20,000 post files
    .venv/bin/python benchmarks/ingest_api.py --agents 4000      # a smaller one
    .venv/bin/python benchmarks/ingest_api.py --drop path/to/scrape

"Bare" reads and `json.loads` every response file of the scrape in a Python loop, and does nothing else: the floor
any reader of these files pays. The ingest is `observatory.ingest.ingest_drop` of the same folder: every record
taken out of every response (comment trees flattened, embedded authors and submolts), checked, typed, landed, and
the clean tables refreshed. Each runs in a fresh process, after a read of every file to warm the page cache. The
simulated scrape holds the response files only (the simulator's votes and tasks files are removed: the API has
neither).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest import PEAK, run_measured  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=16_000, help="simulated agents (16,000 give ~20,000 posts)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drop", type=Path, help="an existing scrape instead of a simulated one")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "observatory-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    drop = args.drop
    if drop is None:
        drop = args.workdir / f"api-{args.agents}-{args.seed}"
        if not (drop / "truth.json").exists():
            wall, peak, _ = run_measured(
                "from observatory.simulate import SimulationConfig, simulate\n"
                f"simulate({str(drop)!r}, SimulationConfig(n_agents={args.agents}, seed={args.seed}, layout='api'))\n"
                + PEAK)
            print(f"simulated {args.agents:,} agents as API responses in {wall:.0f} s")
            # A scrape of the API holds responses only: the observatory's own votes and tasks files go.
            for extra in ("votes", "tasks"):
                shutil.rmtree(drop / extra, ignore_errors=True)
    files = sorted(p for p in drop.rglob("*.json") if "truth" not in p.parts)
    posts = sum(1 for p in files if p.parent.name == "posts")
    size = sum(p.stat().st_size for p in files)
    print(f"scrape: {len(files):,} response files ({posts:,} post details), {size / 2**20:,.0f} MiB")
    for p in files:  # warm the page cache for both measurements
        p.read_bytes()

    bare_wall, bare_peak, _ = run_measured(
        "import json, pathlib\n"
        f"files = sorted(p for p in pathlib.Path({str(drop)!r}).rglob('*.json') if 'truth' not in p.parts)\n"
        "for p in files:\n    json.loads(p.read_bytes())\n" + PEAK)
    db = args.workdir / f"{drop.name}.duckdb"
    db.unlink(missing_ok=True)
    ingest_wall, ingest_peak, out = run_measured(
        "from observatory.ingest import ingest_drop\n"
        f"report = ingest_drop({str(drop)!r}, {str(db)!r})\n"
        "print({k: v for k, v in report.to_dict().items() if k in ('records', 'rows_quarantined', 'seconds')})\n"
        + PEAK)
    print(out)
    print(f"\n{'':<34} {'seconds':>9} {'files/s':>9} {'peak GiB':>9}")
    for name, wall, peak in (("bare loop: json.loads each file", bare_wall, bare_peak),
                             ("ingest_drop (checked, landed)", ingest_wall, ingest_peak)):
        print(f"{name:<34} {wall:9.1f} {len(files) / wall:9.0f} {peak:9.2f}")
    print(f"\ningest rate / bare rate: {bare_wall / ingest_wall:.2f}  (goal >= 0.5; "
          f"{posts:,} post files in {ingest_wall:.0f} s, goal < 60 s for 20,000)")


if __name__ == "__main__":
    main()
