"""Adoption hazards: does each further exposure to an item raise or lower an agent's hazard of adopting it?

Two estimators and the rule that turns them into a verdict:

- `ExposureHazardModel`: a Cox proportional-hazards model on a counting-process exposure panel, with the cumulative
  number of exposures as a time-varying covariate, other covariates beside it, standard errors clustered by agent,
  a Schoenfeld-residual test of proportional hazards, a risk-set concordance, and a documented case-control sampling
  of non-event rows for panels too large to fit whole.
- `ExposureCurve`: the empirical exposure curve P(adopt at the k-th exposure | reached k exposures without adopting)
  with Wilson intervals, and the logistic test of its curvature.
- `saturation_verdict`: "saturating", "reinforcing", "conflicting" or "no evidence either way", by a stated rule.

Why the Cox fit is our own code and not a call to lifelines. lifelines' `CoxPHFitter(entry_col=...)` computes the
right point estimate (it calls `CoxTimeVaryingFitter`'s gradient, Efron ties), but on counting-process data
(lifelines 0.30): its cluster-robust standard errors use score residuals whose risk sets ignore the entry times (so
they are wrong for a panel where a subject has several rows), `compute_residuals` and therefore
`proportional_hazard_test` raise `NotImplementedError`, `CoxTimeVaryingFitter(robust=True)` raises
`NotImplementedError`, the concordance treats every interval as a subject, and the fit costs
O(rows x distinct event times) (29 s for 189,000 rows and 3,751 events on two cores), which rules out a panel of
millions of rows. `_CountingProcessCox` below maximises the same Efron partial likelihood in O(rows x covariates) per
Newton step; the tests hold it to lifelines' coefficients (to 1e-6), to lifelines' documented Rossi results, to
statsmodels' `PHReg` clustered standard errors (Breslow ties) on entry-time data, to the invariance of coefficients
and clustered errors when a subject's row is split into intervals (which lifelines' clustered errors fail: 3-10% on
Rossi), and to lifelines' proportional-hazards test where lifelines supports it. `engine="lifelines"` takes the
coefficients from lifelines instead, for cross-checking.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from observatory.estimators.base import Estimator, json_ready

__all__ = [
    "ExposureHazardModel",
    "risk_set_concordance",
    "simulate_exposure_panel",
    "ConvergenceError",
]

PANEL_COLUMNS = ("agent_id", "item_id", "start", "stop", "event")
EXPOSURE_TRANSFORMS = ("linear", "log1p")


class ConvergenceError(RuntimeError):
    """The partial likelihood has no finite maximum that Newton's method could reach (separation, collinearity)."""


# --------------------------------------------------------------------------------------------------------------------
# The Cox partial likelihood on counting-process data, vectorised
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Evaluation:
    log_likelihood: float
    gradient: np.ndarray
    information: np.ndarray


