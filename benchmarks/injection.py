"""The prompt-injection detector and the injection study, measured.

1. Precision and recall (Wilson 95% intervals) on the three hand-labelled sets, per family and per category. Only
   `holdout` was written blind to the patterns: its figures are the ones docs/methods.md states.
2. The false-positive rate on the simulator's background text, and the detector's speed in DuckDB.
3. Planted injection campaigns over several seeds: how often the injection items' hazard-ratio interval covers the
   planted ratio, the ordinary items' estimate beside their planted ratio, and whether the coordinated flag is
   exactly the planted seeders.

    python benchmarks/injection.py [--seeds 10] [--agents 3000] [--background 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def labelled_figures() -> None:
    from observatory.injection import DETECTOR_VERSION, evaluate

    print(f"detector version {DETECTOR_VERSION}\n")
    print(f"{'set':<9} {'texts':>6} {'inj.':>5} {'precision':>10} {'95% CI':>15} {'recall':>7} {'95% CI':>15} "
          f"{'family ok':>9}")
    per_family = {}
    for name in ("dev", "test", "holdout"):
        e = evaluate(name)
        ci = e.intervals()
        print(f"{name:<9} {e.n:>6} {e.positives:>5} {e.precision:>10.3f} {ci['precision'][0]:>7.3f}-{ci['precision'][1]:.3f} "
              f"{e.recall:>7.3f} {ci['recall'][0]:>7.3f}-{ci['recall'][1]:.3f} {e.family_accuracy:>9.3f}")
        per_family[name] = e
    e = per_family["holdout"]
    print("\nholdout, recall per family:")
    print(e.by_family.to_string(index=False))
    print("\nholdout, share flagged per category:")
    print(e.by_category.to_string(index=False))


def background(n: int) -> None:
    import numpy as np

    from observatory.injection import detect
    from observatory.simulate import text

    rng = np.random.default_rng(2026)
    texts = text.random_text(rng, text.word_counts(rng, n, 12.0)).to_pylist()
    started = time.perf_counter()
    found = detect(texts)
    seconds = time.perf_counter() - started
    flagged = sum(map(bool, found))
    print(f"\nsimulated background text: {flagged} of {n:,} flagged ({flagged / n * 1e6:.1f} per million); "
          f"detector {n / seconds:,.0f} texts/s ({seconds:.1f} s)")


def campaigns(seeds: int, agents: int) -> None:
    from observatory import db as _db
    from observatory.ingest.load import ingest_drop
    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate
    from observatory.steps import build_agent_activity
    from observatory.studies.adoption import run_adoption
    from observatory.studies.cascades import build_cascades
    from observatory.studies.injection import run_injection

    print(f"\nplanted campaigns: {agents:,} agents, 7 campaigns of 10% of the active agents, HR 1.5 (ordinary 0.53)")
    print(f"{'seed':>4} {'injection HR':>13} {'95% CI':>15} {'covers':>6} {'ordinary HR':>12} {'95% CI':>15} "
          f"{'covers':>6} {'flag exact':>10}")
    covered = ordinary_covered = exact = 0
    for seed in range(1, seeds + 1):
        with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = simulate(Path(folder) / "drop", SimulationConfig(
                n_agents=agents, seed=seed, votes=False, injection_campaigns=7, injection_campaign_share=0.1))
            ingest_drop(Path(folder) / "drop", Path(folder) / "obs.duckdb")
            con = _db.connect(Path(folder) / "obs.duckdb")
            build_agent_activity(con)
            build_cascades(con)
            run_adoption(con, seed=0)
            study = run_injection(con, seed=0)
            flagged = {r[0] for r in con.execute("SELECT agent_id FROM agent_activity WHERE coordinated").fetchall()}
            con.close()
        h = study.hazards.set_index(["items_group", "accounts"])
        inj, ordinary = h.loc[("injection", "all accounts")], h.loc[("ordinary", "all accounts")]
        c1 = inj.ci_lower < 1.5 < inj.ci_upper
        c2 = ordinary.ci_lower < 0.53 < ordinary.ci_upper
        ok = flagged == set(result.truth["injection"]["coordinated_accounts"])
        covered, ordinary_covered, exact = covered + c1, ordinary_covered + c2, exact + ok
        print(f"{seed:>4} {inj.hazard_ratio:>13.3f} {inj.ci_lower:>7.3f}-{inj.ci_upper:.3f} {str(c1):>6} "
              f"{ordinary.hazard_ratio:>12.3f} {ordinary.ci_lower:>7.3f}-{ordinary.ci_upper:.3f} {str(c2):>6} "
              f"{str(ok):>10}")
    print(f"injection interval covers 1.5 in {covered}/{seeds}; ordinary covers 0.53 in {ordinary_covered}/{seeds}; "
          f"coordinated flag exactly the seeders in {exact}/{seeds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--agents", type=int, default=3000)
    parser.add_argument("--background", type=int, default=1_000_000)
    args = parser.parse_args()
    labelled_figures()
    background(args.background)
    campaigns(args.seeds, args.agents)


if __name__ == "__main__":
    main()
