"""Tests of the adoption-hazard estimators against references we did not compute ourselves.

References used:
- lifelines' bundled Rossi recidivism data and the coefficients its documentation (and R's ``survival::coxph``,
  Efron ties, Fox and Weisberg's appendix) report for ``week, arrest ~ fin + age + race + wexp + mar + paro + prio``;
- lifelines' own ``CoxPHFitter``, ``CoxTimeVaryingFitter``, ``concordance_index`` and ``proportional_hazard_test``,
  run in the test on the same data;
- statsmodels' ``PHReg`` (entry times, cluster-robust covariance via ``groups``), run in the test;
- planted ground truths simulated with numpy (a known hazard ratio, a known exposure-curve logit);
- hand-computed exposure curves and Wilson intervals (Wilson 1927, the closed form written out below).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import concordance_index
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from observatory.estimators.cox import ExposureHazardModel, risk_set_concordance, simulate_exposure_panel
from observatory.estimators.exposure_curve import ExposureCurve, exposure_pairs_from_panel, saturation_verdict

ROSSI_TERMS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


@pytest.fixture(scope="module")
def rossi():
    return load_rossi()


@pytest.fixture(scope="module")
def rossi_panel(rossi):
    """Rossi as an exposure panel: one row per person, start 0, stop = week, event = arrest, one cluster each."""
    return rossi.assign(
        agent_id=np.arange(len(rossi)), item_id=0, start=0.0, stop=rossi["week"].astype(float), event=rossi["arrest"]
    )


def fit_rossi(panel, **kwargs):
    # The exposure slot must hold a column >= 1; age (17 to 44) is one. Every term is reported all the same.
    return ExposureHazardModel(**kwargs).fit(panel, exposure_col="age",
                                             covariates=["fin", "race", "wexp", "mar", "paro", "prio"])


@pytest.fixture(scope="module")
def small_panel():
    return simulate_exposure_panel(n_pairs=400, hazard_ratio=0.6, baseline_hazard=0.05, window=50.0,
                                   activity_hazard_effect=0.4, seed=11)


@pytest.fixture(scope="module")
def saturating_panel():
    return simulate_exposure_panel(n_pairs=8000, hazard_ratio=0.53, baseline_hazard=0.05, window=50.0, seed=0)


# --------------------------------------------------------------------------------------------------------------------
# (1) Reference: Rossi recidivism, lifelines' documented fit (= R coxph, Efron ties)
# --------------------------------------------------------------------------------------------------------------------


def test_rossi_reproduces_documented_coefficients_and_concordance(rossi, rossi_panel):
    # lifelines docs, "Survival regression", CoxPHFitter on load_rossi(); R: coxph(Surv(week, arrest) ~ fin + age +
    # race + wexp + mar + paro + prio, data = Rossi) gives the same (R's default ties = "efron", lifelines' only
    # method). Breslow ties give different numbers on these data (49 distinct weeks for 114 arrests).
    documented = {"fin": -0.3794, "age": -0.0574, "race": 0.3139, "wexp": -0.1498, "mar": -0.4337,
                  "paro": -0.0849, "prio": 0.0915}
    model = fit_rossi(rossi_panel)
    for term, coef in documented.items():
        assert model.params_[term] == pytest.approx(coef, abs=1e-3)
    assert model.concordance_ == pytest.approx(0.64, abs=0.005)

    # And tighter, against lifelines run here on the same data.
    lifelines_fit = CoxPHFitter().fit(rossi, "week", "arrest")
    np.testing.assert_allclose(model.params_[ROSSI_TERMS], lifelines_fit.params_[ROSSI_TERMS], rtol=1e-6)
    np.testing.assert_allclose(
        np.sqrt(np.diag(model.model_variance_matrix_.loc[ROSSI_TERMS, ROSSI_TERMS])),
        lifelines_fit.standard_errors_[ROSSI_TERMS], rtol=1e-6,
    )
    assert model.concordance_ == pytest.approx(lifelines_fit.concordance_index_, abs=1e-12)
    assert model.log_likelihood_ == pytest.approx(lifelines_fit.log_likelihood_, rel=1e-9)
    assert model.n_events_ == 114 and model.n_subjects_ == 432


def test_rossi_breslow_ties_and_robust_errors_match_statsmodels(rossi, rossi_panel):
    # statsmodels PHReg(ties="breslow").fit(groups=id): Breslow partial likelihood, Lin-Wei sandwich.
    x = rossi[["age", "fin", "race", "wexp", "mar", "paro", "prio"]].to_numpy(float)
    result = PHReg(rossi["week"].to_numpy(float), x, status=rossi["arrest"].to_numpy(), ties="breslow").fit(
        groups=np.arange(len(rossi))
    )
    model = fit_rossi(rossi_panel, ties="breslow")
    np.testing.assert_allclose(model.params_.to_numpy(), result.params, rtol=1e-6)
    np.testing.assert_allclose(model.standard_errors_.to_numpy(), result.bse, rtol=1e-6)


def test_efron_score_residuals_sum_to_the_score_on_tied_data(rossi_panel):
    # At the maximum the score is zero; the Efron-form residuals must add up to it even with 114 deaths on 49 weeks
    # (Breslow-form residuals around an Efron fit do not: statsmodels' differ from ours by 0.6% in SE on Rossi).
    from observatory.estimators.cox import _CountingProcessCox

    model = fit_rossi(rossi_panel)
    assert np.all(np.linalg.eigvalsh(model.variance_matrix_.to_numpy()) > 0)

    x = rossi_panel[["age", "fin", "race", "wexp", "mar", "paro", "prio"]].to_numpy(float)
    cox = _CountingProcessCox(x, rossi_panel["start"].to_numpy(float), rossi_panel["stop"].to_numpy(float),
                              rossi_panel["event"].to_numpy() == 1, np.ones(len(x)))
    beta = model.params_.to_numpy()
    np.testing.assert_allclose(cox.score_residuals(beta).sum(0), cox.evaluate(beta).gradient, atol=1e-9)
    # Converged: the score is ~0 on the scale of its terms (sum over 114 deaths of |x| is ~10^2 to 10^3).
    np.testing.assert_allclose(cox.evaluate(beta).gradient, 0, atol=1e-4)


def average_rank_of_deaths(durations, events, weights):
    """A time transform for lifelines: each death's event time at its average rank among the deaths (R's rank())."""
    ranks = np.full(len(durations), np.nan)
    ranks[events.values] = stats.rankdata(durations.values[events.values], method="average")
    return pd.Series(ranks, index=durations.index)


def test_rossi_proportional_hazards_test_matches_lifelines(rossi, rossi_panel):
    # lifelines.statistics.proportional_hazard_test(cph, rossi, time_transform=average_rank_of_deaths) on a
    # non-robust fit (the statistic uses the model-based variance). Rossi's weeks tie often (114 arrests in 49
    # distinct weeks). Known result: age and wexp violate PH.
    lifelines_fit = CoxPHFitter().fit(rossi, "week", "arrest")
    reference = proportional_hazard_test(lifelines_fit, rossi, time_transform=average_rank_of_deaths).summary
    model = fit_rossi(rossi_panel)
    np.testing.assert_allclose(model.ph_test_.loc[ROSSI_TERMS, "test_statistic"],
                               reference.loc[ROSSI_TERMS, "test_statistic"], rtol=1e-6)
    np.testing.assert_allclose(model.ph_test_.loc[ROSSI_TERMS, "p"], reference.loc[ROSSI_TERMS, "p"], rtol=1e-5)
    assert model.ph_test_.loc["age", "p"] < 0.001


def test_proportional_hazards_test_does_not_depend_on_row_order(rossi_panel):
    """Tied event times take their average rank: shuffling the rows changes neither the fit nor the PH test."""
    model = fit_rossi(rossi_panel)
    for seed in range(3):
        shuffled = rossi_panel.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        again = fit_rossi(shuffled)
        np.testing.assert_allclose(again.params_, model.params_, rtol=1e-9)
        np.testing.assert_allclose(again.ph_test_["p"], model.ph_test_["p"], rtol=1e-9, atol=1e-15)


def test_splitting_intervals_changes_nothing(rossi_panel):
    # A subject's single row cut into (0,10], (10,20], ... with constant covariates is the same data: coefficients,
    # clustered robust SEs and concordance must be identical (Therneau and Grambsch 2000, 3.7). This is what
    # lifelines' CoxPHFitter(entry_col=..., cluster_col=...) gets wrong: its score residuals ignore the entry times.
    cuts = [0.0, 10.0, 20.0, 30.0, 40.0, np.inf]
    pieces = []
    for low, high in zip(cuts[:-1], cuts[1:]):
        piece = rossi_panel[rossi_panel["stop"] > low].copy()
        piece["event"] = np.where(piece["stop"] <= high, piece["event"], 0)
        piece["start"], piece["stop"] = low, np.minimum(piece["stop"], high)
        pieces.append(piece)
    split = pd.concat(pieces, ignore_index=True)
    assert len(split) > 3 * len(rossi_panel)
    whole, cut = fit_rossi(rossi_panel), fit_rossi(split)
    np.testing.assert_allclose(cut.params_, whole.params_, rtol=1e-9)
    np.testing.assert_allclose(cut.standard_errors_, whole.standard_errors_, rtol=1e-9)
    assert cut.concordance_ == pytest.approx(whole.concordance_, abs=1e-12)
    assert cut.n_subjects_ == whole.n_subjects_ == 432


# --------------------------------------------------------------------------------------------------------------------
# Counting-process fits against lifelines and statsmodels
# --------------------------------------------------------------------------------------------------------------------


def test_lifelines_entry_col_equals_time_varying_fitter_and_ours(small_panel):
    columns = ["start", "stop", "event", "exposures", "activity"]
    entry_fit = CoxPHFitter().fit(small_panel[columns], duration_col="stop", event_col="event", entry_col="start")
    tv_fit = CoxTimeVaryingFitter().fit(small_panel[columns].assign(row=np.arange(len(small_panel))),
                                        event_col="event", start_col="start", stop_col="stop", id_col="row")
    np.testing.assert_allclose(entry_fit.params_, tv_fit.params_, rtol=1e-7)
    np.testing.assert_allclose(entry_fit.standard_errors_, tv_fit.standard_errors_, rtol=1e-6)

    ours = ExposureHazardModel().fit(small_panel, covariates=["activity"], cluster_col=None)
    np.testing.assert_allclose(ours.params_.to_numpy(), entry_fit.params_.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.standard_errors_.to_numpy(), entry_fit.standard_errors_.to_numpy(), rtol=1e-6)
    assert ours.log_likelihood_ == pytest.approx(entry_fit.log_likelihood_, rel=1e-9)


def weekly_panel(n_pairs=600, weeks=20, seed=7):
    """A discrete-time panel: rows (j-1, j], exposures arriving Poisson(0.4) a week, adoption in week j with
    probability 1 - exp(-0.08 * 0.7^k), five pairs per agent."""
    rng = np.random.default_rng(seed)
    arrivals = rng.poisson(0.4, (n_pairs, weeks))
    exposures = 1 + np.cumsum(arrivals, axis=1) - arrivals  # exposures received before week j, plus the first
    activity = rng.normal(size=n_pairs)
    adopts = rng.random((n_pairs, weeks)) < 1 - np.exp(-0.08 * 0.7**exposures * np.exp(0.3 * activity[:, None]))
    first = np.where(adopts.any(1), adopts.argmax(1), weeks - 1)
    week = np.arange(weeks)
    keep = week[None, :] <= first[:, None]
    pair = np.broadcast_to(np.arange(n_pairs)[:, None], keep.shape)[keep]
    return pd.DataFrame({
        "agent_id": pair // 5, "item_id": pair % 5,
        "start": np.broadcast_to(week, keep.shape)[keep].astype(float),
        "stop": np.broadcast_to(week + 1, keep.shape)[keep].astype(float),
        "event": (adopts & (week[None, :] == first[:, None]))[keep].astype(int),
        "exposures": exposures[keep], "activity": activity[pair],
    })


def test_clustered_errors_on_entry_time_data_match_statsmodels():
    # statsmodels PHReg(entry=start, ties="breslow").fit(groups=agent_id): Lin-Wei sandwich summed by agent.
    # Two statsmodels 0.15 conventions to line up: a row is at risk at its own entry time (entry <= t, Stata's
    # rule; R and lifelines use start < t), so entries are moved 1e-6 later, between the weekly event times; and
    # PHReg.score_residuals keeps a left-truncated row whose interval holds no failure time in the risk set of every
    # earlier failure time, so the comparison is made where every row's interval holds one (checked below).
    panel = weekly_panel()
    event_times = np.unique(panel.loc[panel["event"] == 1, "stop"])
    assert np.all(np.isin(panel["stop"], event_times))
    x = panel[["exposures", "activity"]].to_numpy(float)
    result = PHReg(panel["stop"].to_numpy(), x, status=panel["event"].to_numpy(),
                   entry=panel["start"].to_numpy() + 1e-6, ties="breslow").fit(groups=panel["agent_id"].to_numpy())
    ours = ExposureHazardModel(ties="breslow").fit(panel, covariates=["activity"])
    np.testing.assert_allclose(ours.params_.to_numpy(), result.params, rtol=1e-6)
    np.testing.assert_allclose(ours.standard_errors_.to_numpy(), result.bse, rtol=1e-6)
    assert ours.n_clusters_ == panel["agent_id"].nunique()
    # Clustering matters here: five pairs per agent share the agent's activity.
    assert ours.standard_errors_["exposures"] != pytest.approx(
        np.sqrt(ours.model_variance_matrix_.loc["exposures", "exposures"]), rel=1e-3)


def test_two_way_clustered_errors_are_cameron_gelbach_miller_from_statsmodels_one_way_fits():
    """Reference: statsmodels PHReg's one-way cluster-robust covariance (same conventions as above) by agent, by
    item and by (agent, item) pair, combined as Cameron, Gelbach & Miller (2011) eq. 2.11: V_agent + V_item -
    V_pair. Ours clusters on both at once and must equal it to 1e-6."""
    panel = weekly_panel()
    x = panel[["exposures", "activity"]].to_numpy(float)

    def statsmodels_cov(groups):
        return PHReg(panel["stop"].to_numpy(), x, status=panel["event"].to_numpy(),
                     entry=panel["start"].to_numpy() + 1e-6, ties="breslow").fit(groups=groups).cov_params()

    pair = panel.groupby(["agent_id", "item_id"]).ngroup().to_numpy()
    expected = (statsmodels_cov(panel["agent_id"].to_numpy()) + statsmodels_cov(panel["item_id"].to_numpy())
                - statsmodels_cov(pair))
    ours = ExposureHazardModel(ties="breslow").fit(panel, covariates=["activity"], cluster_col=("agent_id", "item_id"))
    np.testing.assert_allclose(ours.variance_matrix_.to_numpy(), expected, rtol=1e-6)
    assert ours.n_clusters_by_ == {"agent_id": panel["agent_id"].nunique(), "item_id": 5}
    assert ours.to_dict()["standard_errors"] == "robust, clustered by agent_id and item_id"


def test_lifelines_engine_agrees_including_penalty_and_log1p(small_panel):
    # lifelines stops Newton-Raphson at a relative log-likelihood change of 1e-9, we at a Newton decrement of 1e-10:
    # the estimates agree to ~1e-5 and ours is never the lower (penalised) log-likelihood.
    for kwargs in ({}, {"penalizer": 0.05}, {"exposure_transform": "log1p"}):
        numpy_fit = ExposureHazardModel(**kwargs).fit(small_panel, covariates=["activity"])
        lifelines_fit = ExposureHazardModel(engine="lifelines", **kwargs).fit(small_panel, covariates=["activity"])
        np.testing.assert_allclose(numpy_fit.params_, lifelines_fit.params_, rtol=1e-4)
        np.testing.assert_allclose(numpy_fit.standard_errors_, lifelines_fit.standard_errors_, rtol=1e-4)
        assert numpy_fit.log_likelihood_ >= lifelines_fit.log_likelihood_ - 1e-9
        assert numpy_fit.log_likelihood_ == pytest.approx(lifelines_fit.log_likelihood_, rel=1e-9)
    # The log1p term is the linear model on log(1 + k), as lifelines fits it (converged tightly here).
    reference = CoxPHFitter().fit(
        small_panel[["start", "stop", "event", "activity"]].assign(lk=np.log1p(small_panel["exposures"])),
        duration_col="stop", event_col="event", entry_col="start",
        fit_options={"precision": 1e-12, "r_precision": 1e-15},
    )
    log1p_fit = ExposureHazardModel(exposure_transform="log1p").fit(small_panel, covariates=["activity"])
    assert log1p_fit.coef_ == pytest.approx(reference.params_["lk"], rel=1e-6)
    assert log1p_fit.params_.index[0] == "log1p(exposures)"


def test_penalty_shrinks_towards_zero(small_panel):
    free = ExposureHazardModel().fit(small_panel, covariates=["activity"])
    shrunk = ExposureHazardModel(penalizer=1.0).fit(small_panel, covariates=["activity"])
    assert np.all(np.abs(shrunk.params_) < np.abs(free.params_))


# --------------------------------------------------------------------------------------------------------------------
# (2) Planted hazard ratios
# --------------------------------------------------------------------------------------------------------------------


def test_planted_saturating_hazard_ratio_is_covered(saturating_panel):
    # Ground truth: hazard 0.05 * 0.53^k(t) per hour, exposures a Poisson process (0.1/h), censored at 50 h.
    model = ExposureHazardModel().fit(saturating_panel)
    low, high = model.hazard_ratio_ci_
    assert low < 0.53 < high
    assert high - low < 0.06  # tight enough to tell 0.53 from the replication's 1.009
    assert high < 1 and model.p_value_ < 1e-10
    assert model.n_events_ > 2500
    assert model.ph_test_.loc["exposures", "p"] > 0.01  # the planted effect is proportional


def test_planted_reinforcing_hazard_ratio_is_above_one():
    panel = simulate_exposure_panel(n_pairs=8000, hazard_ratio=1.3, baseline_hazard=0.005, window=50.0, seed=0)
    model = ExposureHazardModel().fit(panel)
    low, high = model.hazard_ratio_ci_
    assert low > 1
    assert low < 1.3 < high


def test_confounding_by_activity_fakes_saturation_and_the_covariate_removes_it():
    # Planted: no exposure effect (HR 1); active agents are exposed e^0.8 times as often per unit of activity but
    # adopt e^-0.8 times as readily. The study's exposure-only model then reports saturation; with activity as a
    # covariate the interval covers 1.
    panel = simulate_exposure_panel(n_pairs=8000, hazard_ratio=1.0, baseline_hazard=0.02, window=50.0,
                                    activity_exposure_effect=0.8, activity_hazard_effect=-0.8, seed=0)
    exposure_only = ExposureHazardModel().fit(panel)
    adjusted = ExposureHazardModel().fit(panel, covariates=["activity"])
    assert exposure_only.hazard_ratio_ci_[1] < 0.9
    assert adjusted.hazard_ratio_ci_[0] < 1 < adjusted.hazard_ratio_ci_[1]
    assert adjusted.params_["activity"] == pytest.approx(-0.8, abs=0.1)


# --------------------------------------------------------------------------------------------------------------------
# (5) Case-control sampling
# --------------------------------------------------------------------------------------------------------------------


def test_case_control_sample_agrees_with_full_fit(saturating_panel):
    full = ExposureHazardModel().fit(saturating_panel)
    max_rows = len(saturating_panel) // 4
    sampled = ExposureHazardModel(max_rows=max_rows, seed=3).fit(saturating_panel)

    design = sampled.sampling_
    n_events = int(saturating_panel["event"].sum())
    n_non_events = len(saturating_panel) - n_events
    assert design["probability"] == pytest.approx((max_rows - n_events) / n_non_events)
    assert design["n_event_rows"] == n_events == sampled.n_events_
    assert design["n_rows_fitted"] == sampled.n_rows_ == n_events + design["n_non_event_rows_sampled"]
    # Bernoulli sampling: the kept count is Binomial(n_non_events, p); allow 5 standard deviations.
    p = design["probability"]
    assert abs(design["n_non_event_rows_sampled"] - p * n_non_events) < 5 * np.sqrt(n_non_events * p * (1 - p))

    low, high = full.hazard_ratio_ci_
    assert low < sampled.hazard_ratio_ < high
    assert sampled.hazard_ratio_ci_[0] < 0.53 < sampled.hazard_ratio_ci_[1]
    assert sampled.se_ > full.se_  # less information, honestly reported
    assert sampled.se_ < 2 * full.se_
    # Concordance is computed on the whole panel either way.
    assert sampled.concordance_ == pytest.approx(full.concordance_, abs=0.005)
    assert full.sampling_ is None
    assert sampled.summary.attrs["sampling"] == design
    assert sampled.to_dict()["sampling"]["probability"] == pytest.approx(p)


def test_case_control_sampling_is_seeded_and_refuses_to_drop_events(saturating_panel):
    max_rows = len(saturating_panel) // 4
    a = ExposureHazardModel(max_rows=max_rows, seed=5).fit(saturating_panel)
    b = ExposureHazardModel(max_rows=max_rows, seed=5).fit(saturating_panel)
    c = ExposureHazardModel(max_rows=max_rows, seed=6).fit(saturating_panel)
    assert a.coef_ == b.coef_ and a.sampling_ == b.sampling_
    assert a.coef_ != c.coef_
    with pytest.raises(ValueError, match="event rows"):
        ExposureHazardModel(max_rows=int(saturating_panel["event"].sum())).fit(saturating_panel)


# --------------------------------------------------------------------------------------------------------------------
# Concordance
# --------------------------------------------------------------------------------------------------------------------


def brute_force_concordance(start, stop, event, score, weights):
    """The definition, pair by pair: each event against the rows at risk at its time that are not tied events."""
    concordant = comparable = 0.0
    for e in np.flatnonzero(event):
        u = stop[e]
        at_risk = (start < u) & (u <= stop) & ~(event & (stop == u))
        comparable += weights[e] * weights[at_risk].sum()
        concordant += weights[e] * (weights[at_risk & (score < score[e])].sum()
                                    + 0.5 * weights[at_risk & (score == score[e])].sum())
    return concordant / comparable


def test_risk_set_concordance_matches_the_definition_with_ties():
    rng = np.random.default_rng(4)
    n = 400
    start = rng.integers(0, 6, n).astype(float)  # integer times: many ties between starts, stops and events
    stop = start + rng.integers(1, 6, n)
    event = rng.random(n) < 0.4
    score = np.round(rng.normal(size=n), 1)  # tied scores too
    weights = rng.choice([1.0, 2.5], n)
    for w in (np.ones(n), weights):
        assert risk_set_concordance(start, stop, event, score, w) == pytest.approx(
            brute_force_concordance(start, stop, event, score, w), abs=1e-12
        )


def test_risk_set_concordance_is_harrells_c_on_one_row_per_subject(rossi):
    # lifelines.utils.concordance_index(T, -risk, E) is Harrell's C for right-censored data.
    rng = np.random.default_rng(0)
    score = rossi["prio"].to_numpy(float) + rng.integers(0, 3, len(rossi))  # tied scores
    reference = concordance_index(rossi["week"], -score, rossi["arrest"])
    ours = risk_set_concordance(np.zeros(len(rossi)), rossi["week"], rossi["arrest"], score)
    assert ours == pytest.approx(reference, abs=1e-12)


# --------------------------------------------------------------------------------------------------------------------
# (3) The exposure curve on hand-computed data
# --------------------------------------------------------------------------------------------------------------------


def wilson(successes, n, z=stats.norm.ppf(0.975)):
    """Wilson (1927) score interval, written out."""
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.fixture
def hand_pairs():
    # pair: adopted, exposures before adoption (adopters), total exposures (non-adopters)
    return pd.DataFrame(
        {
            "agent_id": ["a", "b", "c", "d", "e", "f", "g", "h"],
            "adopted": [1, 1, 0, 0, 1, 1, 1, 0],
            "exposures_before_adoption": [1, 2, np.nan, np.nan, 3, 1, 0, np.nan],
            "total_exposures": [1, 4, 1, 3, 3, 2, 2, 5],
        }
    )


def test_exposure_curve_on_hand_computed_data(hand_pairs):
    # Reached k without adopting / adopted after the k-th and before the (k+1)-th exposure, K = 3:
    #   k = 1: a b c d e f h reached it (g adopted before any exposure: left out); a and f adopt   -> 2/7
    #   k = 2: b d e h reached it; b adopts                                                         -> 1/4
    #   k = 3: d e h reached it; e adopts (h goes on to 5 exposures, counted up to K only)          -> 1/3
    curve = ExposureCurve(max_exposures=3).fit(hand_pairs)
    table = curve.table_
    assert table["n_at_risk"].tolist() == [7, 4, 3]
    assert table["n_adopted"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(table["probability"], [2 / 7, 1 / 4, 1 / 3])
    for k, (successes, n) in zip([1, 2, 3], [(2, 7), (1, 4), (1, 3)]):
        low, high = wilson(successes, n)
        assert table.loc[k, "ci_lower"] == pytest.approx(low, abs=1e-12)
        assert table.loc[k, "ci_upper"] == pytest.approx(high, abs=1e-12)
    assert curve.n_adopted_before_exposure_ == 1
    assert curve.n_pairs_ == 7
    assert curve.n_risk_set_rows_ == 1 + 2 + 1 + 3 + 3 + 1 + 3


def test_exposure_pairs_from_panel():
    panel = pd.DataFrame(
        {
            "agent_id": [1, 1, 1, 2, 2],
            "item_id": [9, 9, 9, 9, 9],
            "start": [0.0, 2.0, 5.0, 0.0, 1.0],
            "stop": [2.0, 5.0, 6.5, 1.0, 8.0],
            "event": [0, 0, 1, 0, 0],
            "exposures": [1, 2, 3, 1, 2],
        }
    )
    pairs = exposure_pairs_from_panel(panel).set_index("agent_id")
    assert pairs.loc[1, "adopted"] == 1 and pairs.loc[1, "exposures_before_adoption"] == 3
    assert pairs.loc[2, "adopted"] == 0 and pairs.loc[2, "total_exposures"] == 2
    assert np.isnan(pairs.loc[2, "exposures_before_adoption"])


# --------------------------------------------------------------------------------------------------------------------
# (4) The verdict
# --------------------------------------------------------------------------------------------------------------------


def planted_exposure_pairs(intercept, slope, curvature, n_pairs=20000, seed=0):
    """Pairs whose adoption probability at the k-th exposure is logistic(intercept + slope k + curvature k^2);
    each pair is observed for 1 + Poisson(4) exposures; agents hold five pairs each."""
    rng = np.random.default_rng(seed)
    max_k = 30
    k = np.arange(1, max_k + 1)
    probability = 1 / (1 + np.exp(-(intercept + slope * k + curvature * k**2)))
    observed = np.minimum(1 + rng.poisson(4, n_pairs), max_k)
    adopts = (rng.random((n_pairs, max_k)) < probability) & (k <= observed[:, None])
    adopted = adopts.any(axis=1)
    first = np.where(adopted, adopts.argmax(axis=1) + 1, 0)
    return pd.DataFrame(
        {
            "agent_id": np.arange(n_pairs) // 5,
            "adopted": adopted.astype(int),
            "exposures_before_adoption": np.where(adopted, first, np.nan),
            "total_exposures": observed,
        }
    )


def test_verdict_on_planted_curves():
    saturating = ExposureCurve().fit(planted_exposure_pairs(-2.5, 0.5, -0.08))
    assert saturating.verdict_ == "saturating"
    assert saturating.curvature_coef_ == pytest.approx(-0.08, abs=3 * saturating.curvature_se_)

    reinforcing = ExposureCurve().fit(planted_exposure_pairs(-3.0, -0.2, 0.06))
    assert reinforcing.verdict_ == "reinforcing"
    assert reinforcing.curvature_coef_ == pytest.approx(0.06, abs=3 * reinforcing.curvature_se_)

    flat = ExposureCurve().fit(planted_exposure_pairs(-2.0, 0.0, 0.0))
    assert flat.verdict_ == "no evidence either way"
    assert flat.curvature_p_value_ > 0.05


def test_verdict_from_the_hazard_model(saturating_panel):
    model = ExposureHazardModel().fit(saturating_panel)
    curve = ExposureCurve().fit(exposure_pairs_from_panel(saturating_panel), hazard_ratio_ci=model.hazard_ratio_ci_)
    assert curve.verdict_ == "saturating"
    assert "hazard ratio interval" in curve.verdict_reason_


def test_verdict_rule():
    assert saturation_verdict(-0.1, 0.001)[0] == "saturating"
    assert saturation_verdict(0.1, 0.001)[0] == "reinforcing"
    assert saturation_verdict(-0.1, 0.2)[0] == "no evidence either way"
    assert saturation_verdict(float("nan"), float("nan"), (0.5, 0.6))[0] == "saturating"
    assert saturation_verdict(float("nan"), float("nan"), (1.1, 1.3))[0] == "reinforcing"
    assert saturation_verdict(float("nan"), float("nan"), (0.9, 1.1))[0] == "no evidence either way"
    assert saturation_verdict(0.1, 0.001, (0.5, 0.6))[0] == "conflicting"
    assert saturation_verdict(-0.1, 0.04, alpha=0.01)[0] == "no evidence either way"


# --------------------------------------------------------------------------------------------------------------------
# Input checks and outputs
# --------------------------------------------------------------------------------------------------------------------


def tiny_panel(**changes):
    panel = pd.DataFrame(
        {"agent_id": [1, 1, 2, 3], "item_id": [1, 1, 1, 1], "start": [0.0, 1.0, 0.0, 0.0],
         "stop": [1.0, 3.0, 2.0, 4.0], "event": [0, 1, 1, 0], "exposures": [1, 2, 1, 1]}
    )
    for column, values in changes.items():
        panel[column] = values
    return panel


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"start": [0.0, 0.5, 0.0, 0.0]}, "overlap"),
        ({"event": [1, 1, 1, 0]}, "after its adoption"),
        ({"exposures": [0, 2, 1, 1]}, ">= 1"),
        ({"stop": [1.0, 1.0, 2.0, 4.0]}, "start < stop"),
        ({"event": [0, 2, 1, 0]}, "0 or 1"),
        ({"exposures": [1.0, np.nan, 1.0, 1.0]}, "missing"),
    ],
)
def test_malformed_panels_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        ExposureHazardModel().fit(tiny_panel(**changes))


def test_missing_columns_and_constant_terms_are_refused():
    with pytest.raises(ValueError, match="lacks"):
        ExposureHazardModel().fit(tiny_panel(), covariates=["activity"])
    with pytest.raises(ValueError, match="do not vary"):
        ExposureHazardModel().fit(tiny_panel(constant=[3.0] * 4), covariates=["constant"])


def test_outputs_are_complete(saturating_panel, capsys):
    model = ExposureHazardModel().fit(saturating_panel)
    summary = model.summary
    assert {"coef", "exp(coef)", "se(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%", "p",
            "ph test p"} <= set(summary.columns)
    assert summary.loc["exposures", "exp(coef)"] == pytest.approx(model.hazard_ratio_)
    assert summary.attrs["n_events"] == model.n_events_
    findings = model.to_dict()
    assert {"hazard_ratio", "hazard_ratio_ci", "concordance"} <= set(findings)
    assert findings["hazard_ratio_ci"] == pytest.approx(list(model.hazard_ratio_ci_))
    model.print_summary()
    printed = capsys.readouterr().out
    assert "sampling" in printed and "exposures" in printed