class _CountingProcessCox:
    """Efron (or Breslow) partial likelihood of (start, stop] rows with case weights, on standardised covariates.

    Row i is at risk at event time u when start_i < u <= stop_i, as in R's `survival` and lifelines. Event times are
    sorted once; risk-set sums at every event time come from two `bincount`s (a row enters the running sum at the
    first event time after its start and leaves after the last event time not after its stop) and a cumulative sum,
    so a Newton step costs O(rows x covariates^2) whatever the number of distinct event times.
    """

    def __init__(self, z, start, stop, event, weights, ties="efron"):
        self.z = z
        self.weights = weights
        self.n_rows, self.n_covariates = z.shape
        deaths = np.flatnonzero(event)
        # Deaths in time order, ties kept in row order: the order lifelines' rank time-transform sees them in.
        deaths = deaths[np.argsort(stop[deaths], kind="stable")]
        self.deaths = deaths
        death_times = stop[deaths]
        self.event_times, self.death_group, self.deaths_per_time = np.unique(
            death_times, return_inverse=True, return_counts=True
        )
        self.n_event_times = len(self.event_times)
        group_first = np.concatenate(([0], np.cumsum(self.deaths_per_time)[:-1]))
        rank_in_tie = np.arange(len(deaths)) - group_first[self.death_group]
        # Efron's approximation removes the l-th fraction of the tied deaths' risk from the l-th denominator.
        self.tie_fraction = (
            rank_in_tie / self.deaths_per_time[self.death_group] if ties == "efron" else np.zeros(len(deaths))
        )
        self.first_time_at_risk = np.searchsorted(self.event_times, start, side="right")
        self.past_last_time_at_risk = np.searchsorted(self.event_times, stop, side="right")
        self.death_weight_mean = (
            np.bincount(self.death_group, weights=weights[deaths], minlength=self.n_event_times) / self.deaths_per_time
        )[self.death_group]

    def _risk_set_sums(self, values):
        """Sum of `values` (n, or n x d) over each event time's risk set."""
        m = self.n_event_times
        if values.ndim == 1:
            entering = np.bincount(self.first_time_at_risk, weights=values, minlength=m + 1)
            leaving = np.bincount(self.past_last_time_at_risk, weights=values, minlength=m + 1)
            return np.cumsum(entering - leaving)[:m]
        return np.column_stack([self._risk_set_sums(values[:, j]) for j in range(values.shape[1])])

    def _over_risk_window(self, per_time):
        """For every row, the sum of a per-event-time quantity over the event times at which the row is at risk."""
        cumulative = np.concatenate((np.zeros((1,) + per_time.shape[1:]), np.cumsum(per_time, axis=0)))
        return cumulative[self.past_last_time_at_risk] - cumulative[self.first_time_at_risk]

    def _pieces(self, beta):
        linear_predictor = self.z @ beta
        # exp() of the linear predictor shifted so the largest is 0; every ratio below is invariant to the shift.
        shift = max(float(linear_predictor.max()), 0.0)
        relative_risk = np.exp(linear_predictor - shift)
        weighted_risk = self.weights * relative_risk
        s0 = self._risk_set_sums(weighted_risk)
        s1 = self._risk_set_sums(self.z * weighted_risk[:, None])
        g = self.death_group
        d_rows = self.deaths
        tied_s0 = np.bincount(g, weights=weighted_risk[d_rows], minlength=self.n_event_times)
        tied_s1 = np.column_stack(
            [np.bincount(g, weights=(self.z[d_rows, j] * weighted_risk[d_rows]), minlength=self.n_event_times)
             for j in range(self.n_covariates)]
        ).reshape(self.n_event_times, self.n_covariates)
        f = self.tie_fraction
        denominator = s0[g] - f * tied_s0[g]
        mean_covariate = (s1[g] - f[:, None] * tied_s1[g]) / denominator[:, None]
        return linear_predictor, shift, relative_risk, weighted_risk, denominator, mean_covariate

    def evaluate(self, beta) -> _Evaluation:
        linear_predictor, shift, _, weighted_risk, denominator, mean_covariate = self._pieces(beta)
        d_rows, g, f = self.deaths, self.death_group, self.tie_fraction
        w_death = self.weights[d_rows]
        w_bar = self.death_weight_mean
        log_likelihood = float(
            np.sum(w_death * linear_predictor[d_rows]) - np.sum(w_bar * (np.log(denominator) + shift))
        )
        gradient = (self.z[d_rows] * w_death[:, None]).sum(0) - (mean_covariate * w_bar[:, None]).sum(0)
        per_time_inverse = np.bincount(g, weights=w_bar / denominator, minlength=self.n_event_times)
        per_time_tied = np.bincount(g, weights=w_bar * f / denominator, minlength=self.n_event_times)
        row_factor = weighted_risk * self._over_risk_window(per_time_inverse)
        death_factor = weighted_risk[d_rows] * per_time_tied[g]
        z_death = self.z[d_rows]
        information = (
            (self.z * row_factor[:, None]).T @ self.z
            - (z_death * death_factor[:, None]).T @ z_death
            - (mean_covariate * w_bar[:, None]).T @ mean_covariate
        )
        return _Evaluation(log_likelihood, gradient, information)

    def score_residuals(self, beta) -> np.ndarray:
        """Unweighted score residuals per row, consistent with the tie method (Therneau and Grambsch 2000, 7.2)."""
        _, _, relative_risk, _, denominator, mean_covariate = self._pieces(beta)
        d_rows, g, f = self.deaths, self.death_group, self.tie_fraction
        w_bar = self.death_weight_mean
        m = self.n_event_times
        # Hazard increments and covariate-weighted increments per event time, then over each row's risk window.
        increment = np.bincount(g, weights=w_bar / denominator, minlength=m)
        weighted_mean_increment = np.column_stack(
            [np.bincount(g, weights=w_bar * mean_covariate[:, j] / denominator, minlength=m)
             for j in range(self.n_covariates)]
        ).reshape(m, self.n_covariates)
        residuals = -relative_risk[:, None] * (
            self.z * self._over_risk_window(increment)[:, None] - self._over_risk_window(weighted_mean_increment)
        )
        # Under Efron a death's own risk counts (1 - l/d) in the l-th denominator: give back the removed part.
        tied_increment = np.bincount(g, weights=w_bar * f / denominator, minlength=m)
        tied_mean_increment = np.column_stack(
            [np.bincount(g, weights=w_bar * f * mean_covariate[:, j] / denominator, minlength=m)
             for j in range(self.n_covariates)]
        ).reshape(m, self.n_covariates)
        residuals[d_rows] += relative_risk[d_rows, None] * (
            self.z[d_rows] * tied_increment[g][:, None] - tied_mean_increment[g]
        )
        residuals[d_rows] += self.z[d_rows] - self._mean_over_ties(mean_covariate)[g]
        return residuals

    def _mean_over_ties(self, mean_covariate):
        sums = np.column_stack(
            [np.bincount(self.death_group, weights=mean_covariate[:, j], minlength=self.n_event_times)
             for j in range(self.n_covariates)]
        ).reshape(self.n_event_times, self.n_covariates)
        return sums / self.deaths_per_time[:, None]

    def schoenfeld_residuals(self, beta) -> np.ndarray:
        """Schoenfeld residuals of the deaths, in `self.deaths` order (lifelines' Efron definition)."""
        *_, mean_covariate = self._pieces(beta)
        return self.z[self.deaths] - self._mean_over_ties(mean_covariate)[self.death_group]

    def maximise(self, penalty, max_iter=50, tol=1e-14):
        """Newton-Raphson with step halving on the penalised log partial likelihood, from beta = 0.

        Converged when the Newton decrement g' H^-1 g falls below `tol`, or when it is below 1e-8 and no step
        along the Newton direction raises the likelihood any more, or when it is below 1e-6 (the estimate is within
        a thousandth of a standard error of the optimum) and a step changes the likelihood only by rounding: the
        floating-point floor of a large panel.
        """
        beta = np.zeros(self.n_covariates)

        def penalised(b):
            ev = self.evaluate(b)
            return _Evaluation(
                ev.log_likelihood - 0.5 * penalty * float(b @ b),
                ev.gradient - penalty * b,
                ev.information + penalty * np.eye(len(b)),
            )

        current = penalised(beta)
        log_likelihood_null = current.log_likelihood
        for iteration in range(1, max_iter + 1):
            try:
                step = np.linalg.solve(current.information, current.gradient)
            except np.linalg.LinAlgError as error:
                raise ConvergenceError(
                    "the information matrix is singular: covariates are collinear or constant"
                ) from error
            newton_decrement = float(current.gradient @ step)
            if not np.isfinite(newton_decrement):
                raise ConvergenceError("the partial likelihood is not finite at the current estimate")
            converged = newton_decrement < tol
            if not converged:
                step_size = 1.0
                while step_size >= 1e-8:
                    candidate = penalised(beta + step_size * step)
                    if np.isfinite(candidate.log_likelihood) and candidate.log_likelihood >= current.log_likelihood:
                        gain = candidate.log_likelihood - current.log_likelihood
                        beta, current = beta + step_size * step, candidate
                        # The floating-point floor of a large panel: the decrement (the squared distance to the
                        # optimum in standard-error units) is below 1e-6 and a full step no longer changes the
                        # likelihood beyond rounding. Further iterations would only repeat this step.
                        if newton_decrement < 1e-6 and gain <= 1e-12 * max(1.0, abs(current.log_likelihood)):
                            converged = True
                        break
                    step_size /= 2
                else:
                    if newton_decrement >= 1e-8:
                        raise ConvergenceError("no step along the Newton direction increases the partial likelihood")
                    converged = True
            if converged:
                if np.max(np.abs(beta)) > 25:
                    raise ConvergenceError(
                        "a standardised coefficient exceeds 25: the partial likelihood is monotone (separation)"
                    )
                return beta, current, log_likelihood_null, iteration
        raise ConvergenceError(
            f"Newton-Raphson did not converge in {max_iter} iterations: the partial likelihood may be monotone "
            "(an exposure level or covariate value at which every or no subject adopts)"
        )


