"""Adoption step at scale: exposure panel (SQL) and Cox fits, wall time and peak memory by step.

    .venv/bin/python benchmarks/adoption.py                   # a 770,000-agent simulated society (~10^6 panel rows)
    .venv/bin/python benchmarks/adoption.py --db path.duckdb  # an already ingested database

The panel is built from the database's exposures and adoptions exactly as the pipeline does; `max_rows` decides
whether the Cox fit uses the whole panel or a case-control sample. For the fit alone on a planted panel of any size,
see benchmarks/adoption_fit.py. Goal: panel and fit for 10^6 panel rows under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import Step, print_table, simulated_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=770_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--max-rows", type=int, default=2_000_000)
    args = parser.parse_args()

    from observatory import db as _db
    from observatory.estimators.cox import ExposureHazardModel
    from observatory.estimators.exposure_curve import ExposureCurve, exposure_pairs_from_panel
    from observatory.studies.adoption import build_adoption_panel
    from observatory.studies.cascades import build_cascades
    from observatory.steps import build_agent_activity

    db = args.db or simulated_database(args.workdir or Path(tempfile.mkdtemp(prefix="adoption-bench-")), args.agents)
    con = _db.connect(db)
    _db.ensure_schema(con)  # the clean tables (computed once, at ingest)
    results: list = []
    with Step("agent activity (SQL)", results):
        build_agent_activity(con)
    with Step("items, adoptions, exposures, trees (SQL)", results):
        counts = build_cascades(con)
    with Step("exposure panel (SQL) -> pandas", results):
        panel = build_adoption_panel(con)
    print(f"  panel: {len(panel):,} rows, {int(panel['event'].sum()):,} adoptions; {counts['exposures']:,} exposures")
    covariates = [c for c in ("log_activity", "log_in_degree", "log_item_adopters_before", "item_age_days")
                  if panel[c].nunique() > 1]
    with Step("Cox, linear exposure", results):
        linear = ExposureHazardModel("linear", max_rows=args.max_rows).fit(panel, covariates=covariates)
    with Step("Cox, log(1 + exposures)", results):
        ExposureHazardModel("log1p", max_rows=args.max_rows).fit(panel, covariates=covariates)
    with Step("exposure curve and saturation test", results):
        ExposureCurve().fit(exposure_pairs_from_panel(panel), hazard_ratio_ci=linear.hazard_ratio_ci_)
    con.close()
    print_table(results)
    total = sum(seconds for _, seconds, _ in results[2:])
    print(f"\npanel + fits: {total:.1f} s for {len(panel):,} rows (goal < 120 s for 10^6), "
          f"peak RSS {max(p for _, _, p in results):.2f} GiB")
    lo, hi = linear.hazard_ratio_ci_
    print(f"HR per exposure {linear.hazard_ratio_:.3f} [{lo:.3f}, {hi:.3f}]"
          + (f", case-control sampled: {linear.sampling_}" if linear.sampling_ else ""))


if __name__ == "__main__":
    main()
