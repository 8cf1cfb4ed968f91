"""Power-law fits with every number a reader needs to judge them.

The Molt Dynamics study fitted `powerlaw.Fit` to cascade sizes, reported alpha = 2.57 +/- 0.02 and stopped; a
replication found alpha = 2.15, a lognormal fitting better (R = -3.97, p = 7e-5) and the Clauset goodness-of-fit
test at p = 0. `PowerLawFit` reports all of those, every time: the maximum-likelihood fit with xmin chosen by the
KS criterion (Clauset, Shalizi & Newman 2009, SIAM Review 51(4), sections 3.1-3.3), the semi-parametric bootstrap
goodness-of-fit p-value (section 4.1) with its Monte Carlo error, a bootstrap interval for alpha, and likelihood
ratio tests against the usual alternatives (section 5).

The fits themselves come from the `powerlaw` package (Alstott, Bullmore & Plenz 2014). The bootstrap refits
thousands of samples with the same procedure, reimplemented vectorised in `observatory.estimators._powerlaw_core` and tested
against `powerlaw.Fit` on the same samples.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from observatory.estimators import _powerlaw_core as core
from observatory.estimators.base import Estimator, json_ready

__all__ = ["PowerLawFit"]

ALTERNATIVES = ("lognormal", "exponential", "stretched_exponential", "truncated_power_law")
KNOWN_ALTERNATIVES = ALTERNATIVES + ("lognormal_positive",)
# powerlaw treats a comparison as nested when one name contains the other: the power law is the truncated power
# law with no cut-off, and the likelihood-ratio p-value is then the chi-squared one.
NESTED = ("truncated_power_law",)
ALPHA_EDGE_MARGIN = 0.05


class PowerLawFit(Estimator):
    r"""Fit a power law to the tail of a sample, test it, and compare it with the alternatives.

    The model, for :math:`x \ge x_{min}`:

    .. math::
        p(x) = \frac{x^{-\alpha}}{\zeta(\alpha, x_{min})} \;\text{(discrete)}, \qquad
        p(x) = \frac{\alpha - 1}{x_{min}} \left(\frac{x}{x_{min}}\right)^{-\alpha} \;\text{(continuous)}

    ``alpha`` is the maximum-likelihood estimate and ``xmin`` the value minimising the KS distance between the tail
    and its fitted power law, both from `powerlaw.Fit` (v2.0, default settings: alpha in (0, 3); for discrete
    data with ``xmin >= 10`` powerlaw uses the closed-form approximation of Clauset et al. eq. 3.7).

    ``method="plfit"`` follows instead Clauset's plfit.m/plpva.m, the code behind the paper's tables: discrete
    alpha maximises the likelihood on the grid 1.50, 1.51, ..., 3.50, and xmin minimises plfit.m's KS distance.
    The p-value is a property of the whole procedure, not of the data alone: on the Moby Dick word counts both
    procedures choose xmin = 7, but the grid's rounding of alpha (1.9527 to 1.95) raises the observed and the
    synthetic KS distances differently, and the p-value is about 0.49 with plfit (as published in Table 6.1)
    against about 0.70 with powerlaw's exact MLE (confirmed with a plain loop of `powerlaw.Fit`).

    **The KS distance.** ``ks_`` is the distance the xmin search minimises, and it is the goodness-of-fit statistic
    for the observed and every synthetic sample alike: one statistic for both steps, as in Clauset et al. 3.3 and
    4.1. With method="powerlaw" it is powerlaw's ``D``, the largest gap at the foot of each step of the tail's
    empirical CDF (share strictly below x against :math:`P(X < x)`); with method="plfit" it is plfit.m's, the
    supremum over every integer for discrete data and the foot of each step (``cx = (0:n-1)/n``) for continuous
    data. ``ks_paper_`` is the paper's two-sided :math:`D = \max_{x \ge x_{min}} |S(x) - P(x)|` at the same fit
    (for continuous data ``scipy.stats.kstest``'s statistic), reported for reference: it is at least ``ks_``.
    Testing with a different distance from the one that chose xmin mixes two procedures: on the blackouts data
    that raised p to 0.87 against the published 0.62 (which one statistic reproduces: 0.63).

    **Goodness of fit** (Clauset et al. 4.1). Each of ``n_bootstrap`` synthetic samples has n points: with
    probability n_tail/n a point is drawn from the fitted power law above xmin (exactly: inverse CDF on the Hurwitz
    zeta for discrete data), otherwise resampled uniformly from the observed values below xmin. Each synthetic
    sample is refitted by the same procedure (xmin re-estimated when it was estimated, kept when fixed) and
    :math:`p` is the share of synthetic KS distances at least as large as the observed one. Its Monte Carlo
    standard error is :math:`\sqrt{p(1-p)/B}`; ``p_value_ci_`` is the Wilson 95% interval, informative also at
    p = 0. **The alpha interval** is the percentile interval of alpha over ``n_bootstrap`` nonparametric
    resamples of the data, each refitted by the same procedure.

    **Alternatives** (section 5): log-likelihood ratio R of the power law against each alternative fitted to the
    same tail, positive when the power law fits better, with its normalized form and p-value (Vuong's test; for
    the nested truncated power law the chi-squared test), from ``powerlaw.Fit.distribution_compare``.

    **Verdict** (``significance`` defaults to 0.1, as in the paper): ``"not a power law"`` when the
    goodness-of-fit p-value is below it or any non-nested alternative is significantly favoured;
    ``"power law with cut-off"`` when the truncated power law is significantly favoured; ``"power law"`` when the
    power law is significantly favoured over every non-nested alternative; ``"power law or alternative"`` when
    the fit is not rejected but some alternative cannot be told apart from it; ``"untested"`` when no
    goodness-of-fit test was run (``n_bootstrap=0``) and nothing else decides.

    Parameters
    ----------
    discrete : bool, default True
        Integer data (cascade sizes, counts), fitted with the discrete power law.
    xmin : float, optional
        Fix the lower bound of the power-law tail instead of estimating it.
    n_bootstrap : int, default 1000
        Replicates for the goodness-of-fit p-value and, separately, for the alpha interval (0 skips both).
    seed : int, default 0
        Seed of every random draw; results are identical for a seed whatever ``n_jobs``.
    alternatives : sequence of str
        Distributions to compare with: any of ``lognormal``, ``exponential``, ``stretched_exponential``,
        ``truncated_power_law``, ``lognormal_positive``.
    n_jobs : int, optional
        Worker processes for the bootstrap: None or 1 runs in this process, -1 uses every core.
    progress : callable, optional
        ``progress(step, done, total)``, called as the bootstrap advances.
    significance : float, default 0.1
        Threshold of the verdict's tests.
    method : {"powerlaw", "plfit"}, default "powerlaw"
        Whose fitting procedure to follow, for the observed sample and every replicate alike (see above). The
        likelihood-ratio tests always come from powerlaw, on the chosen tail.

    Attributes
    ----------
    alpha_, alpha_se_ : float
        Exponent and its asymptotic standard error, :math:`(\alpha - 1)/\sqrt{n_{tail}}` for continuous data and
        :math:`1/\sqrt{n_{tail} \mathrm{Var}_\alpha[\ln X]}` for discrete data (Clauset et al. eqs. 3.2, 3.6).
    alpha_ci_ : tuple of float
        Bootstrap percentile 95% interval of alpha. ``alpha_bootstrap_se_``: standard deviation of those replicates.
    xmin_, xmin_ci_ : float, tuple of float
        Lower bound of the tail and its bootstrap percentile 95% interval (``xmin_bootstrap_se_``: their SD).
    n_, n_tail_ : int
        Sample size and tail size (values >= xmin).
    ks_, ks_paper_ : float
        The goodness-of-fit statistic (the KS distance xmin minimises, see above) and the paper's two-sided one.
    p_value_, p_value_se_, p_value_ci_ : float, float, tuple
        Bootstrap goodness-of-fit p-value, its Monte Carlo standard error and Wilson 95% interval.
    n_bootstrap_ : int
        Goodness-of-fit replicates that gave a fit (the denominator of ``p_value_``).
    comparisons_ : pandas.DataFrame
        One row per alternative: ``alternative``, ``R``, ``p``, ``normalized_R``, ``nested``, ``verdict`` (the
        favoured distribution at ``significance``, or ``"inconclusive"``), ``parameters``.
    verdict_ : str
        See above.
    ccdf_ : pandas.DataFrame
        ``x`` (distinct tail values), ``data`` (share of the tail >= x), and the CCDF of the fitted power law and
        of each alternative at x, all conditional on x >= xmin: ready for a log-log plot.
    replicates_ : pandas.DataFrame
        Every bootstrap replicate: ``kind`` (goodness_of_fit or resampling), ``ks``, ``alpha``, ``xmin``.
    noise_flag_ : bool
        The fit sits on an edge and alpha and xmin deserve care: powerlaw found no valid xmin candidate or flagged
        its fit, or alpha is within 0.05 of 3, the top of powerlaw's range, where xmin candidates with steeper
        tails were excluded (method="plfit": alpha on the edge of its grid, 1.5 or 3.5).
    warnings_ : list of str
        Warnings raised by powerlaw while fitting, and the edge warning above.

    Examples
    --------
    >>> import numpy as np
    >>> from observatory.estimators.powerlaw import PowerLawFit
    >>> sizes = np.random.default_rng(0).zipf(2.5, 2000)
    >>> fit = PowerLawFit(n_bootstrap=100, seed=1).fit(sizes)
    >>> round(fit.alpha_, 1), fit.xmin_
    (2.5, 1.0)
    >>> fit.verdict_ in ("power law", "power law or alternative")
    True
    """

    _fitted_attribute = "verdict_"

    def __init__(self, discrete=True, *, xmin=None, n_bootstrap=1000, seed=0, alternatives=ALTERNATIVES, n_jobs=None,
                 progress=None, significance=0.1, method="powerlaw"):
        self.discrete = discrete
        self.method = method
        self.xmin = xmin
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.alternatives = alternatives
        self.n_jobs = n_jobs
        self.progress = progress
        self.significance = significance

    def __repr__(self) -> str:
        fitted = " (not fitted)"
        if self.fitted:
            fitted = f": alpha={self.alpha_:.4g}, xmin={self.xmin_:g}, p={self.p_value_:.3g}"
        return f"PowerLawFit(discrete={self.discrete}, xmin={self.xmin}, n_bootstrap={self.n_bootstrap}){fitted}"

    # ----------------------------------------------------------------------------------------------------------
    def fit(self, data) -> "PowerLawFit":
        """Fit, test and compare; returns self."""
        import powerlaw

        alternatives = tuple(self.alternatives)
        unknown = sorted(set(alternatives) - set(KNOWN_ALTERNATIVES))
        if unknown:
            raise ValueError(f"unknown alternatives {unknown}; choose from {list(KNOWN_ALTERNATIVES)}")
        if int(self.n_bootstrap) < 0:
            raise ValueError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        if self.method not in core.METHODS:
            raise ValueError(f"method must be one of {core.METHODS}, got {self.method!r}")
        values = _checked_sample(data, self.discrete, self.xmin)
        self._report("fit", 0, 1)

        # The observed statistic comes from the same refit the replicates use, so the test compares like with like.
        observed = core.fit_tail(values, self.discrete, self.xmin, method=self.method)
        if not math.isfinite(observed.alpha):
            raise ValueError("no power law can be fitted to this sample (too few distinct values in the tail)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # With method="plfit" powerlaw fits only the alternatives, on the tail plfit chose.
            fitted = powerlaw.Fit(values, discrete=self.discrete, verbose=0,
                                  xmin=self.xmin if self.method == "powerlaw" else observed.xmin)
            law = fitted.power_law
            comparisons = [self._compare(fitted, name) for name in alternatives]
            alternative_ccdfs = {name: getattr(fitted, name).ccdf for name in alternatives}
        self.warnings_ = sorted({str(w.message) for w in caught})

        self.n_ = int(len(values))
        if self.method == "powerlaw":
            self.xmin_ = float(fitted.xmin)
            self.n_tail_ = int(fitted.n_tail)
            self.alpha_ = float(law.alpha)
            self.noise_flag_ = bool(getattr(fitted, "noise_flag", False) or law.noise_flag)
            if self.alpha_ > core.ALPHA_BOUNDS[1] - ALPHA_EDGE_MARGIN:
                # powerlaw discards xmin candidates whose alpha reaches 3, so a steeper tail is fitted where the
                # slope happens to dip below 3: xmin and alpha are then artefacts of that range.
                self.noise_flag_ = True
                self.warnings_.append(f"alpha = {self.alpha_:.4f} is at the upper end of powerlaw's range (0, 3); "
                                      "candidates with steeper tails were excluded from the xmin search")
            if observed.xmin != self.xmin_ or abs(observed.alpha - self.alpha_) > 1e-3:
                warnings.warn(
                    f"the bootstrap refit found xmin={observed.xmin:g}, alpha={observed.alpha:.4f} where "
                    f"powerlaw.Fit found xmin={self.xmin_:g}, alpha={self.alpha_:.4f}; the p-value tests the "
                    "refit's procedure", RuntimeWarning, stacklevel=2)
        else:
            self.xmin_, self.n_tail_, self.alpha_ = observed.xmin, observed.n_tail, observed.alpha
            self.noise_flag_ = not observed.valid
        self.ks_, self.ks_paper_ = observed.ks, observed.ks_paper
        if self.discrete:
            self.alpha_se_ = float(core.discrete_alpha_se(self.alpha_, self.xmin_, self.n_tail_))
        else:
            self.alpha_se_ = (self.alpha_ - 1) / math.sqrt(self.n_tail_)
        self.comparisons_ = pd.DataFrame(comparisons, columns=["alternative", "R", "p", "normalized_R", "nested",
                                                               "verdict", "parameters"])
        self.ccdf_ = self._ccdf(values, alternative_ccdfs)
        self._report("fit", 1, 1)

        self._bootstrap(values)
        self.verdict_ = self._verdict()
        return self

    def _report(self, step, done, total):
        if self.progress is not None:
            self.progress(step, done, total)

    def _compare(self, fitted, name):
        R, p = fitted.distribution_compare("power_law", name, normalized_ratio=False)
        normalized_R, _ = fitted.distribution_compare("power_law", name, normalized_ratio=True)
        R, p, normalized_R = float(R), float(p), float(normalized_R)
        if p < self.significance and R != 0:
            verdict = "power law" if R > 0 else name
        else:
            verdict = "inconclusive"
        parameters = {k: float(v) for k, v in getattr(fitted, name).parameters.items()}
        return [name, R, p, normalized_R, name in NESTED, verdict, parameters]

    def _ccdf(self, values, alternative_ccdfs):
        tail = np.sort(values[values >= self.xmin_])
        x, first = np.unique(tail, return_index=True)
        fitted = (core.power_law(self.alpha_, self.xmin_, self.discrete).survival(x) if self.alpha_ > 1
                  else np.full(len(x), np.nan))
        frame = {"x": x, "data": 1.0 - first / len(tail), "power_law": fitted}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame.update({name: ccdf(x) for name, ccdf in alternative_ccdfs.items()})
        return pd.DataFrame(frame)

    def _bootstrap(self, values):
        replicates = int(self.n_bootstrap)
        nan_pair = (math.nan, math.nan)
        self.p_value_, self.p_value_se_, self.p_value_ci_, self.n_bootstrap_ = math.nan, math.nan, nan_pair, 0
        self.alpha_ci_, self.alpha_bootstrap_se_ = nan_pair, math.nan
        self.xmin_ci_, self.xmin_bootstrap_se_ = nan_pair, math.nan
        self.replicates_ = pd.DataFrame({"kind": pd.Series(dtype=str), "ks": pd.Series(dtype=float),
                                         "alpha": pd.Series(dtype=float), "xmin": pd.Series(dtype=float)})
        if replicates == 0 or not math.isfinite(self.ks_):
            return
        if not self.alpha_ > 1:
            warnings.warn(f"alpha = {self.alpha_:.4g} <= 1 has no unbounded power law to sample: no bootstrap",
                          RuntimeWarning, stacklevel=3)
            return
        problem = core.BootstrapProblem(data=values, discrete=self.discrete, xmin=self.xmin_, alpha=self.alpha_,
                                        n_tail=self.n_tail_, fixed_xmin=self.xmin is not None, method=self.method)
        goodness_root, resampling_root = np.random.SeedSequence(self.seed).spawn(2)
        seeds = {"goodness_of_fit": goodness_root.spawn(replicates), "resampling": resampling_root.spawn(replicates)}
        results = core.run_bootstrap(problem, seeds, n_jobs=self.n_jobs, progress=self.progress)
        self.replicates_ = pd.concat(
            [pd.DataFrame(results[kind], columns=["ks", "alpha", "xmin"]).assign(kind=kind) for kind in seeds],
            ignore_index=True)[["kind", "ks", "alpha", "xmin"]]

        synthetic_ks = results["goodness_of_fit"][:, 0]
        synthetic_ks = synthetic_ks[np.isfinite(synthetic_ks)]
        self.n_bootstrap_ = int(len(synthetic_ks))
        if self.n_bootstrap_:
            from statsmodels.stats.proportion import proportion_confint

            exceed = int(np.sum(synthetic_ks >= self.ks_))
            self.p_value_ = exceed / self.n_bootstrap_
            self.p_value_se_ = math.sqrt(self.p_value_ * (1 - self.p_value_) / self.n_bootstrap_)
            self.p_value_ci_ = tuple(float(b) for b in proportion_confint(exceed, self.n_bootstrap_, alpha=0.05,
                                                                           method="wilson"))
        resampled = results["resampling"]
        resampled = resampled[np.isfinite(resampled[:, 1])]
        if len(resampled) > 1:
            self.alpha_ci_ = tuple(float(b) for b in np.percentile(resampled[:, 1], [2.5, 97.5]))
            self.alpha_bootstrap_se_ = float(np.std(resampled[:, 1], ddof=1))
            self.xmin_ci_ = tuple(float(b) for b in np.percentile(resampled[:, 2], [2.5, 97.5]))
            self.xmin_bootstrap_se_ = float(np.std(resampled[:, 2], ddof=1))

    def _verdict(self) -> str:
        rows = self.comparisons_
        favoured = rows["verdict"].to_numpy()
        nested = rows["nested"].to_numpy(dtype=bool)
        alternative_favoured = (favoured != "power law") & (favoured != "inconclusive")
        if (alternative_favoured & ~nested).any():
            return "not a power law"
        if math.isfinite(self.p_value_) and self.p_value_ < self.significance:
            return "not a power law"
        if (alternative_favoured & nested).any():
            return "power law with cut-off"
        if not math.isfinite(self.p_value_):
            return "untested"
        if (favoured[~nested] == "power law").all():
            return "power law"
        return "power law or alternative"

    # ----------------------------------------------------------------------------------------------------------
    @property
    def summary(self) -> pd.DataFrame:
        """The estimates with their uncertainty: one row per quantity."""
        self._check_fitted()
        fixed = self.xmin is not None
        boot = f"{self.n_bootstrap} resamples"
        source = "plfit.m" if self.method == "plfit" else "powerlaw.Fit"
        estimator = "MLE on a 0.01 grid" if self.method == "plfit" and self.discrete else "MLE"
        rows = [
            ("alpha", self.alpha_, self.alpha_se_, *self.alpha_ci_,
             f"{estimator} ({source}); asymptotic SE; bootstrap percentile CI, {boot}"),
            ("xmin", self.xmin_, math.nan if fixed else self.xmin_bootstrap_se_, *self.xmin_ci_,
             "fixed" if fixed else f"KS minimisation ({source}); bootstrap SD and percentile CI, {boot}"),
            ("n_tail", self.n_tail_, math.nan, math.nan, math.nan, f"values >= xmin, of n = {self.n_}"),
            ("ks", self.ks_, math.nan, math.nan, math.nan,
             f"KS distance minimised by xmin ({source}'s), the goodness-of-fit statistic"),
            ("ks_paper", self.ks_paper_, math.nan, math.nan, math.nan,
             "KS distance, Clauset et al. (2009) two-sided definition, for reference"),
            ("p_value", self.p_value_, self.p_value_se_, *self.p_value_ci_,
             f"semi-parametric bootstrap GoF, {self.n_bootstrap_} replicates; Monte Carlo SE; Wilson CI"),
        ]
        return pd.DataFrame(rows, columns=["quantity", "estimate", "se", "lower 0.95", "upper 0.95", "method"]
                            ).set_index("quantity")

    def print_summary(self, decimals: int = 4) -> None:
        """Print the estimates, the comparisons with the alternatives and the verdict."""
        self._check_fitted()
        kind = "discrete" if self.discrete else "continuous"
        print(f"<observatory.estimators.PowerLawFit: {kind}, n={self.n_}, n_tail={self.n_tail_}, seed={self.seed}>")
        with pd.option_context("display.width", 160, "display.max_colwidth", 90):
            print(self.summary.round(decimals).to_string())
            print()
            print(self.comparisons_.drop(columns="parameters").round(decimals).to_string(index=False))
        print()
        print(f"verdict (significance {self.significance}): {self.verdict_}")
        if self.noise_flag_:
            print("warning: the fit sits on an edge, alpha and xmin deserve care (see noise_flag_ and warnings_)")

    def to_dict(self) -> dict:
        """Every number of the fit, JSON-ready (Python types, NaN as None); keys match the findings contract."""
        import powerlaw

        self._check_fitted()
        comparisons = [
            {"alternative": row.alternative, "R": row.R, "p": row.p, "normalized_R": row.normalized_R,
             "nested": bool(row.nested), "verdict": row.verdict, "parameters": row.parameters}
            for row in self.comparisons_.itertuples(index=False)
        ]
        return json_ready({
            "n": self.n_, "n_tail": self.n_tail_, "discrete": self.discrete, "xmin": self.xmin_,
            "xmin_fixed": self.xmin is not None, "xmin_ci": list(self.xmin_ci_),
            "xmin_bootstrap_se": self.xmin_bootstrap_se_, "alpha": self.alpha_, "alpha_se": self.alpha_se_,
            "alpha_ci": list(self.alpha_ci_), "alpha_bootstrap_se": self.alpha_bootstrap_se_, "ks": self.ks_,
            "ks_paper": self.ks_paper_, "ks_p_value": self.p_value_, "ks_p_value_se": self.p_value_se_,
            "ks_p_value_ci": list(self.p_value_ci_), "n_bootstrap": self.n_bootstrap_, "seed": self.seed,
            "comparisons": comparisons, "verdict": self.verdict_, "significance": self.significance,
            "method": self.method, "noise_flag": self.noise_flag_, "warnings": list(self.warnings_),
            "powerlaw_version": powerlaw.__version__,
        })


def _checked_sample(data, discrete: bool, xmin) -> np.ndarray:
    """The sample as a 1-D float array, refusing what a power-law fit cannot take rather than dropping it."""
    try:
        values = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the sample must be numbers: {error}") from None
    if values.ndim != 1:
        raise ValueError(f"the sample must be one-dimensional, got shape {values.shape}")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} values are NaN or infinite (first at position {int(np.argmax(bad))})")
    if (values <= 0).any():
        raise ValueError(f"power laws live on positive values: {int((values <= 0).sum())} values are <= 0 "
                         "(drop them first, e.g. sizes[sizes > 0])")
    if discrete and (values != np.round(values)).any():
        raise ValueError("discrete=True but some values are not integers; use discrete=False for continuous data")
    if discrete and xmin is not None and xmin != round(xmin):
        raise ValueError(f"discrete=True needs an integer xmin, got {xmin}")
    distinct = np.unique(values if xmin is None else values[values >= xmin])
    needed = 4 if xmin is None else 2
    if len(distinct) < needed:
        where = "" if xmin is None else f" at or above xmin={xmin}"
        raise ValueError(f"need at least {needed} distinct values{where} to fit a power law, got {len(distinct)}")
    return values