# --------------------------------------------------------------------------------------------------------------------
# Concordance on counting-process data
# --------------------------------------------------------------------------------------------------------------------


def _dominance_sums(point_time, point_weight, point_value, query_time, query_value):
    """For every query, the summed weight of points with time < query time and value < query value.

    Offline two-dimensional dominance counting by divide and conquer over the time order (each of the log2(N)
    levels is one sort and one cumulative sum), O(N log^2 N) with no Python loop over rows. Values are integer
    ranks; a query's value is compared strictly.
    """
    n_points = len(point_time)
    time = np.concatenate((point_time, query_time))
    # At equal times a query precedes the points, so a point at exactly the query time is not counted.
    is_query = np.concatenate((np.zeros(n_points, bool), np.ones(len(query_time), bool)))
    order = np.lexsort((~is_query, time))
    # Points sit at odd keys 2v+1, a query for "< v" at the even key 2v, below the points of the same value.
    value_key = np.concatenate((2 * point_value + 1, 2 * query_value))[order].astype(np.int64)
    weight = np.concatenate((point_weight, np.zeros(len(query_time))))[order]
    is_query = is_query[order]
    n = len(time)
    position = np.arange(n, dtype=np.int64)
    key_span = int(value_key.max()) + 1 if n else 1
    totals = np.zeros(n)
    for level in range(max(1, math.ceil(math.log2(max(n, 2))))):
        block = position >> (level + 1)
        in_right_half = ((position >> level) & 1).astype(bool)
        by_block_then_value = np.argsort(block * key_span + value_key, kind="stable")
        contributes = np.where(~in_right_half & ~is_query, weight, 0.0)[by_block_then_value]
        running = np.cumsum(contributes)
        sorted_block = block[by_block_then_value]
        block_starts = np.flatnonzero(np.concatenate(([True], sorted_block[1:] != sorted_block[:-1])))
        before_block = (running - contributes)[block_starts]
        running -= np.repeat(before_block, np.diff(np.concatenate((block_starts, [n]))))
        wanted = (in_right_half & is_query)[by_block_then_value]
        totals[by_block_then_value[wanted]] += running[wanted]
    result = np.empty(n)
    result[order] = totals
    return result[n_points:]


def risk_set_concordance(start, stop, event, risk_score, weights=None) -> float:
    """Harrell's concordance for (start, stop] data: each event against everyone at risk at its time.

    For an event at time u with risk score x, the comparable rows are those at risk at u (start < u <= stop) that do
    not themselves end in an event at u; a comparable row with a lower risk score is concordant, an equal one counts
    one half. This is the definition R's `survival::concordance` uses for counting-process data; on one row per
    subject starting at 0 it is the usual Harrell's C (lifelines' `concordance_index` with the risk score negated).
    Row weights multiply both members of a pair.

    Parameters
    ----------
    start, stop : array-like of float
        Interval ends, start < stop.
    event : array-like of bool
        Whether the interval ends in the event.
    risk_score : array-like of float
        Higher means earlier events expected (a Cox linear predictor).
    weights : array-like of float, optional
        Case weights (default 1).

    Returns
    -------
    float
        Weighted concordant pairs (ties one half) over weighted comparable pairs; NaN when no pair is comparable.
    """
    start, stop = np.asarray(start, float), np.asarray(stop, float)
    event = np.asarray(event).astype(bool)
    risk_score = np.asarray(risk_score, float)
    weights = np.ones(len(start)) if weights is None else np.asarray(weights, float)
    deaths = np.flatnonzero(event)
    if len(deaths) == 0:
        return float("nan")
    _, value_rank = np.unique(risk_score, return_inverse=True)
    death_time, death_rank, death_weight = stop[deaths], value_rank[deaths], weights[deaths]
    # At risk at u = started before u minus stopped before u: each row is a +w point at its start and a -w point
    # at its stop.
    point_time = np.concatenate((start, stop))
    point_weight = np.concatenate((weights, -weights))
    point_rank = np.concatenate((value_rank, value_rank))
    query_time = np.concatenate((death_time, death_time))
    query_rank = np.concatenate((death_rank, death_rank + 1))  # "< rank + 1" is "<= rank"
    sums = _dominance_sums(point_time, point_weight, point_rank, query_time, query_rank)
    at_risk_lower, at_risk_lower_or_equal = sums[: len(deaths)], sums[len(deaths):]
    start_sorted, stop_sorted = np.sort(start), np.sort(stop)
    cum_start = np.concatenate(([0.0], np.cumsum(weights[np.argsort(start)])))
    cum_stop = np.concatenate(([0.0], np.cumsum(weights[np.argsort(stop)])))
    at_risk_total = (cum_start[np.searchsorted(start_sorted, death_time, side="left")]
                     - cum_stop[np.searchsorted(stop_sorted, death_time, side="left")])
    # Deaths at the same time (the row itself included) are at risk but not comparable: take them out.
    tie_order = np.lexsort((death_rank, death_time))
    t_sorted, r_sorted, w_sorted = death_time[tie_order], death_rank[tie_order], death_weight[tie_order]
    cum_w = np.concatenate(([0.0], np.cumsum(w_sorted)))
    same_time_first = np.searchsorted(t_sorted, t_sorted, side="left")
    same_time_end = np.searchsorted(t_sorted, t_sorted, side="right")
    pair_key = np.column_stack((t_sorted, r_sorted))
    # Within a time, rows are sorted by rank: find the first and one-past-last row of the same rank.
    new_run = np.concatenate(([True], np.any(pair_key[1:] != pair_key[:-1], axis=1)))
    run_id = np.cumsum(new_run) - 1
    run_first = np.flatnonzero(new_run)
    run_end = np.concatenate((run_first[1:], [len(t_sorted)]))
    tied_lower = cum_w[run_first[run_id]] - cum_w[same_time_first]
    tied_lower_or_equal = cum_w[run_end[run_id]] - cum_w[same_time_first]
    tied_total = cum_w[same_time_end] - cum_w[same_time_first]
    undo = np.empty_like(tie_order)
    undo[tie_order] = np.arange(len(tie_order))
    concordant = at_risk_lower - tied_lower[undo]
    tied_score = (at_risk_lower_or_equal - at_risk_lower) - (tied_lower_or_equal - tied_lower)[undo]
    comparable = at_risk_total - tied_total[undo]
    denominator = float(np.sum(death_weight * comparable))
    if denominator <= 0:
        return float("nan")
    return float(np.sum(death_weight * (concordant + 0.5 * tied_score)) / denominator)


