"""Shared fixtures: one simulated society, ingested and analysed once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from observatory import db as _db
from observatory.simulate.config import SimulationConfig, load_truth
from observatory.simulate.run import simulate
from observatory.steps import build_agent_activity


@dataclass
class AnalysedSociety:
    drop: Path
    db: Path
    truth: dict
    results: dict

    def connect(self, read_only: bool = True):
        return _db.connect(self.db, read_only=read_only)


@pytest.fixture(scope="session")
def society(tmp_path_factory) -> AnalysedSociety:
    """The demo society (20,000 agents, seed 7, 0.1% injected bad records) through ingest and every analysis, as
    `make demo` runs them."""
    from observatory.ingest.load import ingest_drop
    from observatory.history import record_history
    from observatory.report.html import write_report
    from observatory.studies.adoption import run_adoption
    from observatory.studies.cascades import build_cascades
    from observatory.studies.cooperation import run_cooperation
    from observatory.studies.injection import run_injection
    from observatory.studies.powerlaw import fit_cascade_sizes
    from observatory.studies.roles import run_roles
    from observatory.studies.trends import run_trends

    root = tmp_path_factory.mktemp("society")
    drop, db = root / "drop", root / "obs.duckdb"
    simulate(drop, SimulationConfig(n_agents=20_000, seed=7, bad_rate=0.001))
    results = {"ingest": ingest_drop(drop, db)}
    con = _db.connect(db)
    try:
        build_agent_activity(con)
        results["roles"] = run_roles(con, seed=0)
        results["cascade_tables"] = build_cascades(con)
        results["powerlaw"] = fit_cascade_sizes(con, n_bootstrap=200, seed=0)
        results["adoption"] = run_adoption(con, seed=0)
        results["cooperation"] = run_cooperation(con)
        results["injection"] = run_injection(con, seed=0)
        results["trends"] = run_trends(con, seed=0)
        results["history"] = record_history(con, "conftest-run")
        results["report"] = write_report(con, root / "report")
    finally:
        con.close()
    return AnalysedSociety(drop, db, load_truth(drop), results)
