"""Every analysis against the simulator's planted ground truth (the acceptance tests of each finding).

The society is the demo's (20,000 agents, seed 7, 0.1% bad records): what `make demo` analyses. Each planted quantity is read
from the simulator's truth.json, never restated here.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from observatory import db as _db
from observatory.ingest.load import ingest_drop
from observatory.simulate.config import SimulationConfig, load_truth
from observatory.simulate.run import simulate
from observatory.studies.adoption import run_adoption
from observatory.studies.cascades import build_cascades
from observatory.studies.powerlaw import fit_cascade_sizes
from observatory.steps import build_agent_activity


def test_ingest_lands_every_planted_record(society):
    counts = society.truth["counts"]["unique"]
    with society.connect() as con:
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == society.truth["bad_records"]["total"] > 0
        for entity in ("agents", "submolts", "posts", "comments", "votes", "tasks"):
            assert con.execute(f"SELECT count(*) FROM {entity}").fetchone()[0] == counts[entity], entity


def test_found_roles_match_the_planted_roles(society):
    """Issue acceptance: ARI >= 0.9 between found and planted roles at 20,000 agents."""
    planted = pd.read_parquet(society.drop / "truth" / "agent_roles.parquet")
    with society.connect() as con:
        found = con.execute("SELECT agent_id, role, active FROM agent_roles").df()
    both = found.merge(planted, on="agent_id", suffixes=("_found", "_planted"))
    active = both[both["active"]]
    assert len(active) == society.truth["expected_findings"]["population.active_agents"]
    assert adjusted_rand_score(active["role_planted"], active["role_found"]) >= 0.9
    # The inactive are reported as their own group, never clustered.
    assert set(both.loc[~both["active"], "role_planted"]) == {"inactive"}
    roles = society.results["roles"]
    assert roles.k == society.truth["expected_findings"]["roles.k"]
    assert not roles.degenerate
    assert roles.periphery_share == pytest.approx(society.truth["expected_findings"]["roles.periphery_share"], abs=0.01)


def test_cascade_trees_and_the_planted_exponent(society):
    """Issue acceptance: the planted exponent is recovered within 0.05 with >= 5,000 cascades."""
    truth = society.truth["cascades"]
    assert truth["n"] >= 5000
    with society.connect() as con:
        sizes = con.execute("SELECT item, size FROM cascades").df()
    planted = pd.read_parquet(society.drop / "truth" / "cascades.parquet")
    # Each planted cascade is reconstructed whole: same items (normalised), same sizes.
    merged = planted.merge(sizes, left_on="item_normalised", right_on="item")
    assert len(sizes) == truth["n"] and len(merged) == truth["n"]
    assert (merged["size_x" if "size_x" in merged else "size"].to_numpy() == merged["size_y"].to_numpy()).all()
    fit = society.results["powerlaw"]
    assert abs(fit.alpha_ - truth["alpha"]) < 0.05
    assert fit.xmin_ == truth["xmin"]


def test_planted_hazard_ratio_is_inside_the_interval(society):
    """Issue acceptance: a planted HR of 0.53 per additional exposure is inside the fitted 95% CI."""
    model = society.results["adoption"].linear
    lo, hi = model.hazard_ratio_ci_
    assert lo < society.truth["adoption"]["hazard_ratio"] < hi
    assert society.results["adoption"].verdict == "saturating"
    assert model.n_events_ == society.truth["adoption"]["adopters"]


def test_matched_comparison_removes_the_planted_confounding(society):
    """Issue acceptance: the naive comparison is biased and the matched estimate covers the planted effect."""
    truth = society.truth["cooperation"]
    matcher = society.results["cooperation"].matcher
    lo, hi = matcher.rate_difference_ci_
    assert lo < truth["att_success"] < hi
    naive_lo, naive_hi = matcher.naive_rate_difference_ci_
    assert not naive_lo < truth["att_success"] < naive_hi
    assert matcher.naive_rate_difference_ == pytest.approx(truth["naive_diff_success"], abs=1e-9)
    q_lo, q_hi = matcher.att_ci_
    assert q_lo < truth["att_quality"] < q_hi
    # The planted confounders (code, length, keyword density, karma, prior activity) are balanced to the usual 0.1;
    # the other covariates (submolt, hour, weekday: outcome effects only) to within 0.15.
    after = matcher.balance_["smd_after"].abs()
    confounders = ["log_seed_length", "code_present", "keyword_density", "log_requester_karma",
                   "log_requester_prior_activity"]
    assert after[confounders].max() < 0.1 < matcher.balance_["smd_before"].abs().max()
    assert after.max() < 0.15, after


@pytest.fixture(scope="module")
def small_society(tmp_path_factory):
    def build(name: str, **config):
        root = tmp_path_factory.mktemp(name)
        drop, db = root / "drop", root / "obs.duckdb"
        simulate(drop, SimulationConfig(seed=3, votes=False, **config))
        ingest_drop(drop, db)
        con = _db.connect(db)
        build_agent_activity(con)
        build_cascades(con)
        return con, load_truth(drop)

    return build


def test_a_planted_lognormal_is_not_called_a_power_law(small_society):
    con, truth = small_society("lognormal", n_agents=8000, cascade_dist="lognormal", cascades_per_active_agent=6.0)
    fit = fit_cascade_sizes(con, n_bootstrap=200, seed=0)
    con.close()
    assert truth["cascades"]["n"] >= 5000
    assert fit.verdict_ == "not a power law"
    assert fit.p_value_ < 0.1


def test_a_planted_reinforcing_dependence_gives_a_ratio_above_one(small_society):
    con, truth = small_society("reinforcing", n_agents=6000, adoption_hazard_ratio=1.3)
    result = run_adoption(con)
    con.close()
    lo, hi = result.linear.hazard_ratio_ci_
    assert lo > 1.0
    assert lo < truth["adoption"]["hazard_ratio"] < hi
    assert result.verdict == "reinforcing"


def test_injected_bad_records_are_quarantined_with_their_reasons(tmp_path):
    drop, db = tmp_path / "drop", tmp_path / "obs.duckdb"
    simulate(drop, SimulationConfig(n_agents=3000, seed=5, bad_rate=0.01, votes=False))
    bad = pd.read_parquet(drop / "truth" / "bad_records.parquet")
    assert len(bad) > 20 and bad["kind"].nunique() >= 5
    ingest_drop(drop, db)
    con = _db.connect(db, read_only=True)
    found = con.execute("SELECT file, line, reason FROM quarantine").df()
    con.close()
    found["file"] = found["file"].map(lambda f: str(__import__("pathlib").Path(f).relative_to(drop)))
    expected = bad.rename(columns={"kind": "reason"})[["file", "line", "reason"]]
    got = found.sort_values(["file", "line"]).reset_index(drop=True)
    want = expected.sort_values(["file", "line"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
