r"""The fast inner loop of the power-law bootstrap: the xmin scan of `powerlaw.Fit`, vectorised, and exact samplers.

Every bootstrap replicate refits a synthetic or resampled sample "with the same procedure" as the observed one
(Clauset, Shalizi & Newman 2009, section 4.1). `fit_tail` reproduces two procedures without their per-candidate
Python objects.

``method="powerlaw"``: `powerlaw.Fit` (v2.0) with its defaults.

* xmin candidates: every distinct value except the two largest (`Fit.find_xmin` drops the maximum, then the
  last remaining distinct value).
* alpha at each candidate: continuous data, the closed form :math:`1 + n / \sum \ln(x_i / x_{min})`; discrete
  data, the exact maximum-likelihood root of the Hurwitz-zeta likelihood, except that for ``xmin >= 10`` powerlaw
  uses the closed-form approximation :math:`1 + n / \sum \ln(x_i / (x_{min} - 1/2))` (Clauset et al. eq. 3.7)
  whenever it lands in (1.5, 3]. Elsewhere powerlaw maximises numerically within its range (0, 3): the
  likelihood is concave, so that is the unconstrained maximum clipped to the range.
* validity: a closed-form alpha must lie in (0, 3); a numerically fitted one is flagged as noise within 0.01 of
  either bound. The chosen xmin minimises the KS distance among valid candidates (among all if none is valid).
* the KS distance that selects xmin is powerlaw's: the largest |S(x-) - P(X < x)| over the distinct tail values,
  S(x-) the share of the tail strictly below x (see `ks_distances`).

``method="plfit"``: Clauset's plfit.m, the code behind the paper's tables (see `fit_tail`).

This module does not import the `powerlaw` package, so bootstrap workers start quickly.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import scipy.special as sc

# powerlaw's Power_Law.DEFAULT_PARAMETER_RANGES and the 1e-2 "near the boundary" flag of Distribution.fit.
ALPHA_BOUNDS = (0.0, 3.0)
BOUNDARY_EPS = 1e-2
# powerlaw's Power_Law switches to the closed-form discrete estimate (estimate_discrete) from this xmin up.
ESTIMATE_DISCRETE_FROM = 10.0
# Above this many (candidate, value) pairs the scan prunes candidates with a lower bound before the full KS pass.
FULL_SCAN_PAIRS = 250_000
COARSE_COLUMNS = 256
# plfit.m (Clauset's reference implementation) fits discrete alpha on this grid, in steps of 0.01.
PLFIT_GRID = (1.5, 3.5)
METHODS = ("powerlaw", "plfit")
PAIRS_PER_CHUNK = 1 << 20


@dataclass(frozen=True)
class TailFit:
    """One power-law fit: the chosen xmin, alpha there, and two KS distances at that (xmin, alpha).

    ``ks`` is the distance the xmin search minimises, and so the goodness-of-fit statistic: the test compares the
    observed and the synthetic samples by the criterion that fitted them. ``ks_paper`` is the paper's two-sided
    supremum (equal to ``ks`` for discrete data with method="plfit"), reported beside it.
    """

    xmin: float
    alpha: float
    n_tail: int
    ks: float
    ks_paper: float
    valid: bool


NO_FIT = TailFit(math.nan, math.nan, 0, math.nan, math.nan, False)


# --------------------------------------------------------------------------------------------------------------
# Discrete maximum likelihood


def log_zeta_derivatives(alpha, q, step=1e-4):
    """d/dalpha and d2/dalpha2 of ln zeta(alpha, q) by central differences.

    ln zeta(alpha, q) is the log-partition function of the discrete power law, so these are -E[ln X] and
    Var[ln X] under it. With a 1e-4 step the truncation error is ~1e-9 and the rounding error ~1e-12.
    """
    alpha = np.asarray(alpha, dtype=float)
    step = np.minimum(step, 0.5 * (alpha - 1.0))
    lower = np.log(sc.zeta(alpha - step, q))
    centre = np.log(sc.zeta(alpha, q))
    upper = np.log(sc.zeta(alpha + step, q))
    return (upper - lower) / (2 * step), (upper - 2 * centre + lower) / step**2


def discrete_alpha_mle(n, sum_log, q, initial=None, tol=1e-10, max_iter=100):
    r"""The maximum-likelihood exponent of a discrete power law on {q, q+1, ...}, vectorised over candidates.

    Solves :math:`\bar{\ln x} = -\partial_\alpha \ln\zeta(\alpha, q)` (Clauset et al. eq. 3.5) by Newton's
    method safeguarded with bisection; the log-likelihood is concave in alpha, so the root is unique whenever the
    tail holds at least two distinct values.
    """
    shape = np.broadcast_shapes(np.shape(n), np.shape(sum_log), np.shape(q))
    n, sum_log, q = (np.array(np.broadcast_to(a, shape), dtype=float).reshape(-1) for a in (n, sum_log, q))
    mean_log = sum_log / n
    alpha = (1 + 1 / (mean_log - np.log(q - 0.5)) if initial is None
             else np.array(np.broadcast_to(initial, shape), dtype=float).reshape(-1))
    lower = np.full(alpha.shape, 1.0 + 1e-9)
    upper = np.full(alpha.shape, 50.0)
    alpha = np.clip(np.where(np.isfinite(alpha), alpha, 2.0), 1.0 + 1e-6, 49.0)
    active = np.ones(alpha.shape, dtype=bool)
    for _ in range(max_iter):
        a = alpha[active]
        first, second = log_zeta_derivatives(a, q[active])
        score = -mean_log[active] - first  # decreasing in alpha
        lo = np.where(score > 0, a, lower[active])
        hi = np.where(score < 0, a, upper[active])
        proposal = a + score / second
        outside = ~((proposal > lo) & (proposal < hi)) | ~np.isfinite(proposal)
        proposal = np.where(outside, 0.5 * (lo + hi), proposal)
        lower[active], upper[active] = lo, hi
        converged = (np.abs(proposal - a) < tol) | (score == 0)
        alpha[active] = proposal
        still = np.flatnonzero(active)[~converged]
        active[:] = False
        active[still] = True
        if not active.any():
            break
    return alpha.reshape(shape) if shape else float(alpha[0])


def discrete_alpha_se(alpha, q, n_tail):
    r"""Asymptotic standard error of the discrete MLE, :math:`1/\sqrt{n\,\mathrm{Var}_\alpha[\ln X]}` (eq. 3.6)."""
    _, second = log_zeta_derivatives(alpha, q)
    return 1.0 / np.sqrt(n_tail * second)


# --------------------------------------------------------------------------------------------------------------
# The xmin scan


class _Sample:
    """Distinct values, their counts and the prefix/suffix sums every candidate reads from."""

    def __init__(self, values):
        self.values, self.counts = np.unique(values, return_counts=True)
        self.n = int(self.counts.sum())
        self.log_values = np.log(self.values)
        # below[j]: how many observations are strictly below values[j]; below[-1] == n.
        self.below = np.concatenate(([0], np.cumsum(self.counts)))
        weighted = self.counts * self.log_values
        self.log_sum_from = np.concatenate((np.cumsum(weighted[::-1])[::-1], [0.0]))


def _discrete_loglikelihood(alpha, n_tail, sum_log, q):
    return -alpha * sum_log - n_tail * np.log(sc.zeta(alpha, q))


def _alphas(sample: _Sample, start, q, discrete, method="powerlaw"):
    """alpha at each candidate (xmin = q, tail from distinct value `start` on) and whether it is a valid fit."""
    n_tail = sample.n - sample.below[start]
    sum_log = sample.log_sum_from[start]
    lo, hi = ALPHA_BOUNDS
    with np.errstate(divide="ignore", invalid="ignore"):
        closed_form = 1 + n_tail / (sum_log - n_tail * np.log(q))
        if method == "plfit":
            if not discrete:
                return closed_form, np.isfinite(closed_form)
            # plfit.m maximises the likelihood over alpha = 1.50, 1.51, ..., 3.50. The likelihood is concave, so
            # the grid maximum is one of the two grid points around the exact maximum.
            exact = discrete_alpha_mle(n_tail, sum_log, q, initial=np.maximum(closed_form, 1.0))
            low = np.clip(np.floor(np.round(exact * 100, 6)) / 100, PLFIT_GRID[0], PLFIT_GRID[1])
            high = np.clip(low + 0.01, PLFIT_GRID[0], PLFIT_GRID[1])
            better_high = (_discrete_loglikelihood(high, n_tail, sum_log, q)
                           > _discrete_loglikelihood(low, n_tail, sum_log, q))
            alpha = np.round(np.where(better_high, high, low), 2)
            return alpha, (alpha > PLFIT_GRID[0]) & (alpha < PLFIT_GRID[1])
        if not discrete:
            analytic = (closed_form > 1.5) & (closed_form <= 3)
            # Outside (1.5, 3] powerlaw maximises the likelihood numerically within its range; the likelihood is
            # concave, so the bounded maximum is the closed form clipped to the range.
            alpha = np.where(analytic, closed_form, np.clip(closed_form, lo, hi))
        else:
            approximate = 1 + n_tail / (sum_log - n_tail * np.log(q - 0.5))
            analytic = (q >= ESTIMATE_DISCRETE_FROM) & (approximate > 1.5) & (approximate <= 3)
            alpha = np.where(analytic, approximate, np.nan)
            numerical = ~analytic
            if numerical.any():
                alpha[numerical] = np.clip(discrete_alpha_mle(n_tail[numerical], sum_log[numerical], q[numerical],
                                                              initial=np.maximum(closed_form[numerical], 1.0)), lo, hi)
    # Closed forms need only lie inside the open range; numerical fits (a bounded Nelder-Mead in powerlaw) are
    # also flagged when they come within 0.01 of a bound.
    valid = np.where(analytic, (alpha > lo) & (alpha < hi),
                     (alpha > lo + BOUNDARY_EPS) & (alpha < hi - BOUNDARY_EPS))
    return alpha, valid & np.isfinite(alpha)


STATISTICS = ("powerlaw", "paper", "plfit")


def ks_distances(sample: _Sample, start, q, alpha, discrete, columns=None, statistic="powerlaw"):
    """KS distances between each candidate's tail and its fitted power law.

    ``statistic="powerlaw"``, powerlaw's ``D``: at each distinct tail value x, compare the share of the tail
    strictly below x with the model's P(X < x) (for discrete data P(X <= x - 1)); D is the largest absolute
    difference.

    ``"paper"``, the paper's definition: D = sup over x >= xmin of |S(x) - P(x)|, S the right-continuous empirical
    CDF of the tail and P the model CDF. Both are step functions (discrete) or S is (continuous), so the supremum
    is reached at a distinct value x either just before its jump (the powerlaw term above) or at it:
    |share <= x - P(X <= x)|. The paper's D is the larger of the two terms; for continuous data it is the usual
    two-sided KS statistic, for discrete data the maximum over every integer of |S - P| as in Clauset's plfit.m.

    ``"plfit"``, plfit.m's: for discrete data the paper's; for continuous data ``max(abs(cf - cx))`` with
    ``cx = (0:n-1)/n`` over the sorted tail, so each of c tied copies of x is compared at its own index: the foot
    of the step and, when c > 1, the share below x plus (c - 1)/n. Tied values (rounded measurements) thus count
    against a low xmin, which is how the paper's tables chose xmin on such data.

    ``columns`` restricts the comparison to some distinct values (indices, ascending, ending with the last one),
    which gives a lower bound on the full distance.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    paper = statistic == "paper" or (statistic == "plfit" and discrete)
    within_ties = statistic == "plfit" and not discrete
    start = np.asarray(start)
    q = np.asarray(q, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    columns = np.arange(len(sample.values)) if columns is None else np.asarray(columns)
    result = np.empty(len(start))
    rows_per_block = max(1, PAIRS_PER_CHUNK // len(columns))
    for first in range(0, len(start), rows_per_block):
        rows = slice(first, first + rows_per_block)
        row_start = start[rows][:, None]
        cols = columns[np.searchsorted(columns, row_start.min()):]
        inside = cols[None, :] >= row_start
        tail_start = sample.below[row_start]
        tail_size = sample.n - tail_start
        a = alpha[rows][:, None]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if discrete:
                # Zeta only where it is needed: it dominates the cost of a discrete scan.
                z_q = sc.zeta(a, q[rows][:, None])
                z_x = np.ones(inside.shape)
                z_x[inside] = sc.zeta(np.broadcast_to(a, inside.shape)[inside],
                                      np.broadcast_to(sample.values[cols], inside.shape)[inside])
                model_below = 1 - z_x / z_q
            else:
                model_below = -np.expm1((1 - a) * (sample.log_values[cols] - np.log(q[rows])[:, None]))
            distance = np.abs((sample.below[cols] - tail_start) / tail_size - model_below)
            if paper:
                model_upto = 1 - (z_x - sample.values[cols] ** -a) / z_q if discrete else model_below
                distance = np.maximum(distance, np.abs((sample.below[cols + 1] - tail_start) / tail_size - model_upto))
            elif within_ties:
                last_copy = (sample.below[cols + 1] - 1 - tail_start) / tail_size
                distance = np.maximum(distance, np.abs(last_copy - model_below))
        result[rows] = np.where(inside, distance, 0.0).max(axis=1)
    return result


def _coarse_columns(m: int, count: int) -> np.ndarray:
    return np.unique(np.concatenate((np.linspace(0, m - 1, min(count, m)).astype(int), [m - 1])))


def _select(sample: _Sample, start, q, alpha, eligible, discrete, statistic):
    """Index (into the candidates) minimising the KS distance among `eligible`, lowest index on ties.

    Large samples are pruned first: the distance over a subset of the columns is a lower bound on the full one,
    so a candidate whose bound exceeds the best full distance found so far cannot be the minimiser. Bounds on
    256 and then 2,048 columns leave few candidates for the full pass.
    """
    candidates = np.flatnonzero(eligible)
    m = len(sample.values)
    if int(np.sum(m - start[candidates])) <= FULL_SCAN_PAIRS:
        distance = ks_distances(sample, start[candidates], q[candidates], alpha[candidates], discrete, statistic=statistic)
        return candidates[int(np.argmin(distance))], float(distance.min())

    def full(indices):
        return ks_distances(sample, start[indices], q[indices], alpha[indices], discrete, statistic=statistic)

    def bound(indices, count):
        return ks_distances(sample, start[indices], q[indices], alpha[indices], discrete,
                            columns=_coarse_columns(m, count), statistic=statistic)

    lower = bound(candidates, COARSE_COLUMNS)
    seeds = candidates[np.lexsort((candidates, lower))[:16]]
    seed_distance = full(seeds)
    best = float(seed_distance.min())
    best_index = int(seeds[seed_distance == best].min())
    survivors = candidates[lower <= best]
    finer = bound(survivors, 8 * COARSE_COLUMNS)
    keep = finer <= best
    survivors, finer = survivors[keep], finer[keep]
    order = np.lexsort((survivors, finer))
    survivors, finer = survivors[order], finer[order]
    for first in range(0, len(survivors), 64):
        if finer[first] > best:
            break
        batch = survivors[first:first + 64][finer[first:first + 64] <= best]
        distance = full(batch)
        low = float(distance.min())
        if low < best or (low == best and int(batch[distance == low].min()) < best_index):
            best, best_index = low, int(batch[distance == low].min())
    return best_index, best


def fit_tail(values, discrete, xmin=None, method="powerlaw") -> TailFit:
    """Fit a power law to the tail of `values`, choosing xmin by the KS criterion unless it is given.

    ``method="powerlaw"`` reproduces `powerlaw.Fit(values, discrete=discrete, xmin=xmin)` with its defaults (see
    the module docstring); `ks` is then powerlaw's ``D``, the foot of each step, and `ks_paper` the supremum.

    ``method="plfit"`` reproduces Clauset's plfit.m, the implementation behind the paper's tables: candidates are
    every distinct value but the largest; discrete alpha maximises the likelihood on the grid 1.50, 1.51, ...,
    3.50, continuous alpha is the closed form; the KS distance is plfit.m's (for discrete data the paper's
    definition, over every integer; for continuous data ``cx = (0:n-1)/n`` against the sorted tail, tied copies
    each at its own index, see `ks_distances`), and it is both the xmin criterion and `ks`.

    With a fixed xmin, `ks` is the same distance the search would have minimised.

    `valid` is False where powerlaw would flag the fit as noise (method="powerlaw") or alpha sits on the edge of
    the grid (method="plfit").
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    plfit = method == "plfit"
    # The distance that selects xmin, and with it the goodness-of-fit statistic `ks`.
    statistic = method
    sample = _Sample(values)
    m = len(sample.values)
    if xmin is None:
        # powerlaw drops the two largest distinct values from the candidates (the maximum, then the last left).
        candidates = m - 1 if plfit else m - 2
        if candidates < 2:
            return NO_FIT
        start = np.arange(candidates)
        q = sample.values[:candidates]
        alpha, valid = _alphas(sample, start, q, discrete, method)
        eligible = valid if (valid.any() and not plfit) else np.isfinite(alpha)
        if not eligible.any():
            return NO_FIT
        chosen, _ = _select(sample, start, q, alpha, eligible, discrete, statistic)
        picked = slice(chosen, chosen + 1)
        start, q, alpha, valid = start[picked], q[picked], alpha[picked], valid[picked]
    else:
        start = np.array([np.searchsorted(sample.values, xmin, side="left")])
        if start[0] >= m - 1:  # fewer than two distinct values in the tail: no likelihood maximum
            return NO_FIT
        q = np.array([float(xmin)])
        alpha, valid = _alphas(sample, start, q, discrete, method)
        if not np.isfinite(alpha[0]):
            return NO_FIT
    ks_paper = float(ks_distances(sample, start, q, alpha, discrete, statistic="paper")[0])
    ks = float(ks_distances(sample, start, q, alpha, discrete, statistic=statistic)[0])
    return TailFit(float(q[0]), float(alpha[0]), int(sample.n - sample.below[start[0]]), ks, ks_paper,
                   bool(valid[0]))


# --------------------------------------------------------------------------------------------------------------
# Exact samplers


class DiscretePowerLaw:
    """The discrete power law p(x) = x^-alpha / zeta(alpha, xmin) on x = xmin, xmin + 1, ..., sampled exactly.

    Inverse transform on the survival function G(x) = P(X >= x) = zeta(alpha, x) / zeta(alpha, xmin): a uniform
    U gives the largest x with G(x) > U, so P(X = x) = G(x) - G(x + 1) exactly (to the precision of scipy's Hurwitz
    zeta). G is tabulated once up to where it falls below ~1e-6 (at most 2**21 values); the rare draws beyond the
    table are found by integer bisection on G itself, so the table's reach changes the cost, never a draw. Draws are exact while consecutive integers are distinct
    doubles (below 2**53); beyond that (alpha very close to 1) they are the nearest double.
    """

    def __init__(self, alpha: float, xmin: float, max_table: int = 1 << 21):
        if not alpha > 1:
            raise ValueError(f"a discrete power law on an unbounded support needs alpha > 1, got {alpha}")
        self.alpha, self.xmin = float(alpha), float(xmin)
        self.z_xmin = float(sc.zeta(self.alpha, self.xmin))
        # Where the continuous approximation of G reaches 1e-6: the table serves all but ~1e-6 of the draws.
        reach = (self.xmin - 0.5) * 1e-6 ** (-1.0 / (self.alpha - 1.0))
        size = int(min(max(1024.0, reach - self.xmin + 2), max_table))
        self.survival_table = self.survival(self.xmin + np.arange(size))
        self._ascending = self.survival_table[::-1].copy()

    def survival(self, x):
        """P(X >= x)."""
        return sc.zeta(self.alpha, x) / self.z_xmin

    def pmf(self, x):
        return np.asarray(x, dtype=float) ** -self.alpha / self.z_xmin

    def invert(self, u):
        """The largest x >= xmin with P(X >= x) > u, for u in (0, 1)."""
        u = np.asarray(u, dtype=float)
        size = len(self.survival_table)
        above = size - np.searchsorted(self._ascending, u, side="right")
        x = self.xmin + above - 1.0
        beyond = above == size
        if beyond.any():
            x[beyond] = self._bisect(u[beyond], self.xmin + size - 1.0)
        return x

    def _bisect(self, u, lower_start):
        lower = np.full(u.shape, lower_start)
        guess = (self.xmin - 0.5) * u ** (-1.0 / (self.alpha - 1.0)) + 0.5
        upper = np.maximum(lower + 1, np.ceil(2 * guess))
        for _ in range(64):
            short = self.survival(upper) > u
            if not short.any():
                break
            upper[short] *= 2
        for _ in range(128):
            open_ = upper - lower > 1
            if not open_.any():
                break
            middle = np.floor(0.5 * (lower + upper))
            above = self.survival(middle) > u
            lower = np.where(open_ & above, middle, lower)
            upper = np.where(open_ & ~above, middle, upper)
        return lower

    def sample(self, rng: np.random.Generator, size: int):
        u = rng.random(size)
        u[u == 0] = np.nextafter(0.0, 1.0)
        return self.invert(u)


class ContinuousPowerLaw:
    """The continuous power law p(x) = (alpha - 1) / xmin (x / xmin)^-alpha on x >= xmin, sampled by inversion."""

    def __init__(self, alpha: float, xmin: float):
        if not alpha > 1:
            raise ValueError(f"a power law on an unbounded support needs alpha > 1, got {alpha}")
        self.alpha, self.xmin = float(alpha), float(xmin)

    def survival(self, x):
        return (np.asarray(x, dtype=float) / self.xmin) ** (1 - self.alpha)

    def sample(self, rng: np.random.Generator, size: int):
        return self.xmin * (1.0 - rng.random(size)) ** (-1.0 / (self.alpha - 1.0))


def power_law(alpha: float, xmin: float, discrete: bool):
    return DiscretePowerLaw(alpha, xmin) if discrete else ContinuousPowerLaw(alpha, xmin)


# --------------------------------------------------------------------------------------------------------------
# Bootstrap replicates, in-process or on a process pool


@dataclass(frozen=True)
class BootstrapProblem:
    """What every replicate needs: the observed sample and the fit being tested."""

    data: np.ndarray
    discrete: bool
    xmin: float
    alpha: float
    n_tail: int
    fixed_xmin: bool
    method: str = "powerlaw"


_WORKER: dict = {}


def prepare(problem: BootstrapProblem) -> dict:
    below = problem.data[problem.data < problem.xmin]
    return {"problem": problem, "below": below,
            "model": power_law(problem.alpha, problem.xmin, problem.discrete) if problem.alpha > 1 else None}


def _init_worker(problem: BootstrapProblem) -> None:
    _WORKER.clear()
    _WORKER.update(prepare(problem))


def synthetic_sample(state: dict, rng: np.random.Generator) -> np.ndarray:
    """Clauset et al. 4.1: n points, each from the fitted tail with probability n_tail/n, else resampled from the
    observed values below xmin."""
    problem: BootstrapProblem = state["problem"]
    n = len(problem.data)
    below = state["below"]
    n_tail = int(rng.binomial(n, problem.n_tail / n)) if len(below) else n
    return np.concatenate((state["model"].sample(rng, n_tail), below[rng.integers(0, len(below), n - n_tail)]
                           if len(below) else np.empty(0)))


def _goodness_of_fit_replicate(state: dict, rng: np.random.Generator) -> np.ndarray:
    """A synthetic sample refitted by the same procedure: its KS distance, alpha and xmin."""
    problem: BootstrapProblem = state["problem"]
    synthetic = synthetic_sample(state, rng)
    fit = fit_tail(synthetic, problem.discrete, problem.xmin if problem.fixed_xmin else None, problem.method)
    return np.array([fit.ks, fit.alpha, fit.xmin])


def _resampling_replicate(state: dict, rng: np.random.Generator) -> np.ndarray:
    """Nonparametric bootstrap: n points drawn with replacement from the data, refitted by the same procedure."""
    problem: BootstrapProblem = state["problem"]
    n = len(problem.data)
    resample = problem.data[rng.integers(0, n, n)]
    fit = fit_tail(resample, problem.discrete, problem.xmin if problem.fixed_xmin else None, problem.method)
    return np.array([fit.ks, fit.alpha, fit.xmin])


REPLICATES = {"goodness_of_fit": _goodness_of_fit_replicate, "resampling": _resampling_replicate}


def _run_chunk(kind: str, seeds, state: dict | None = None) -> np.ndarray:
    state = _WORKER if state is None else state
    replicate = REPLICATES[kind]
    return np.array([replicate(state, np.random.default_rng(seed)) for seed in seeds]).reshape(len(seeds), 3)


def resolve_n_jobs(n_jobs: int | None) -> int:
    """scikit-learn's convention: None is 1, -1 is every available core, -2 all but one."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n_jobs is None or n_jobs == 0:
        return 1
    return max(1, n_jobs if n_jobs > 0 else available + 1 + n_jobs)


def _pool_context():
    # fork where it exists: workers start at once and scripts need no `if __name__ == "__main__"` guard. The
    # workers only run numpy and scipy code, so locks held by the parent's other threads are never touched.
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def run_bootstrap(problem: BootstrapProblem, seeds: dict, n_jobs: int = 1, progress=None) -> dict:
    """Run each kind of replicate in `seeds` ({kind: [SeedSequence, ...]}); returns {kind: array (B, 3)}.

    Every replicate draws from its own SeedSequence, so results do not depend on n_jobs or on the chunking.
    Columns of each array: the KS distance the refit minimised (`TailFit.ks`), alpha, xmin of the refit.
    """
    results = {kind: np.full((len(s), 3), np.nan) for kind, s in seeds.items()}
    total = {kind: len(s) for kind, s in seeds.items()}
    done = {kind: 0 for kind in seeds}
    workers = resolve_n_jobs(n_jobs)
    chunk_size = max(1, min(50, math.ceil(max(total.values(), default=1) / (8 * workers))))
    tasks = [(kind, first, seeds[kind][first:first + chunk_size])
             for kind in seeds for first in range(0, total[kind], chunk_size)]

    def report(kind, first, values):
        results[kind][first:first + len(values)] = values
        done[kind] += len(values)
        if progress is not None:
            progress(kind.replace("_", " "), done[kind], total[kind])

    if workers == 1 or len(tasks) <= 1:
        state = prepare(problem)
        for kind, first, chunk in tasks:
            report(kind, first, _run_chunk(kind, chunk, state))
        return results
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_init_worker,
                             initargs=(problem,)) as pool:
        futures = {pool.submit(_run_chunk, kind, chunk): (kind, first) for kind, first, chunk in tasks}
        for future in as_completed(futures):
            kind, first = futures[future]
            report(kind, first, future.result())
    return results