# --------------------------------------------------------------------------------------------------------------------
# The exposure hazard model
# --------------------------------------------------------------------------------------------------------------------


def _multiway_sandwich(dfbeta: np.ndarray, cluster_codes: list[np.ndarray]) -> np.ndarray:
    """Cluster-robust covariance from dfbeta rows, clustered on one or several dimensions at once.

    One dimension: the usual sum over clusters of the outer products of summed dfbetas. Several (Cameron, Gelbach &
    Miller 2011, eq. 2.11): the inclusion-exclusion sum over every non-empty subset S of the dimensions of
    (-1)^(|S|+1) times the one-way covariance clustered on the intersection of S (for agents and items: V_agent +
    V_item - V_(agent, item)). A result that is not positive semi-definite has its negative eigenvalues set to zero
    (their section 2.3).
    """
    import itertools

    k = dfbeta.shape[1]
    total = np.zeros((k, k))
    for size in range(1, len(cluster_codes) + 1):
        for subset in itertools.combinations(cluster_codes, size):
            groups = subset[0] if size == 1 else pd.DataFrame(np.column_stack(subset)).groupby(
                list(range(size)), sort=False).ngroup().to_numpy()
            n = int(groups.max() + 1) if len(groups) else 0
            summed = np.column_stack([np.bincount(groups, weights=dfbeta[:, j], minlength=n) for j in range(k)])
            total += (-1) ** (size + 1) * (summed.T @ summed)
    if len(cluster_codes) > 1:
        values, vectors = np.linalg.eigh((total + total.T) / 2)
        if values.min() < 0:
            total = (vectors * np.clip(values, 0, None)) @ vectors.T
    return total


def _pair_codes(panel: pd.DataFrame) -> np.ndarray:
    return panel.groupby(["agent_id", "item_id"], sort=False, observed=True).ngroup().to_numpy()


def _validate_panel(panel: pd.DataFrame, exposure_col: str, covariates: tuple[str, ...]) -> None:
    missing = [c for c in (*PANEL_COLUMNS, exposure_col, *covariates) if c not in panel.columns]
    if missing:
        raise ValueError(f"the exposure panel lacks column(s) {missing}")
    if len(panel) == 0:
        raise ValueError("the exposure panel is empty")
    for column in ("start", "stop", "event", exposure_col, *covariates):
        if not (pd.api.types.is_numeric_dtype(panel[column]) or pd.api.types.is_bool_dtype(panel[column])):
            raise ValueError(f"column {column!r} must be numeric")
        values = panel[column].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"column {column!r} has {int(np.sum(~np.isfinite(values)))} missing or infinite values")
    start, stop = panel["start"].to_numpy(float), panel["stop"].to_numpy(float)
    if np.any(start < 0) or np.any(stop <= start):
        raise ValueError("every interval must satisfy 0 <= start < stop (time is hours since the first exposure)")
    event = panel["event"].to_numpy(float)
    if not np.all((event == 0) | (event == 1)):
        raise ValueError("event must be 0 or 1")
    if np.any(panel[exposure_col].to_numpy(float) < 1):
        raise ValueError(f"{exposure_col!r} counts exposures so far and must be >= 1 on every interval")
    pair = _pair_codes(panel)
    order = np.lexsort((start, pair))
    same_pair = pair[order][1:] == pair[order][:-1]
    if np.any(same_pair & (start[order][1:] < stop[order][:-1])):
        raise ValueError("intervals of the same (agent_id, item_id) overlap")
    if np.any(same_pair & (event[order][:-1] == 1)):
        raise ValueError("an (agent_id, item_id) has rows after its adoption (or more than one adoption)")


def _wald(coef, se, alpha):
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_value = coef / se
    return z_value, 2 * stats.norm.sf(np.abs(z_value)), coef - z * se, coef + z * se


