"""Coverage of the report's 95% intervals on planted societies (the CI-sized version of benchmarks/coverage.py).

Reference: the simulator's planted values (truth.json), never restated here. With N = 30 societies a calibrated
95% interval covers its target in Binomial(30, 0.95) of them. Each interval must cover at least 24: a calibrated
one fails with probability P[Binomial(30, 0.95) <= 23] = 0.0006 (0.4% for the seven together), one whose true
coverage is 80% with probability 0.39, 70% with 0.84. This test catches intervals that are badly wrong;
`benchmarks/coverage.py` (200 societies) is what measures coverage, and `docs/methods.md` quotes it.
"""

from __future__ import annotations

import pytest
from scipy import stats

from observatory.studies.coverage import run_coverage, summarise

SOCIETIES = 30


@pytest.fixture(scope="module")
def coverage():
    # 100 bootstrap replicates per society for the exponent's percentile interval (benchmarks/coverage.py uses 200):
    # enough to catch an interval that is badly wrong, at two thirds of the time.
    return summarise(run_coverage(SOCIETIES, n_agents=3_000, n_bootstrap=100)).set_index("interval")


def test_every_interval_the_report_prints_is_measured(coverage):
    assert set(coverage.index) == {
        "cascades.alpha_bootstrap", "cascades.alpha_asymptotic", "adoption.hazard_ratio",
        "cooperation.rate_difference", "cooperation.quality_difference", "cooperation.cohens_d", "roles.silhouette"}
    assert (coverage["n"] == SOCIETIES).all()


@pytest.mark.slow
@pytest.mark.parametrize("interval", [
    "cascades.alpha_bootstrap", "cascades.alpha_asymptotic", "adoption.hazard_ratio", "cooperation.rate_difference",
    "cooperation.quality_difference", "cooperation.cohens_d", "roles.silhouette"])
def test_coverage_is_consistent_with_95_percent(coverage, interval):
    minimum = int(stats.binom.ppf(0.001, SOCIETIES, 0.95))
    assert minimum == 24
    assert coverage.loc[interval, "covered"] >= minimum, coverage.loc[interval].to_dict()