class ExposureHazardModel(Estimator):
    r"""Cox model of the hazard of adopting an item as a function of the number of exposures to it so far.

    .. math:: \lambda_{ai}(t) = \lambda_0(t)\, \exp\big(\beta\, g(k_{ai}(t)) + \gamma^\top x_{ai}(t)\big)

    where :math:`t` is hours since agent :math:`a`'s first exposure to item :math:`i`, :math:`k_{ai}(t) \ge 1` the
    cumulative number of exposures, :math:`g` the exposure transform (identity or :math:`\log(1+k)`) and
    :math:`x_{ai}(t)` the other covariates. The hazard ratio :math:`e^\beta` is the multiplicative change in the
    adoption hazard per further exposure (linear) or per unit of :math:`\log(1+k)` (log1p: going from :math:`k_1` to
    :math:`k_2` exposures multiplies the hazard by :math:`e^{\beta \log((1+k_2)/(1+k_1))}`). A ratio below 1 means
    diminishing returns to repeated exposure (saturation), above 1 reinforcement.

    The partial likelihood uses Efron's approximation for tied event times (lifelines' only method and R
    ``coxph``'s default), risk sets ``start < t <= stop``. Standard errors are the robust sandwich (Lin and Wei
    1989) with score residuals summed within clusters (agents by default), as R's ``coxph(..., cluster = agent_id)``.

    Parameters
    ----------
    exposure_transform : {"linear", "log1p"}
        How the exposure count enters the linear predictor.
    penalizer : float
        Ridge penalty :math:`\tfrac12\,\text{penalizer}\cdot n_\text{events}\,\lVert\beta_\text{std}\rVert^2` on the
        coefficients of the standardised covariates. Scaled by the number of events, not of rows, so splitting
        intervals or sampling non-event rows leaves it unchanged (lifelines scales by rows: its equivalent is
        ``penalizer * n_events / n_rows``).
    max_rows : int or None
        Above this many rows the panel is case-control sampled before fitting: every event row is kept and each
        non-event row is kept independently with probability ``p = (max_rows - n_events) / n_non_events`` and
        weight ``1/p``. The weighted partial likelihood estimates the full one (Horvitz-Thompson risk sets) and the
        robust standard errors account for the weights (Barlow 1994). The design is recorded in ``sampling_``.
    seed : int
        Seed of the sampling.
    ties : {"efron", "breslow"}
        Approximation for tied event times.
    alpha : float
        1 - confidence level of the intervals.
    engine : {"numpy", "lifelines"}
        Who maximises the partial likelihood: our vectorised Newton-Raphson, or lifelines' ``CoxPHFitter`` with
        ``entry_col`` (Efron only; slow beyond ~10^5 rows). Standard errors, residuals, the proportional-hazards
        test and the concordance are ours in both cases (lifelines' are wrong or missing for entry-time data).
    max_iter : int
        Newton-Raphson iterations before giving up with `ConvergenceError`.

    Attributes
    ----------
    hazard_ratio_ : float
        :math:`e^\beta` for the exposure term.
    hazard_ratio_ci_ : tuple of float
        Its (1 - alpha) confidence interval from the robust standard error.
    coef_, se_, p_value_ : float
        :math:`\beta`, its robust (clustered) standard error and the two-sided Wald p-value.
    params_ : pandas.Series
        Coefficients of every term (exposure first).
    variance_matrix_ : pandas.DataFrame
        Robust covariance of ``params_`` (model-based when ``cluster_col`` is None).
    model_variance_matrix_ : pandas.DataFrame
        Inverse of the information matrix.
    concordance_ : float
        `risk_set_concordance` of the fitted linear predictor over the whole panel (sampled or not).
    log_likelihood_, log_likelihood_null_ : float
        Partial log-likelihood at the estimate and at zero (weighted when sampled).
    ph_test_ : pandas.DataFrame
        Proportional-hazards test per term: Grambsch-Therneau statistic from scaled Schoenfeld residuals against
        the rank of the event times (tied times at their average rank, so that the test does not depend on the
        order of the rows), chi-squared with 1 df -- lifelines' ``proportional_hazard_test`` with an average-rank
        time transform, extended to entry-time data. (R's ``cox.zph`` has used an exact score test and
        the KM transform since survival 3.0, so its figures differ somewhat.) Columns ``test_statistic``, ``p``.
        Under case-control sampling the residuals use the weighted risk sets and the test is approximate.
    n_events_, n_subjects_, n_clusters_ : int
        Adoptions, distinct (agent_id, item_id) pairs, clusters.
    n_rows_, n_rows_panel_ : int
        Rows used in the fit and rows in the panel.
    sampling_ : dict or None
        None when the whole panel was fitted, else the case-control design: probability, seed, row counts.
    converged_iterations_ : int
        Newton-Raphson iterations used (0 with ``engine="lifelines"``).

    Notes
    -----
    The estimate is only as good as the covariates: agents who are exposed often (active readers) may differ in
    susceptibility from those exposed rarely, and that confounding moves the exposure hazard ratio in either
    direction. Clustering corrects the standard errors for dependence within agents, not the estimate for
    unobserved differences between them.

    Examples
    --------
    >>> from observatory.estimators import ExposureHazardModel, simulate_exposure_panel
    >>> panel = simulate_exposure_panel(n_pairs=2000, hazard_ratio=0.53, seed=1)
    >>> model = ExposureHazardModel().fit(panel, covariates=["activity"])
    >>> lo, hi = model.hazard_ratio_ci_
    >>> bool(lo < 0.53 < hi)
    True
    """

    _fitted_attribute = "coef_"

    def __init__(
        self,
        exposure_transform: str = "linear",
        *,
        penalizer: float = 0.0,
        max_rows: int | None = None,
        seed: int = 0,
        ties: str = "efron",
        alpha: float = 0.05,
        engine: str = "numpy",
        max_iter: int = 50,
    ):
        self.exposure_transform = exposure_transform
        self.penalizer = penalizer
        self.max_rows = max_rows
        self.seed = seed
        self.ties = ties
        self.alpha = alpha
        self.engine = engine
        self.max_iter = max_iter

    @property
    def exposure_term_(self) -> str:
        return self.exposure_col_ if self.exposure_transform == "linear" else f"log1p({self.exposure_col_})"

    def _check_configuration(self):
        if self.exposure_transform not in EXPOSURE_TRANSFORMS:
            raise ValueError(f"exposure_transform must be one of {EXPOSURE_TRANSFORMS}")
        if self.ties not in ("efron", "breslow"):
            raise ValueError("ties must be 'efron' or 'breslow'")
        if self.engine not in ("numpy", "lifelines"):
            raise ValueError("engine must be 'numpy' or 'lifelines'")
        if self.engine == "lifelines" and self.ties != "efron":
            raise ValueError("lifelines handles ties by Efron's method only")
        if self.penalizer < 0:
            raise ValueError("penalizer must be >= 0")

    def _design(self, panel: pd.DataFrame) -> np.ndarray:
        exposure = panel[self.exposure_col_].to_numpy(float)
        if self.exposure_transform == "log1p":
            exposure = np.log1p(exposure)
        columns = [exposure] + [panel[c].to_numpy(float) for c in tuple(self.covariates_)]
        return np.column_stack(columns)

    def _sample(self, event: np.ndarray):
        """Rows kept and their weights under the case-control design (all rows, weight 1, when not needed)."""
        n_rows = len(event)
        if self.max_rows is None or n_rows <= self.max_rows:
            return np.arange(n_rows), np.ones(n_rows), None
        event_rows = np.flatnonzero(event)
        non_event_rows = np.flatnonzero(~event)
        if len(event_rows) >= self.max_rows:
            raise ValueError(
                f"max_rows={self.max_rows} does not exceed the {len(event_rows)} event rows, all of which the "
                "case-control design keeps"
            )
        probability = (self.max_rows - len(event_rows)) / len(non_event_rows)
        rng = np.random.default_rng(self.seed)
        kept_non_events = non_event_rows[rng.random(len(non_event_rows)) < probability]
        rows = np.sort(np.concatenate((event_rows, kept_non_events)))
        weights = np.where(event[rows], 1.0, 1.0 / probability)
        sampling = {
            "design": "case-control: every event row kept; each non-event row kept independently with probability "
                      "p and weighted 1/p; robust sandwich standard errors",
            "probability": float(probability),
            "seed": int(self.seed),
            "max_rows": int(self.max_rows),
            "n_rows_panel": int(n_rows),
            "n_rows_fitted": int(len(rows)),
            "n_event_rows": int(len(event_rows)),
            "n_non_event_rows_panel": int(len(non_event_rows)),
            "n_non_event_rows_sampled": int(len(kept_non_events)),
        }
        return rows, weights, sampling

    def fit(self, panel: pd.DataFrame, *, exposure_col: str = "exposures", covariates=(),
            cluster_col: str | tuple[str, ...] | None = "agent_id") -> "ExposureHazardModel":
        """Fit the model to a counting-process exposure panel.

        Parameters
        ----------
        panel : pandas.DataFrame
            One row per (agent_id, item_id, interval) with ``start``, ``stop`` (hours since the first exposure,
            0 <= start < stop), ``event`` (1 on the interval ending in adoption), the exposure count and the
            covariates. Intervals of a pair must not overlap and nothing may follow an adoption.
        exposure_col : str
            Column with the cumulative exposure count.
        covariates : sequence of str
            Further numeric columns of the panel (agent activity, in-degree, adopters so far, item age...).
        cluster_col : str, sequence of str, or None
            Column whose values group dependent rows for the robust standard errors; several columns cluster on all
            of them at once (e.g. ``("agent_id", "item_id")``: rows of one agent are dependent, and so are rows of one
            item, Cameron, Gelbach & Miller 2011); None reports the model-based (inverse information) standard errors.

        Returns
        -------
        self
        """
        self._check_configuration()
        if isinstance(covariates, str):
            raise ValueError("covariates must be a sequence of column names, not a string")
        if exposure_col in covariates:
            raise ValueError(f"{exposure_col!r} is the exposure term; do not list it among the covariates")
        covariates = tuple(covariates)
        self.exposure_col_, self.covariates_, self.cluster_col_ = exposure_col, covariates, cluster_col
        _validate_panel(panel, exposure_col, covariates)
        cluster_cols = self._cluster_cols()
        absent = [c for c in cluster_cols if c not in panel.columns]
        if absent:
            raise ValueError(f"cluster column(s) {absent} not in the panel")
        names = [self.exposure_term_, *covariates]
        x_full = self._design(panel)
        start_full = panel["start"].to_numpy(float)
        stop_full = panel["stop"].to_numpy(float)
        event_full = panel["event"].to_numpy(float) == 1
        n_events = int(event_full.sum())
        if n_events == 0:
            raise ValueError("the panel has no adoption events")
        rows, weights, self.sampling_ = self._sample(event_full)
        x = x_full[rows]
        start, stop, event = start_full[rows], stop_full[rows], event_full[rows]

        # Standardise with the weighted (Horvitz-Thompson) moments, which estimate the whole panel's, so a penalised
        # fit means the same thing sampled or not.
        total_weight = weights.sum()
        mean = (weights[:, None] * x).sum(0) / total_weight
        sd = np.sqrt((weights[:, None] * (x - mean) ** 2).sum(0) / total_weight)
        if np.any(sd == 0):
            raise ValueError(f"term(s) {[n for n, s in zip(names, sd) if s == 0]} do not vary: nothing to estimate")
        z = (x - mean) / sd
        cox = _CountingProcessCox(z, start, stop, event, weights, ties=self.ties)
        penalty = self.penalizer * n_events
        if self.engine == "lifelines":
            beta_std = self._lifelines_coefficients(x, start, stop, event, weights, names, sd, n_events) * sd
            evaluation = cox.evaluate(beta_std)
            evaluation.information = evaluation.information + penalty * np.eye(len(names))
            evaluation.log_likelihood -= 0.5 * penalty * float(beta_std @ beta_std)
            null_ll = cox.evaluate(np.zeros(len(names))).log_likelihood
            iterations = 0
        else:
            beta_std, evaluation, null_ll, iterations = cox.maximise(penalty, max_iter=self.max_iter)

        model_variance_std = np.linalg.inv(evaluation.information)
        scale = np.outer(sd, sd)
        self.params_ = pd.Series(beta_std / sd, index=pd.Index(names, name="term"), name="coef")
        self.model_variance_matrix_ = pd.DataFrame(model_variance_std / scale, index=names, columns=names)
        self.n_clusters_by_ = {}
        if cluster_cols:
            dfbeta = (weights[:, None] * cox.score_residuals(beta_std)) @ model_variance_std
            codes = {c: pd.factorize(panel[c].to_numpy()[rows])[0] for c in cluster_cols}
            self.n_clusters_by_ = {c: int(v.max() + 1) if len(v) else 0 for c, v in codes.items()}
            robust = _multiway_sandwich(dfbeta, [codes[c] for c in cluster_cols])
            self.n_clusters_ = self.n_clusters_by_[cluster_cols[0]]
        else:
            robust = model_variance_std
            self.n_clusters_ = None
        self.variance_matrix_ = pd.DataFrame(robust / scale, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(self.variance_matrix_)), index=names, name="se")

        self.log_likelihood_ = float(evaluation.log_likelihood)
        self.log_likelihood_null_ = float(null_ll)
        self.converged_iterations_ = iterations
        self.n_events_ = n_events
        self.n_rows_ = int(len(rows))
        self.n_rows_panel_ = int(len(panel))
        self.n_subjects_ = int(_pair_codes(panel).max() + 1)
        self.ph_test_ = self._proportional_hazards_test(cox, beta_std, model_variance_std, sd, names)
        self.concordance_ = risk_set_concordance(start_full, stop_full, event_full, x_full @ self.params_.to_numpy())

        exposure = names[0]
        self.coef_ = float(self.params_[exposure])
        self.se_ = float(self.standard_errors_[exposure])
        _, p_value, low, high = _wald(self.coef_, self.se_, self.alpha)
        self.p_value_ = float(p_value)
        self.hazard_ratio_ = math.exp(self.coef_)
        self.hazard_ratio_ci_ = (math.exp(low), math.exp(high))
        return self

    def _lifelines_coefficients(self, x, start, stop, event, weights, names, sd, n_events):
        from lifelines import CoxPHFitter
        from lifelines.exceptions import StatisticalWarning

        frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
        frame["start"], frame["stop"], frame["event"], frame["weight"] = start, stop, event.astype(int), weights
        # lifelines penalises n_rows * penalizer/2 * sum((beta * sd_unweighted)^2); match our penalty term by term.
        sd_lifelines = frame[[f"x{j}" for j in range(x.shape[1])]].std().to_numpy()
        penalizer = self.penalizer * n_events / len(frame) * (sd / sd_lifelines) ** 2
        fitter = CoxPHFitter(penalizer=penalizer if self.penalizer > 0 else 0.0)
        with warnings.catch_warnings():
            # Sampling weights are not integers; lifelines warns because its own variance would be naive, and we do
            # not use its variance.
            warnings.simplefilter("ignore", StatisticalWarning)
            fitter.fit(frame, duration_col="stop", event_col="event", entry_col="start", weights_col="weight")
        return fitter.params_.to_numpy()

    def _proportional_hazards_test(self, cox, beta_std, model_variance_std, sd, names):
        schoenfeld = cox.schoenfeld_residuals(beta_std) * sd  # back to the covariates' own units
        variance = model_variance_std / np.outer(sd, sd)
        n_deaths = len(cox.deaths)
        scaled = n_deaths * schoenfeld @ variance
        # The "rank" time transform with tied event times at their average rank (R's rank(); lifelines' own "rank"
        # numbers tied deaths in row order, which makes the test depend on the order of the rows).
        rank_time = stats.rankdata(cox.event_times[cox.death_group], method="average")
        centred = rank_time - rank_time.mean()
        statistic = (centred @ scaled) ** 2 / (n_deaths * np.diag(variance) * np.sum(centred**2))
        return pd.DataFrame(
            {"test_statistic": statistic, "p": stats.chi2.sf(statistic, 1)},
            index=pd.Index(names, name="term"),
        )

    @property
    def coefficients_(self) -> pd.DataFrame:
        """Per term (exposure first), in plain column names for code to read: ``coef``, ``se`` (robust),
        ``se_model``, ``hazard_ratio``, ``ci_lower`` and ``ci_upper`` (of the hazard ratio, level 1 - alpha), ``z``,
        ``p``, ``ph_test_statistic``, ``ph_test_p``."""
        self._check_fitted()
        se = self.standard_errors_
        z_value, p_value, low, high = _wald(self.params_, se, self.alpha)
        return pd.DataFrame(
            {
                "coef": self.params_,
                "se": se,
                "se_model": np.sqrt(np.diag(self.model_variance_matrix_)),
                "hazard_ratio": np.exp(self.params_),
                "ci_lower": np.exp(low),
                "ci_upper": np.exp(high),
                "z": z_value,
                "p": p_value,
                "ph_test_statistic": self.ph_test_["test_statistic"],
                "ph_test_p": self.ph_test_["p"],
            }
        )

    @property
    def summary(self) -> pd.DataFrame:
        """``coefficients_`` under lifelines' column names (``exp(coef)``, ``se(coef)``, ``exp(coef) lower 95%``...),
        for reading beside a lifelines fit.

        Model-level facts (events, subjects, concordance, the sampling design) are in ``summary.attrs``.
        """
        level = f"{100 * (1 - self.alpha):g}%"
        terms = self.coefficients_
        table = pd.DataFrame(
            {
                "coef": terms["coef"],
                "exp(coef)": terms["hazard_ratio"],
                "se(coef)": terms["se"],
                "se(coef) model": terms["se_model"],
                f"exp(coef) lower {level}": terms["ci_lower"],
                f"exp(coef) upper {level}": terms["ci_upper"],
                "z": terms["z"],
                "p": terms["p"],
                "ph test statistic": terms["ph_test_statistic"],
                "ph test p": terms["ph_test_p"],
            }
        )
        table.attrs.update(self._model_facts())
        return table

    def _cluster_cols(self) -> tuple[str, ...]:
        if self.cluster_col_ is None:
            return ()
        return (self.cluster_col_,) if isinstance(self.cluster_col_, str) else tuple(self.cluster_col_)

    def _model_facts(self) -> dict:
        return {
            "exposure_transform": self.exposure_transform,
            "ties": self.ties,
            "engine": self.engine,
            "standard_errors": (f"robust, clustered by {' and '.join(self._cluster_cols())}"
                                if self.cluster_col_ else "model-based"),
            "n_rows": self.n_rows_,
            "n_rows_panel": self.n_rows_panel_,
            "n_subjects": self.n_subjects_,
            "n_events": self.n_events_,
            "n_clusters": self.n_clusters_,
            "concordance": self.concordance_,
            "log_likelihood": self.log_likelihood_,
            "log_likelihood_null": self.log_likelihood_null_,
            "penalizer": self.penalizer,
            "sampling": self.sampling_,
        }

    def print_summary(self, decimals: int = 4) -> None:
        """Print the model facts, the sampling design and the coefficient table."""
        self._check_fitted()
        facts = self._model_facts()
        lines = [f"<ExposureHazardModel: Cox, {self.ties} ties, {facts['standard_errors']} SEs>"]
        for key in ("exposure_transform", "n_rows", "n_subjects", "n_events", "n_clusters", "concordance",
                    "log_likelihood", "log_likelihood_null", "penalizer"):
            value = facts[key]
            lines.append(f"{key:>22} = {value:.{decimals}f}" if isinstance(value, float) else f"{key:>22} = {value}")
        if self.sampling_ is None:
            lines.append(f"{'sampling':>22} = none (the whole panel was fitted)")
        else:
            s = self.sampling_
            lines.append(
                f"{'sampling':>22} = case-control: all {s['n_event_rows']} event rows, "
                f"{s['n_non_event_rows_sampled']} of {s['n_non_event_rows_panel']} non-event rows "
                f"(p = {s['probability']:.6g}, weight 1/p, seed {s['seed']})"
            )
        print("\n".join(lines))
        print(self.summary.round(decimals).to_string())

    def to_dict(self) -> dict:
        """JSON-ready findings: the exposure hazard ratio with its interval, the concordance, and the context."""
        self._check_fitted()
        return json_ready(
            {
                "hazard_ratio": self.hazard_ratio_,
                "hazard_ratio_ci": list(self.hazard_ratio_ci_),
                "concordance": self.concordance_,
                "coef": self.coef_,
                "se": self.se_,
                "p_value": self.p_value_,
                "confidence_level": 1 - self.alpha,
                "exposure_term": self.exposure_term_,
                "terms": {
                    name: {
                        "coef": float(self.params_[name]),
                        "se": float(self.standard_errors_[name]),
                        "hazard_ratio": float(np.exp(self.params_[name])),
                        "ph_test_statistic": float(self.ph_test_.loc[name, "test_statistic"]),
                        "ph_test_p": float(self.ph_test_.loc[name, "p"]),
                    }
                    for name in self.params_.index
                },
                **{k: v for k, v in self._model_facts().items() if k != "concordance"},
            }
        )


# --------------------------------------------------------------------------------------------------------------------
# A planted society, for tests, benchmarks and power calculations
# --------------------------------------------------------------------------------------------------------------------


def simulate_exposure_panel(
    n_pairs: int,
    hazard_ratio: float,
    baseline_hazard: float = 0.02,
    exposure_rate: float = 0.1,
    window: float = 100.0,
    n_agents: int | None = None,
    activity_hazard_effect: float = 0.0,
    activity_exposure_effect: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    r"""A counting-process exposure panel with a known exposure hazard ratio.

    .. math:: \lambda_{ai}(t) = \lambda_0\, \text{HR}^{k_{ai}(t)}\, e^{\delta_h\, \text{activity}_a}

    Agent a's first exposure to item i is at t = 0; further exposures arrive as a Poisson process of rate
    ``exposure_rate * exp(activity_exposure_effect * activity_a)``; each pair is observed until adoption or
    ``window`` hours. ``activity`` is standard normal per agent; giving it effects on both the exposure rate and the
    hazard makes it a confounder of the exposure effect. Pair j is agent ``j % n_agents`` with item
    ``j // n_agents`` (``n_agents`` defaults to ``n_pairs // 5``, so five items per agent). The hazard is constant
    between exposures, so adoption times are drawn exactly.

    Parameters
    ----------
    n_pairs : int
        (agent, item) pairs.
    hazard_ratio : float
        HR: the hazard's multiplier per further exposure.
    baseline_hazard : float
        :math:`\lambda_0`, per hour (at zero exposures; one exposure gives :math:`\lambda_0 \text{HR}`).
    exposure_rate : float
        Exposures per hour after the first, for an agent of activity 0.
    window : float
        Hours each pair is observed.
    n_agents : int, optional
        Agents the pairs are spread over.
    activity_hazard_effect, activity_exposure_effect : float
        Log-effects of an agent's activity on its hazard and on its exposure rate.
    seed : int
        Seed of the generator.

    Returns
    -------
    pandas.DataFrame
        ``agent_id, item_id, start, stop, event, exposures, activity``.

    Examples
    --------
    >>> panel = simulate_exposure_panel(n_pairs=100, hazard_ratio=0.53, seed=0)
    >>> sorted(panel.columns) == sorted(["agent_id", "item_id", "start", "stop", "event", "exposures", "activity"])
    True
    """
    rng = np.random.default_rng(seed)
    n_agents = n_agents or max(1, n_pairs // 5)
    agent = np.arange(n_pairs) % n_agents
    activity = rng.standard_normal(n_agents)
    rate = exposure_rate * np.exp(activity_exposure_effect * activity)[agent]
    hazard_scale = baseline_hazard * np.exp(activity_hazard_effect * activity)[agent]
    expected = float(rate.max()) * window
    # Enough exposure slots that no pair's Poisson process outlasts them within the window.
    max_exposures = int(expected + 10 * math.sqrt(expected) + 10)
    arrivals = np.cumsum(rng.exponential(1.0, size=(n_pairs, max_exposures)), axis=1) / rate[:, None]
    if np.any(arrivals[:, -1] < window):
        raise ValueError("a pair exhausted its exposure slots; lower exposure_rate or window")
    start = np.concatenate((np.zeros((n_pairs, 1)), arrivals[:, :-1]), axis=1)
    end = np.minimum(arrivals, window)
    exposures = np.arange(1, max_exposures + 1)
    waiting = rng.exponential(1.0, size=(n_pairs, max_exposures)) / (
        hazard_scale[:, None] * hazard_ratio ** exposures[None, :]
    )
    open_interval = start < window
    adopts_in = open_interval & (waiting < end - start)
    adopted = adopts_in.any(axis=1)
    adoption_slot = np.where(adopted, adopts_in.argmax(axis=1), open_interval.sum(axis=1) - 1)
    keep = exposures[None, :] <= (adoption_slot + 1)[:, None]
    event = np.zeros_like(keep)
    event[np.flatnonzero(adopted), adoption_slot[adopted]] = True
    stop = np.where(event, start + waiting, end)
    pair = np.broadcast_to(np.arange(n_pairs)[:, None], keep.shape)
    return pd.DataFrame(
        {
            "agent_id": agent[pair[keep]],
            "item_id": pair[keep] // n_agents,
            "start": start[keep],
            "stop": stop[keep],
            "event": event[keep].astype(np.int8),
            "exposures": np.broadcast_to(exposures, keep.shape)[keep].astype(np.int64),
            "activity": activity[agent[pair[keep]]],
        }
    )
