"""Propensity-score matching against a baseline, with balance, uncertainty and a statement of power.

`PropensityMatcher` compares treated units (e.g. multi-agent collaborative threads) with a matched baseline
(e.g. single-agent threads) on any data frame: a logistic propensity model, greedy nearest-neighbour matching on the
logit of the score within a caliper (optionally exact on strata such as the submolt), covariate balance before and
after, the matched difference of a continuous outcome with a pair bootstrap and a within-pair permutation test,
Cohen's d, success rates with Wilson intervals and the exact McNemar test for a binary outcome, and the minimum
detectable effect for the number of pairs at hand, so that a small matched baseline is reported as such.
"""

from __future__ import annotations

import math
import warnings as _warnings

import numpy as np
import pandas as pd
from scipy import special
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from observatory.estimators.base import Estimator, json_ready

__all__ = ["PropensityMatcher"]

_ORDERS = ("random", "largest", "smallest", "data")
_SCALES = ("logit", "propensity")
# Replicates are drawn in blocks of at most this many cells (replicates x matched sets) to bound memory.
_BLOCK_CELLS = 4_000_000
# Designs compared with the configured one: calipers without replacement, and trimming (Crump, Hotz, Imbens &
# Mitnik 2009: keep units whose propensity lies in [0.1, 0.9]).
CALIPERS = (0.05, 0.1, 0.2)
TRIM_BOUNDS = (0.1, 0.9)
OVERLAP_BINS = 20
# Distances this close count as ties (Stata's default dtolerance, the square root of the double epsilon).
_TIE_TOLERANCE = math.sqrt(np.finfo(float).eps)


class PropensityMatcher(Estimator):
    r"""Greedy nearest-neighbour propensity-score matching with balance, inference and power.

    The propensity score is the fitted probability of treatment from a logistic regression on the pre-treatment
    covariates; treated units are matched to controls on its logit, and the effect on the treated is estimated by
    the mean within-set difference of the outcome:

    .. math:: \operatorname{logit} e(x) = \beta_0 + x^\top\beta, \qquad
              \widehat{\mathrm{ATT}} = \frac{1}{|M|}\sum_{i \in M}\Big(Y_i - \frac{1}{|C_i|}\sum_{j \in C_i} Y_j\Big),
              \qquad |\operatorname{logit} e(x_i) - \operatorname{logit} e(x_j)| \le c\,\sigma_{\mathrm{logit}}

    where :math:`M` is the set of matched treated units, :math:`C_i` the controls matched to unit :math:`i` and
    :math:`\sigma_{\mathrm{logit}} = \sqrt{(s^2_{\mathrm{treated}} + s^2_{\mathrm{control}})/2}` the pooled standard
    deviation of the logit (Austin 2011 recommends :math:`c = 0.2`).

    Propensity model: scikit-learn ``LogisticRegression`` with ``C=inf`` by default, i.e. the unpenalised maximum
    likelihood fit (``C`` finite gives an L2 penalty on the standardised coefficients; under complete separation the
    unpenalised fit does not converge and a warning is recorded). Numeric and boolean covariates enter as they are;
    any other column is categorical and is one-hot encoded with its first level (pandas category order, otherwise
    sorted) as the reference. Columns are standardised before fitting, which leaves the unpenalised fit unchanged
    and keeps the solver well conditioned; ``coefficients_`` are reported on the original scale. Covariates that
    are constant in the data carry no information and are left out of the model. Squares, interactions and other
    transformations are columns the caller adds to the frame.

    Matching: treated units are taken one at a time in the order set by ``order`` (by default a random
    permutation drawn from ``seed``, so the result is deterministic for a seed; treated units with equal scores keep
    their row order under "largest" and "smallest"); each takes the nearest control on
    the matching scale among those still available (all controls when ``replace=True``) in its ``exact`` stratum
    and within the caliper, or stays unmatched. Equidistant candidates resolve to the one with the lower score,
    then the earlier row. With ``ratio > 1`` matching runs in rounds: every treated unit gets its first control
    before any gets its second. Without replacement the nearest available control is found with a sorted array and
    "next available" pointers, so matching is :math:`O(n \log n)` overall. With replacement the order does not
    matter, and by default (``ties=True``) every control as close as the ``ratio``-th nearest (to within
    :math:`\sqrt{\epsilon} \approx 1.5 \times 10^{-8}`) joins the set, as in Abadie & Imbens (2006) and Stata's
    ``teffects psmatch``; each control of a set of :math:`|C_i|` then weighs :math:`1/|C_i|`.

    Inference on a continuous outcome: a percentile bootstrap over matched sets (Austin & Small 2014) for the
    ATT and for Cohen's d, and a permutation test that re-draws, within each matched set, which member is the
    treated one (for pairs this is the sign flip of the pair difference; all re-draws are enumerated when there are
    no more than ``n_permutations`` of them). Cohen's d is the ATT over the pooled standard deviation of the
    matched treated and matched control outcomes. For a binary outcome: success rates per group with Wilson
    intervals, the matched rate difference with the same bootstrap, and for 1:1 matching the exact McNemar test
    on the discordant pairs. With ``replace=True`` a control may sit in several sets; the pair bootstrap and the
    permutation test then treat the sets as independent (Abadie & Imbens 2008 show that the bootstrap is not valid
    for matching with replacement), and a warning says so.

    Power: the minimum detectable effect at ``alpha`` (two-sided) and ``power`` for the number of matched sets,
    treating treated and matched controls as two independent groups (conservative: the positive within-pair
    correlation that matching induces would only lower it). Continuous outcome: statsmodels ``TTestIndPower``, in
    units of the pooled standard deviation, i.e. on the scale of Cohen's d. Binary outcome: statsmodels
    ``NormalIndPower`` on Cohen's arcsine effect size h, converted to proportion points from the matched control
    rate in the direction of the observed difference.

    Parameters
    ----------
    caliper : float or None, default 0.2
        Maximum distance between a treated unit and its control, in standard deviations of the matching scale
        (pooled over the two groups). ``None`` matches without a caliper.
    exact : str or list of str, optional
        Columns on which treated and control must agree exactly (e.g. ``"submolt"``).
    replace : bool, default False
        Whether a control may be matched to more than one treated unit.
    ratio : int, default 1
        Number of controls per treated unit.
    seed : int, default 0
        Seed for the matching order, the bootstrap and the permutation test.
    n_permutations : int, default 10_000
        Permutation re-draws (or the enumeration limit below which the exact distribution is used).
    n_bootstrap : int, default 2_000
        Bootstrap replicates over matched sets.
    alpha : float, default 0.05
        Level of the intervals (``1 - alpha``) and of the tests behind the minimum detectable effect.
    power : float, default 0.8
        Power at which the minimum detectable effect is computed.
    smd_threshold : float, default 0.1
        Covariates with ``|SMD|`` above this after matching are flagged as imbalanced.
    order : {"random", "largest", "smallest", "data"}, default "random"
        Order in which treated units choose their controls: a seeded random permutation, descending or ascending
        score, or the row order of the frame.
    match_on : {"logit", "propensity"}, default "logit"
        Scale on which distances and the caliper are measured.
    C : float, default inf
        Inverse L2 penalty of the propensity model (``inf``: no penalty).
    max_iter : int, default 1_000
        Iteration limit of the propensity model's solver.
    min_pairs : int, default 20
        Fewer matched sets than this marks the design as underpowered.
    max_mde : float, default 0.5
        A minimum detectable effect above this many standard deviations (Cohen's "medium" effect) marks the design
        as underpowered.
    max_mde_binary : float, default 0.10
        A minimum detectable difference in success rate larger than this (0.10: ten percentage points) marks the
        design as underpowered.
    max_unmatched_share : float, default 0.1
        A larger share of treated units left without a control is reported in ``warnings_``.
    ties : bool, default True
        With replacement, keep every control tied with the ``ratio``-th nearest rather than the first of them.

    Attributes
    ----------
    propensity_ : pandas.Series
        Fitted propensity score of every row, indexed like the frame.
    logit_ : pandas.Series
        Its logit (the linear predictor).
    coefficients_ : pandas.Series
        Propensity-model coefficients on the original scale of the design columns, ``Intercept`` first.
    propensity_model_ : sklearn.linear_model.LogisticRegression
        The fitted model (on standardised design columns).
    caliper_width_ : float
        The caliper on the matching scale (``caliper`` times the pooled standard deviation), or ``inf``.
    matches_ : pandas.DataFrame
        One row per treated-control link: ``treated``, ``control`` (index labels of the frame), ``pair_id`` (the
        matched set, numbered in matching order) and ``distance`` (on the matching scale).
    n_treated_, n_control_ : int
        Treated and control rows in the frame.
    n_matched_ : int
        Treated units with at least one control (the number of matched sets; pairs when ``ratio=1``).
    n_unmatched_treated_ : int
        Treated units left without a control.
    n_matched_controls_ : int
        Distinct controls used.
    n_outside_support_ : int
        Treated units whose score lies outside the range of the control scores.
    balance_ : pandas.DataFrame
        Per design column (categoricals by level): ``mean_treated``, ``mean_control`` (all rows),
        ``mean_treated_matched``, ``mean_control_matched``, ``smd_before``, ``smd_after`` and ``flagged``
        (``|smd_after| > smd_threshold``). Both SMDs divide by the pooled standard deviation before matching, so
        that they differ only through the means (Stuart 2010); matched control means weight each matched set
        equally.
    att_, att_ci_, att_p_value_ : float, (float, float), float
        Matched mean difference of ``outcome`` (treated minus control), its bootstrap interval and its
        permutation p-value (two-sided).
    naive_, naive_ci_, naive_p_value_ : float, (float, float), float
        Unmatched difference in means with its Welch interval and p-value.
    cohens_d_, cohens_d_ci_ : float, (float, float)
        Matched standardised difference and its bootstrap interval.
    mde_ : float
        Minimum detectable effect on ``outcome`` in pooled standard deviations (NaN without an outcome).
    success_rates_ : pandas.DataFrame
        For ``binary_outcome``, indexed by (sample, group) with sample in {"matched", "all"}: ``n``,
        ``successes``, ``rate``, ``ci_lower``, ``ci_upper`` (Wilson). For the matched controls ``n`` counts
        matched sets and ``successes`` sums each set's share of successful controls (whole numbers for pairs).
    rate_difference_, rate_difference_ci_ : float, (float, float)
        Matched difference in success rate (a difference of proportions) and its bootstrap interval.
    naive_rate_difference_, naive_rate_difference_ci_ : float, (float, float)
        Unmatched difference in success rate with its Wald (unequal variances) interval.
    mcnemar_table_ : pandas.DataFrame or None
        Pair table of the binary outcome (only when every matched set is a pair).
    mcnemar_statistic_, mcnemar_p_value_ : float
        Exact McNemar test: the smaller discordant count and the two-sided binomial p-value.
    mde_binary_ : float
        Minimum detectable difference in success rate, as a difference of proportions, signed like the observed
        one (``-inf`` when no decrease from the control rate is detectable).
    underpowered_ : bool
        Fewer than ``min_pairs`` matched sets, or a minimum detectable effect above ``max_mde`` /
        ``max_mde_binary``. The comparison of the minimum detectable effect with the observed one is reported in
        ``warnings_`` but does not set this flag: a large design that finds a small effect is not underpowered.
    underpowered_reasons_ : list of str
        Why ``underpowered_`` is set.
    warnings_ : list of str
        Human-readable statements of what limits the comparison.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> threads = pd.DataFrame({"activity": rng.normal(size=400), "submolt": rng.choice(["a", "b"], 400)})
    >>> threads["collaborative"] = rng.random(400) < 1 / (1 + np.exp(1 - threads["activity"]))
    >>> threads["quality"] = 2 * threads["activity"] + rng.normal(size=400)
    >>> matcher = PropensityMatcher(exact="submolt", n_bootstrap=200, n_permutations=500).fit(
    ...     threads, treatment="collaborative", covariates=["activity"], outcome="quality")
    >>> bool(abs(matcher.att_) < abs(matcher.naive_))
    True
    """

    _fitted_attribute = "underpowered_"

    def __init__(self, caliper: float | None = 0.2, *, exact: str | list[str] | None = None, replace: bool = False,
                 ratio: int = 1, seed: int = 0, n_permutations: int = 10_000, n_bootstrap: int = 2_000,
                 alpha: float = 0.05, power: float = 0.8, smd_threshold: float = 0.1, order: str = "random",
                 match_on: str = "logit", C: float = np.inf, max_iter: int = 1_000, min_pairs: int = 20,
                 max_mde: float = 0.5, max_mde_binary: float = 0.10, max_unmatched_share: float = 0.1,
                 ties: bool = True, compare_designs: bool = True):
        self.caliper = caliper
        self.exact = exact
        self.replace = replace
        self.ratio = ratio
        self.seed = seed
        self.n_permutations = n_permutations
        self.n_bootstrap = n_bootstrap
        self.alpha = alpha
        self.power = power
        self.smd_threshold = smd_threshold
        self.order = order
        self.match_on = match_on
        self.C = C
        self.max_iter = max_iter
        self.min_pairs = min_pairs
        self.max_mde = max_mde
        self.max_mde_binary = max_mde_binary
        self.max_unmatched_share = max_unmatched_share
        self.ties = ties
        self.compare_designs = compare_designs

    # ------------------------------------------------------------------ fit

    def fit(self, df: pd.DataFrame, *, treatment: str, covariates: list[str], outcome: str | None = None,
            binary_outcome: str | None = None) -> "PropensityMatcher":
        """Fit the propensity model, match, and estimate.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per unit, with a unique index (``matches_`` refers to rows by index label).
        treatment : str
            Column of 0/1 or booleans: 1 for treated units.
        covariates : list of str
            Pre-treatment columns of the propensity model.
        outcome : str, optional
            Continuous outcome.
        binary_outcome : str, optional
            0/1 (or boolean) outcome such as success.
        """
        self._check_parameters()
        exact = [self.exact] if isinstance(self.exact, str) else list(self.exact or [])
        covariates = list(covariates)
        if not covariates:
            raise ValueError("at least one covariate is needed for the propensity model")
        if not df.index.is_unique:
            raise ValueError("the frame's index must be unique: matches_ refers to rows by index label")
        needed = [treatment, *covariates, *exact, *(c for c in (outcome, binary_outcome) if c is not None)]
        missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
        if missing:
            raise KeyError(f"columns not in the frame: {missing}")
        nulls = [c for c in dict.fromkeys(needed) if df[c].isna().any()]
        if nulls:
            raise ValueError(f"columns with missing values (drop or impute them first): {nulls}")
        treated = _as_binary(df[treatment], treatment)
        if treated.all() or not treated.any():
            raise ValueError("both treated and control rows are needed")
        if binary_outcome is not None:
            binary_values = _as_binary(df[binary_outcome], binary_outcome).astype(float)

        self.warnings_: list[str] = []
        self.treatment_, self.covariates_, self.exact_ = treatment, covariates, exact
        self.outcome_, self.binary_outcome_ = outcome, binary_outcome
        self.n_treated_ = int(treated.sum())
        self.n_control_ = int((~treated).sum())
        # Independent streams, so that changing n_bootstrap does not change the matching or the permutation test.
        self._order_seed, self._bootstrap_seed, self._permutation_seed = np.random.SeedSequence(self.seed).spawn(3)

        self._fit_propensity(df, covariates, treated)
        self._match(df, treated, exact)
        self._balance(df, covariates, treated)

        self._sets = _MatchedSets(self.matches_["pair_id"].to_numpy(), self._treated_pos, self._control_pos)

        self._reset_estimates()
        if outcome is not None:
            self._estimate_continuous(df[outcome].to_numpy(dtype=float), treated)
        if binary_outcome is not None:
            self._estimate_binary(binary_values.to_numpy(), treated)
        self._assess_overlap()
        self._assess_design()
        self.designs_ = None
        self.design_sensitive_ = False
        if self.compare_designs and (outcome is not None or binary_outcome is not None):
            self._compare_designs(df, treatment, covariates, outcome, binary_outcome)
        return self

    # --------------------------------------------------------------- overlap

    def _assess_overlap(self):
        """Common support before matching: how many treated units have no comparable controls."""
        p = self.propensity_.to_numpy()
        t = self._is_treated
        treated_p, control_p = p[t], p[~t]
        low, high = TRIM_BOUNDS
        edges = np.linspace(0.0, 1.0, OVERLAP_BINS + 1)
        self.overlap_ = {
            "n_treated": self.n_treated_, "n_control": self.n_control_,
            "treated_outside_support": self.n_outside_support_,
            "share_treated_outside_support": self.n_outside_support_ / self.n_treated_,
            "share_treated_outside_trim": float(np.mean((treated_p < low) | (treated_p > high))),
            "share_control_outside_trim": float(np.mean((control_p < low) | (control_p > high))),
            "propensity_treated": [float(q) for q in np.quantile(treated_p, [0, 0.25, 0.5, 0.75, 1])],
            "propensity_control": [float(q) for q in np.quantile(control_p, [0, 0.25, 0.5, 0.75, 1])],
        }
        self.overlap_histogram_ = pd.DataFrame({
            "bin_lower": edges[:-1], "bin_upper": edges[1:],
            "treated": np.histogram(treated_p, edges)[0], "control": np.histogram(control_p, edges)[0],
        })
        share = self.overlap_["share_treated_outside_trim"]
        if share > self.max_unmatched_share:
            self.warnings_.append(
                f"poor overlap: {share:.0%} of treated units have a propensity outside [{low}, {high}] (Crump et al. "
                "2009), where few comparable controls exist; compare the designs in designs_")

    # --------------------------------------------------------------- designs

    def _alternative_designs(self):
        """The designs compared with the configured one: (name, settings, trim)."""
        same = dict(exact=self.exact, ratio=self.ratio, match_on=self.match_on, C=self.C, seed=self.seed,
                    alpha=self.alpha, n_bootstrap=self.n_bootstrap, n_permutations=0, order=self.order,
                    max_iter=self.max_iter, ties=self.ties, compare_designs=False)
        designs = [("with replacement, no caliper", dict(same, replace=True, caliper=None), False),
                   ("with replacement, caliper 0.2 SD", dict(same, replace=True, caliper=0.2), False)]
        designs += [(f"without replacement, caliper {c} SD", dict(same, replace=False, caliper=c), False)
                    for c in CALIPERS]
        designs.append((f"trimmed to propensity in {list(TRIM_BOUNDS)}, with replacement",
                        dict(same, replace=True, caliper=None), True))
        configured = (self.replace, self.caliper)
        return [d for d in designs if d[2] or (d[1]["replace"], d[1]["caliper"]) != configured]

    def _design_row(self, name, matcher, configured):
        continuous = self.outcome_ is not None
        estimate = matcher.att_ if continuous else matcher.rate_difference_
        ci = matcher.att_ci_ if continuous else matcher.rate_difference_ci_
        se = matcher.att_se_ if continuous else matcher.rate_difference_se_
        return {"design": name, "configured": configured, "replace": matcher.replace, "caliper": matcher.caliper,
                "n_treated": matcher.n_treated_, "n_matched": matcher.n_matched_,
                "quantity": "att" if continuous else "rate_difference", "estimate": estimate,
                "se": se, "ci_lower": ci[0], "ci_upper": ci[1],
                "interval": "Abadie-Imbens normal" if matcher.replace else "pair bootstrap percentile"}

    def _compare_designs(self, df, treatment, covariates, outcome, binary_outcome):
        """Re-estimate under the usual alternatives; flag the result when their intervals exclude each other."""
        rows = [self._design_row("as configured", self, True)]
        low, high = TRIM_BOUNDS
        for name, settings, trim in self._alternative_designs():
            frame = df
            if trim:
                keep = ((self.propensity_ >= low) & (self.propensity_ <= high)).to_numpy()
                frame = df[keep]
                groups = _as_binary(frame[treatment], treatment)
                if groups.all() or not groups.any():
                    continue
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                try:
                    other = PropensityMatcher(**settings).fit(frame, treatment=treatment, covariates=covariates, outcome=outcome,
                                                              binary_outcome=binary_outcome)
                except ValueError:
                    continue
            rows.append(self._design_row(name, other, False))
        designs = pd.DataFrame(rows)
        finite = designs.dropna(subset=["ci_lower", "ci_upper"])
        lower, upper = finite["ci_lower"].to_numpy(), finite["ci_upper"].to_numpy()
        apart = (lower[:, None] > upper[None, :])
        pairs = [(finite["design"].iloc[i], finite["design"].iloc[j]) for i, j in zip(*np.nonzero(apart))]
        self.designs_ = designs
        self.design_sensitive_ = bool(pairs)
        if pairs:
            first, second = pairs[0]
            self.warnings_.append(
                f"design-sensitive: the {1 - self.alpha:.0%} intervals of {len(pairs)} pair(s) of designs exclude "
                f"each other (e.g. {first!r} against {second!r}); the estimate depends on how the baseline is "
                "matched, so report designs_ beside it")

    def _check_parameters(self):
        if self.caliper is not None and not self.caliper > 0:
            raise ValueError("caliper must be positive or None")
        if int(self.ratio) != self.ratio or self.ratio < 1:
            raise ValueError("ratio must be a positive integer")
        if self.order not in _ORDERS:
            raise ValueError(f"order must be one of {_ORDERS}")
        if self.match_on not in _SCALES:
            raise ValueError(f"match_on must be one of {_SCALES}")
        if not 0 < self.alpha < 1 or not 0 < self.power < 1:
            raise ValueError("alpha and power must lie in (0, 1)")

    # ------------------------------------------------------------ propensity

    def _fit_propensity(self, df, covariates, treated):
        design = _design_matrix(df, covariates, drop_first=True)
        constant = design.columns[design.std(ddof=0).to_numpy() == 0]
        if len(constant):
            self.warnings_.append(f"constant covariate columns left out of the propensity model: {list(constant)}")
            design = design.drop(columns=constant)
        if design.shape[1] == 0:
            raise ValueError("every covariate is constant: there is nothing to model treatment on")
        center = design.mean().to_numpy()
        scale = design.std(ddof=0).to_numpy()
        standardized = (design.to_numpy() - center) / scale
        model = LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=self.max_iter, tol=1e-10)
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always", ConvergenceWarning)
            model.fit(standardized, treated.to_numpy().astype(int))
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            self.warnings_.append(
                "the propensity model did not converge (often complete separation: some covariate pattern is only "
                "ever treated or only ever control); scores near 0 or 1 mean there is no overlap to match on")
        linear = model.decision_function(standardized)
        self.propensity_model_ = model
        self.design_columns_ = list(design.columns)
        slopes = model.coef_.ravel() / scale
        intercept = float(model.intercept_[0] - np.sum(slopes * center))
        self.coefficients_ = pd.Series(np.r_[intercept, slopes], index=["Intercept", *design.columns], name="coef")
        self.logit_ = pd.Series(linear, index=df.index, name="logit")
        self.propensity_ = pd.Series(special.expit(linear), index=df.index, name="propensity")

    # -------------------------------------------------------------- matching

    def _match(self, df, treated, exact):
        score = (self.logit_ if self.match_on == "logit" else self.propensity_).to_numpy()
        is_treated = treated.to_numpy()
        treated_rows = np.flatnonzero(is_treated)
        control_rows = np.flatnonzero(~is_treated)
        pooled_sd = math.sqrt((np.var(score[treated_rows], ddof=1) if len(treated_rows) > 1 else 0.0) / 2
                              + (np.var(score[control_rows], ddof=1) if len(control_rows) > 1 else 0.0) / 2)
        self.caliper_width_ = math.inf if self.caliper is None else float(self.caliper * pooled_sd)
        control_score = score[control_rows]
        self.n_outside_support_ = int(np.sum((score[treated_rows] > control_score.max())
                                             | (score[treated_rows] < control_score.min())))

        if exact:
            stratum_code = df.groupby(exact, sort=True, observed=True).ngroup().to_numpy()
        else:
            stratum_code = np.zeros(len(df), dtype=np.int64)

        rng = np.random.default_rng(self._order_seed)
        if self.order == "random":
            treated_order = treated_rows[rng.permutation(len(treated_rows))]
        elif self.order == "data":
            treated_order = treated_rows
        else:
            # Stable on the (negated) score: treated units with equal scores keep their row order either way.
            key = -score[treated_rows] if self.order == "largest" else score[treated_rows]
            treated_order = treated_rows[np.argsort(key, kind="stable")]

        self._score, self._stratum_code = score, stratum_code
        links = _greedy_match(score, stratum_code, treated_order, control_rows, self.caliper_width_,
                              int(self.ratio), bool(self.replace), bool(self.ties))
        treated_pos, control_pos, distance = links
        # Matched sets are numbered in the order their treated unit first chose.
        rank_in_order = np.empty(len(df), dtype=np.int64)
        rank_in_order[treated_order] = np.arange(len(treated_order))
        set_rank = rank_in_order[treated_pos]
        sort = np.lexsort((np.arange(len(set_rank)), set_rank))
        treated_pos, control_pos, distance, set_rank = (a[sort] for a in (treated_pos, control_pos, distance, set_rank))
        pair_id = pd.factorize(set_rank)[0] if len(set_rank) else np.array([], dtype=np.int64)
        self.matches_ = pd.DataFrame({
            "treated": df.index[treated_pos], "control": df.index[control_pos],
            "pair_id": pair_id.astype(np.int64), "distance": distance,
        })
        self._treated_pos, self._control_pos = treated_pos, control_pos
        self._is_treated = is_treated
        self.n_matched_ = int(len(np.unique(treated_pos)))
        self.n_unmatched_treated_ = self.n_treated_ - self.n_matched_
        self.n_matched_controls_ = int(len(np.unique(control_pos)))

    # --------------------------------------------------------------- balance

    def _balance(self, df, covariates, treated):
        design_frame = _design_matrix(df, covariates, drop_first=False)
        design = design_frame.to_numpy()
        is_treated = treated.to_numpy()
        x_treated, x_control = design[is_treated], design[~is_treated]
        var_treated = x_treated.var(axis=0, ddof=1) if len(x_treated) > 1 else np.zeros(design.shape[1])
        var_control = x_control.var(axis=0, ddof=1) if len(x_control) > 1 else np.zeros(design.shape[1])
        pooled = np.sqrt((var_treated + var_control) / 2)
        mean_treated, mean_control = x_treated.mean(axis=0), x_control.mean(axis=0)
        if len(self.matches_):
            sets = self.matches_["pair_id"].to_numpy()
            set_size = np.bincount(sets)
            treated_first = ~pd.Series(sets).duplicated().to_numpy()
            matched_treated = design[self._treated_pos[treated_first]].mean(axis=0)
            # Each matched set counts once, so a treated unit with fewer controls is not under-weighted.
            weights = 1.0 / set_size[sets]
            matched_control = (design[self._control_pos] * weights[:, None]).sum(axis=0) / len(set_size)
        else:
            matched_treated = matched_control = np.full(design.shape[1], np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            smd_before = np.where(pooled > 0, (mean_treated - mean_control) / pooled, 0.0)
            smd_after = np.where(pooled > 0, (matched_treated - matched_control) / pooled, 0.0)
        smd_after = np.where(np.isnan(matched_treated), np.nan, smd_after)
        self.balance_ = pd.DataFrame({
            "mean_treated": mean_treated, "mean_control": mean_control,
            "mean_treated_matched": matched_treated, "mean_control_matched": matched_control,
            "smd_before": smd_before, "smd_after": smd_after,
            "flagged": np.abs(smd_after) > self.smd_threshold,
        }, index=pd.Index(design_frame.columns, name="covariate"))

    # ------------------------------------------------------------- estimates

    def _reset_estimates(self):
        nan2 = (math.nan, math.nan)
        self.att_, self.att_ci_, self.att_p_value_ = math.nan, nan2, math.nan
        self.naive_, self.naive_ci_, self.naive_p_value_ = math.nan, nan2, math.nan
        self.cohens_d_, self.cohens_d_ci_ = math.nan, nan2
        self.mde_ = math.nan
        self.success_rates_ = None
        self.rate_difference_, self.rate_difference_ci_ = math.nan, nan2
        self.naive_rate_difference_, self.naive_rate_difference_ci_ = math.nan, nan2
        self.mcnemar_table_, self.mcnemar_statistic_, self.mcnemar_p_value_ = None, math.nan, math.nan
        self.mde_binary_ = math.nan
        self.att_se_, self.att_se_method_, self.rate_difference_se_ = math.nan, "", math.nan

    def _estimate_continuous(self, y, treated):
        is_treated = treated.to_numpy()
        y_treated, y_control = y[is_treated], y[~is_treated]
        self.naive_ = float(y_treated.mean() - y_control.mean())
        if len(y_treated) > 1 and len(y_control) > 1:
            comparison = CompareMeans(DescrStatsW(y_treated), DescrStatsW(y_control))
            self.naive_ci_ = tuple(float(v) for v in comparison.tconfint_diff(alpha=self.alpha, usevar="unequal"))
            self.naive_p_value_ = float(comparison.ttest_ind(usevar="unequal")[1])

        sets = self._sets
        if sets.n == 0:
            self.mde_ = math.inf
            return
        values = sets.values(y)
        self.att_ = float(np.mean(sets.differences(values)))
        self.cohens_d_ = float(_cohens_d(sets.sums(values))[0])
        att_draws, d_draws = _bootstrap(sets, values, self.n_bootstrap, self._bootstrap_seed)
        self.att_ci_ = _percentile_interval(att_draws, self.alpha)
        self.att_se_ = float(np.std(att_draws, ddof=1)) if len(att_draws) > 1 else math.nan
        self.att_se_method_ = "pair bootstrap SD"
        if self.replace:
            self.att_se_ = self._abadie_imbens_se(y, self.att_)
            self.att_se_method_ = "Abadie-Imbens (2006), 2 same-group neighbours"
            self.att_ci_ = _normal_interval(self.att_, self.att_se_, self.alpha)
        self.cohens_d_ci_ = _percentile_interval(d_draws, self.alpha)
        self.att_p_value_ = _permutation_p_value(values, self.n_permutations, self._permutation_seed)
        self.mde_ = _mde_standardized(sets.n, sets.n_control_rows / sets.n, self.alpha, self.power)

    def _estimate_binary(self, y, treated):
        is_treated = treated.to_numpy()
        sets = self._sets
        rows, index = [], []

        def add(sample, group, values):
            n = len(values)
            successes = float(np.sum(values))
            rate = successes / n if n else math.nan
            low, high = (proportion_confint(successes, n, alpha=self.alpha, method="wilson") if n
                         else (math.nan, math.nan))
            rows.append({"n": n, "successes": successes, "rate": rate, "ci_lower": float(low),
                         "ci_upper": float(high)})
            index.append((sample, group))

        if sets.n:
            values = sets.values(y)
            add("matched", "treated", values[:, 0])
            control = values[:, 1:]
            present = ~np.isnan(control)
            # Controls of a set count 1/|C_i| each, so the control rate is the mean over sets, like the ATT.
            per_set = np.where(present, control, 0).sum(axis=1) / present.sum(axis=1)
            add("matched", "control", per_set)
        add("all", "treated", y[is_treated])
        add("all", "control", y[~is_treated])
        self.success_rates_ = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["sample", "group"]))
        self.naive_rate_difference_ = float(y[is_treated].mean() - y[~is_treated].mean())
        if is_treated.sum() > 1 and (~is_treated).sum() > 1:
            comparison = CompareMeans(DescrStatsW(y[is_treated]), DescrStatsW(y[~is_treated]))
            self.naive_rate_difference_ci_ = tuple(
                float(v) for v in comparison.zconfint_diff(alpha=self.alpha, usevar="unequal"))
        if sets.n == 0:
            self.mde_binary_ = math.inf
            return
        self.rate_difference_ = float(np.mean(sets.differences(values)))
        rate_draws, _ = _bootstrap(sets, values, self.n_bootstrap, self._bootstrap_seed)
        self.rate_difference_ci_ = _percentile_interval(rate_draws, self.alpha)
        self.rate_difference_se_ = float(np.std(rate_draws, ddof=1)) if len(rate_draws) > 1 else math.nan
        if self.replace:
            self.rate_difference_se_ = self._abadie_imbens_se(y, self.rate_difference_)
            self.rate_difference_ci_ = _normal_interval(self.rate_difference_, self.rate_difference_se_, self.alpha)
        if sets.all_pairs:
            treated_success, control_success = values[:, 0] == 1, values[:, 1] == 1
            table = np.array([
                [np.sum(treated_success & control_success), np.sum(treated_success & ~control_success)],
                [np.sum(~treated_success & control_success), np.sum(~treated_success & ~control_success)],
            ])
            self.mcnemar_table_ = pd.DataFrame(
                table, index=pd.Index(["success", "failure"], name="treated"),
                columns=pd.Index(["success", "failure"], name="control"))
            result = mcnemar(table, exact=True)
            self.mcnemar_statistic_, self.mcnemar_p_value_ = float(result.statistic), float(result.pvalue)
        else:
            self.warnings_.append("the McNemar test needs 1:1 pairs; with sets of more than one control only the "
                                  "bootstrap interval of the rate difference is reported")
        control_rate = float(self.success_rates_.loc[("matched", "control"), "rate"])
        self.mde_binary_ = _mde_proportion(sets.n, sets.n_control_rows / sets.n, control_rate,
                                           self.rate_difference_ < 0, self.alpha, self.power)

    def _abadie_imbens_se(self, y, effect, neighbours=2):
        r"""Standard error of the matched effect on the treated with replacement (Abadie & Imbens 2006, Theorem 7).

        .. math:: \hat V = \frac{1}{N_1^2}\Big[\sum_{i \in M} \big(Y_i - \hat Y_i(0) - \hat\tau\big)^2
                  + \sum_{j \in C} \big(w_j^2 - v_j\big)\,\hat\sigma^2_j\Big]

        :math:`N_1` matched treated units, :math:`\hat Y_i(0)` the mean outcome of unit i's controls, :math:`w_j`
        the weight control j carries over all sets (the sum of :math:`1/|C_i|` over the sets it is in) and
        :math:`v_j` the sum of :math:`1/|C_i|^2`: with M controls per set and no ties, :math:`w_j^2 - v_j =
        K_j(K_j - 1)/M^2` as in the paper. The conditional variance of a control is estimated by matching it to its
        ``neighbours`` nearest controls on the same scale and stratum, :math:`\hat\sigma^2_j = \frac{J}{J+1}(Y_j
        - \bar Y_{\text{neighbours}})^2` (section 4.1; Stata's ``vce(robust, nn(2))``). The score is treated as
        known: the adjustment for its estimation (Abadie & Imbens 2016) is not made.
        """
        sets = self._sets
        if sets.n < 2:
            return math.nan
        values = sets.values(y)
        residual = sets.differences(values) - effect
        size = np.bincount(self.matches_["pair_id"].to_numpy())
        link_weight = 1.0 / size[self.matches_["pair_id"].to_numpy()]
        controls, inverse = np.unique(self._control_pos, return_inverse=True)
        w = np.bincount(inverse, weights=link_weight)
        v = np.bincount(inverse, weights=link_weight ** 2)
        control_rows = np.flatnonzero(~self._is_treated)
        sigma2 = _neighbour_variance(self._score, self._stratum_code, y, control_rows, controls, neighbours)
        variance = (np.sum(residual ** 2) + np.sum((w ** 2 - v) * sigma2)) / sets.n ** 2
        return float(math.sqrt(variance))

    # ---------------------------------------------------------------- design

    def _assess_design(self):
        n = self.n_matched_
        reasons = []
        if n < self.min_pairs:
            reasons.append(f"only {n} matched set(s) (fewer than {self.min_pairs})")
            self.warnings_.append(
                f"too few matched pairs: {n} treated unit(s) found a control (of {self.n_treated_} treated and "
                f"{self.n_control_} controls); estimates from so few pairs cannot support a claim either way")
        if self.n_treated_ and self.n_unmatched_treated_ / self.n_treated_ > self.max_unmatched_share:
            where = " and ".join(([] if self.caliper is None else ["within the caliper"])
                                 + (["in its stratum"] if self.exact_ else [])) or "left"
            self.warnings_.append(
                f"{self.n_unmatched_treated_} of {self.n_treated_} treated units "
                f"({self.n_unmatched_treated_ / self.n_treated_:.0%}) found no control {where}: the estimate "
                "describes the matched treated units only")
        if self.n_outside_support_:
            self.warnings_.append(
                f"{self.n_outside_support_} treated unit(s) score beyond every control (no common support on the "
                f"{self.match_on}): a caliper leaves them unmatched, otherwise they are matched to controls unlike "
                "them")
        flagged = self.balance_.index[self.balance_["flagged"].to_numpy()]
        if len(flagged):
            self.warnings_.append(
                f"imbalance after matching: |SMD| > {self.smd_threshold} on {len(flagged)} of "
                f"{len(self.balance_)} covariate columns ({', '.join(map(str, flagged[:8]))}"
                f"{', ...' if len(flagged) > 8 else ''})")
        if self.outcome_ is not None:
            if not np.isfinite(self.mde_) or self.mde_ > self.max_mde:
                reasons.append(f"minimum detectable effect {self.mde_:.2f} SD > {self.max_mde} SD")
            if np.isfinite(self.cohens_d_) and not self.mde_ <= abs(self.cohens_d_):
                self.warnings_.append(
                    f"the minimum detectable effect ({self.mde_:.2f} SD at alpha {self.alpha}, power "
                    f"{self.power:.0%}, {n} sets) is larger than the observed effect (d = {self.cohens_d_:.2f}): "
                    "the design could not reliably detect an effect of the size it reports")
        if self.binary_outcome_ is not None:
            if not np.isfinite(self.mde_binary_) or abs(self.mde_binary_) > self.max_mde_binary:
                reasons.append(f"minimum detectable rate difference {self.mde_binary_:+.3f} exceeds "
                               f"{self.max_mde_binary} in absolute value")
            if np.isfinite(self.rate_difference_) and not abs(self.mde_binary_) <= abs(self.rate_difference_):
                self.warnings_.append(
                    f"the minimum detectable rate difference ({self.mde_binary_:+.3f}) is larger than the observed "
                    f"one ({self.rate_difference_:+.3f}): the design could not reliably detect a difference of the "
                    "size it reports")
        if self.replace and n:
            self.warnings_.append(
                "matching with replacement: the effect's interval uses the Abadie-Imbens (2006) standard error, which "
                "treats the propensity score as known; Cohen's d's bootstrap interval and the permutation test treat "
                "matched sets as independent although controls are reused (Abadie & Imbens 2008), so read those as "
                "indicative")
        self.underpowered_ = bool(reasons)
        self.underpowered_reasons_ = reasons
        if reasons:
            self.warnings_.append("underpowered: " + "; ".join(reasons))

    # --------------------------------------------------------------- results

    @property
    def summary(self) -> pd.DataFrame:
        """The estimates as a DataFrame: estimate, interval, p-value, method and a note per quantity."""
        self._check_fitted()
        level = f"{1 - self.alpha:.0%}"
        under = "UNDERPOWERED: " + "; ".join(self.underpowered_reasons_) if self.underpowered_ else ""
        rows = []

        def row(name, estimate, ci=(math.nan, math.nan), p=math.nan, method="", note=""):
            rows.append({"quantity": name, "estimate": estimate, "ci_lower": ci[0], "ci_upper": ci[1],
                         "p_value": p, "method": method, "note": note})

        replacement = (", with replacement" + (", ties kept" if self.ties else "")) if self.replace else ""
        row("matched sets", float(self.n_matched_),
            method=f"{self.ratio}:1 nearest neighbour on the {self.match_on}{replacement}",
            note=f"{self.n_unmatched_treated_} of {self.n_treated_} treated unmatched")
        if self.outcome_ is not None:
            row("naive difference", self.naive_, self.naive_ci_, self.naive_p_value_, f"unmatched, Welch {level}")
            row("matched difference (ATT)", self.att_, self.att_ci_, self.att_p_value_,
                f"pair bootstrap {level}; within-set permutation p")
            row("Cohen's d (matched)", self.cohens_d_, self.cohens_d_ci_, method=f"pooled SD; pair bootstrap {level}")
            row("minimum detectable effect (SD)", self.mde_,
                method=f"two-sample t, alpha {self.alpha}, power {self.power:.0%}", note=under)
        if self.binary_outcome_ is not None and self.success_rates_ is not None:
            for (sample, group), r in self.success_rates_.iterrows():
                if sample == "matched":
                    row(f"success rate, {group}", r["rate"], (r["ci_lower"], r["ci_upper"]),
                        method=f"Wilson {level}", note=f"{r['successes']:g} of {r['n']}")
            row("success-rate difference", self.rate_difference_, self.rate_difference_ci_, self.mcnemar_p_value_,
                f"pair bootstrap {level}; exact McNemar p" if self._sets.all_pairs else f"pair bootstrap {level}")
            row("minimum detectable rate difference", self.mde_binary_,
                method=f"two-proportion arcsine, alpha {self.alpha}, power {self.power:.0%}", note=under)
        return pd.DataFrame(rows).set_index("quantity")

    def print_summary(self, decimals: int = 3) -> None:
        """Print the settings, the counts, the summary table, the worst-balanced covariates and the warnings."""
        self._check_fitted()
        caliper = "none" if self.caliper is None else f"{self.caliper} SD ({self.caliper_width_:.4g})"
        lines = [
            f"<observatory.PropensityMatcher: treatment={self.treatment_!r}>",
            f"  caliper = {caliper} on the {self.match_on}; exact = {self.exact_ or 'none'}; ratio = {self.ratio}; "
            f"replace = {self.replace}; order = {self.order}; seed = {self.seed}",
            f"  treated = {self.n_treated_}, controls = {self.n_control_}, matched sets = {self.n_matched_}, "
            f"unmatched treated = {self.n_unmatched_treated_}, distinct controls used = {self.n_matched_controls_}",
            f"  underpowered = {self.underpowered_}",
            "",
        ]
        with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_colwidth", 60):
            lines.append(self.summary.round(decimals).to_string())
            lines.append("")
            worst = self.balance_.reindex(self.balance_["smd_after"].abs().sort_values(ascending=False).index)
            lines.append("balance (largest |SMD| after matching first):")
            lines.append(worst.head(10)[["smd_before", "smd_after", "flagged"]].round(decimals).to_string())
        if self.warnings_:
            lines.append("")
            lines.append("warnings:")
            lines.extend(f"  - {w}" for w in self.warnings_)
        print("\n".join(lines))

    def to_dict(self) -> dict:
        """Settings, counts, estimates, balance and warnings as plain JSON-ready values (NaN as None)."""
        self._check_fitted()
        result = {
            "settings": {"caliper": self.caliper, "caliper_width": self.caliper_width_, "exact": self.exact_,
                         "replace": self.replace, "ties": self.ties, "ratio": self.ratio, "order": self.order,
                         "match_on": self.match_on, "seed": self.seed, "alpha": self.alpha, "power": self.power,
                         "n_bootstrap": self.n_bootstrap, "n_permutations": self.n_permutations},
            "treatment": self.treatment_, "covariates": self.covariates_,
            "outcome": self.outcome_, "binary_outcome": self.binary_outcome_,
            "n_treated": self.n_treated_, "n_control": self.n_control_, "n_matched": self.n_matched_,
            "n_unmatched_treated": self.n_unmatched_treated_, "n_matched_controls": self.n_matched_controls_,
            "n_outside_support": self.n_outside_support_,
            "att": self.att_, "att_ci": list(self.att_ci_), "att_p_value": self.att_p_value_,
            "naive": self.naive_, "naive_ci": list(self.naive_ci_), "naive_p_value": self.naive_p_value_,
            "cohens_d": self.cohens_d_, "cohens_d_ci": list(self.cohens_d_ci_), "mde": self.mde_,
            "rate_difference": self.rate_difference_, "rate_difference_ci": list(self.rate_difference_ci_),
            "mcnemar_statistic": self.mcnemar_statistic_, "mcnemar_p_value": self.mcnemar_p_value_,
            "mde_binary": self.mde_binary_,
            "success_rates": (None if self.success_rates_ is None else
                              [{"sample": s, "group": g, **r} for (s, g), r in
                               self.success_rates_.to_dict(orient="index").items()]),
            "balance": self.balance_.reset_index().to_dict(orient="records"),
            "underpowered": self.underpowered_, "underpowered_reasons": list(self.underpowered_reasons_),
            "warnings": list(self.warnings_),
        }
        return json_ready(result)


# ---------------------------------------------------------------------- helpers


def _as_binary(column: pd.Series, name: str) -> pd.Series:
    values = pd.unique(column)
    if not set(values.tolist()) <= {0, 1, True, False}:
        raise ValueError(f"column {name!r} must hold only 0/1 or booleans")
    return column.astype(bool)


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _design_matrix(df: pd.DataFrame, covariates: list[str], drop_first: bool) -> pd.DataFrame:
    parts = []
    for name in covariates:
        column = df[name]
        if _is_numeric(column):
            parts.append(column.astype(float).rename(name).to_frame())
        else:
            # pandas sorts the levels of a new categorical when they can be sorted; unused levels are dropped.
            categorical = (column.cat.remove_unused_categories() if isinstance(column.dtype, pd.CategoricalDtype)
                           else pd.Categorical(column))
            dummies = pd.get_dummies(pd.Series(categorical, index=df.index), prefix=name, prefix_sep="=",
                                     drop_first=drop_first, dtype=float)
            parts.append(dummies)
    return pd.concat(parts, axis=1)


def _find_root(parent: list[int], node: int) -> int:
    root = node
    while parent[root] != root:
        root = parent[root]
    while parent[node] != root:  # path compression
        parent[node], node = root, parent[node]
    return root


def _insertion_points(sorted_stratum, sorted_score, query_stratum, query_score, side):
    """``np.searchsorted`` within strata: where each query would go among the controls sorted by (stratum, score)."""
    # Merge queries and controls on (stratum, score); among equal keys queries go first for side="left" and last
    # for side="right"; the insertion point is the number of controls before each query.
    n_query = len(query_score)
    is_control = np.r_[np.zeros(n_query, dtype=np.int64), np.ones(len(sorted_score), dtype=np.int64)]
    query_rank = is_control if side == "left" else 1 - is_control
    merged = np.lexsort((query_rank, np.r_[query_score, sorted_score], np.r_[query_stratum, sorted_stratum]))
    controls_before = np.cumsum(is_control[merged]) - is_control[merged]
    insert = np.empty(n_query, dtype=np.int64)
    is_query = merged < n_query
    insert[merged[is_query]] = controls_before[is_query]
    return insert


def _greedy_match(score, stratum, treated_order, control_rows, caliper_width, ratio, replace, ties):
    """Link treated rows (in ``treated_order``) to control rows; returns (treated, control, distance) arrays."""
    # Controls sorted by stratum, then score, then row: strata are contiguous and ties resolve to the lower score.
    order = np.lexsort((control_rows, score[control_rows], stratum[control_rows]))
    sorted_rows = control_rows[order]
    sorted_score = score[sorted_rows]
    sorted_stratum = stratum[sorted_rows]
    n_controls = len(sorted_rows)
    treated_score, treated_stratum = score[treated_order], stratum[treated_order]
    stratum_start = np.searchsorted(sorted_stratum, treated_stratum, side="left")
    stratum_end = np.searchsorted(sorted_stratum, treated_stratum, side="right")
    insert = _insertion_points(sorted_stratum, sorted_score, treated_stratum, treated_score, side="left")

    if replace:
        # Every treated unit takes its `ratio` nearest controls from a window of `ratio` on each side.
        candidates = insert[:, None] + np.arange(-ratio, ratio)[None, :]
        valid = (candidates >= stratum_start[:, None]) & (candidates < stratum_end[:, None])
        safe = np.clip(candidates, 0, max(n_controls - 1, 0))
        gap = np.abs(sorted_score[safe] - treated_score[:, None]) if n_controls else np.zeros(candidates.shape)
        gap = np.where(valid, gap, np.inf)
        # The stable sort keeps the lower-score candidate first among equidistant ones.
        nearest = np.argsort(gap, axis=1, kind="stable")[:, :ratio]
        chosen_gap = np.take_along_axis(gap, nearest, axis=1)
        chosen = np.take_along_axis(safe, nearest, axis=1)
        keep = chosen_gap <= caliper_width
        if not ties:
            rows = np.repeat(treated_order[:, None], ratio, axis=1).T
            # Transposed so that round r of every treated unit comes before round r + 1, as without replacement.
            return rows[keep.T], sorted_rows[chosen.T[keep.T]], chosen_gap.T[keep.T]
        # Every control as close as the farthest one kept joins the set (Abadie & Imbens 2006; Stata's teffects).
        reach = np.minimum(np.where(keep, chosen_gap, -np.inf).max(axis=1) + _TIE_TOLERANCE, caliper_width)
        first = np.maximum(_insertion_points(sorted_stratum, sorted_score, treated_stratum, treated_score - reach,
                                             side="left"), stratum_start)
        last = np.minimum(_insertion_points(sorted_stratum, sorted_score, treated_stratum, treated_score + reach,
                                            side="right"), stratum_end)
        size = np.where(np.isfinite(reach), np.maximum(last - first, 0), 0)
        offsets = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
        position = np.repeat(first, size) + offsets
        rows = np.repeat(treated_order, size)
        return rows, sorted_rows[position], np.abs(sorted_score[position] - score[rows])

    # Without replacement the nearest available control on each side is found through "next available"
    # pointers with path compression: slot p of `right` and slot p + 1 of `left` stand for sorted position p,
    # and the extra slot (n on the right, 0 on the left) means "none on this side".
    right = list(range(n_controls + 1))
    left = list(range(n_controls + 1))
    sorted_score_list = sorted_score.tolist()
    treated_list = treated_order.tolist()
    treated_score_list = treated_score.tolist()
    start_list, end_list, insert_list = stratum_start.tolist(), stratum_end.tolist(), insert.tolist()
    treated_out, control_out, distance_out = [], [], []
    for _round in range(ratio):
        for k, row in enumerate(treated_list):
            lo, hi, own = start_list[k], end_list[k], treated_score_list[k]
            after = _find_root(right, insert_list[k])
            before = _find_root(left, insert_list[k]) - 1
            best, best_gap = -1, math.inf
            if before >= lo:
                best, best_gap = before, own - sorted_score_list[before]
            if after < hi and sorted_score_list[after] - own < best_gap:
                best, best_gap = after, sorted_score_list[after] - own
            if best < 0 or best_gap > caliper_width:
                continue
            right[best] = best + 1
            left[best + 1] = best
            treated_out.append(row)
            control_out.append(int(sorted_rows[best]))
            distance_out.append(best_gap)
    return (np.asarray(treated_out, dtype=np.int64), np.asarray(control_out, dtype=np.int64),
            np.asarray(distance_out, dtype=float))


class _MatchedSets:
    """Matched sets as a padded matrix of row positions: column 0 the treated row, then its controls (-1 pads)."""

    def __init__(self, pair_id: np.ndarray, treated_rows: np.ndarray, control_rows: np.ndarray):
        # pair_id is sorted (matches_ is grouped by set), so a link's slot is its rank within its run.
        set_size = np.bincount(pair_id) + 1 if len(pair_id) else np.array([], dtype=np.int64)
        self.n = len(set_size)
        self.positions = np.full((self.n, int(set_size.max()) if self.n else 1), -1, dtype=np.int64)
        self.all_pairs = bool(self.n) and bool(np.all(set_size == 2))
        self.n_control_rows = len(pair_id)
        if self.n == 0:
            return
        run_start = np.r_[0, np.cumsum(set_size - 1)[:-1]]
        slot = np.arange(len(pair_id)) - run_start[pair_id] + 1
        self.positions[pair_id, 0] = treated_rows
        self.positions[pair_id, slot] = control_rows

    def values(self, y: np.ndarray) -> np.ndarray:
        return np.where(self.positions >= 0, y[np.maximum(self.positions, 0)], np.nan)

    @staticmethod
    def differences(values: np.ndarray) -> np.ndarray:
        return values[:, 0] - np.nanmean(values[:, 1:], axis=1)

    @staticmethod
    def sums(values: np.ndarray, counts: np.ndarray | None = None):
        """Per-replicate sufficient statistics for the ATT and the pooled SD, weighting sets by ``counts``."""
        counts = np.ones((1, len(values))) if counts is None else counts
        control = values[:, 1:]
        present = ~np.isnan(control)
        filled = np.where(present, control, 0.0)
        per_set = np.column_stack([
            values[:, 0] - filled.sum(axis=1) / present.sum(axis=1),  # set difference
            np.ones(len(values)), values[:, 0], values[:, 0] ** 2,    # treated count, sum, sum of squares
            present.sum(axis=1), filled.sum(axis=1), (filled ** 2).sum(axis=1),
        ])
        return counts @ per_set


def _cohens_d(totals: np.ndarray) -> np.ndarray:
    totals = np.atleast_2d(totals)
    diff_sum, n_t, s_t, ss_t, n_c, s_c, ss_c = totals.T
    with np.errstate(divide="ignore", invalid="ignore"):
        att = diff_sum / n_t
        pooled_var = ((ss_t - s_t ** 2 / n_t) + (ss_c - s_c ** 2 / n_c)) / (n_t + n_c - 2)
        return np.where(pooled_var > 0, att / np.sqrt(pooled_var), np.nan)


def _bootstrap(sets: _MatchedSets, values: np.ndarray, n_bootstrap: int, seed: np.random.SeedSequence):
    """Resample matched sets with replacement; returns the ATT and Cohen's d of every replicate."""
    if sets.n < 2 or n_bootstrap < 1:
        return np.array([]), np.array([])
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // sets.n)
    att, d = [], []
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        drawn = rng.integers(0, sets.n, size=(size, sets.n)) + (np.arange(size) * sets.n)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * sets.n).reshape(size, sets.n).astype(float)
        totals = _MatchedSets.sums(values, counts)
        att.append(totals[:, 0] / sets.n)
        d.append(_cohens_d(totals))
    return np.concatenate(att), np.concatenate(d)


def _normal_interval(estimate: float, se: float, alpha: float) -> tuple[float, float]:
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return (math.nan, math.nan)
    z = float(special.ndtri(1 - alpha / 2))
    return (estimate - z * se, estimate + z * se)


def _neighbour_variance(score, stratum, y, group_rows, rows, neighbours):
    """Conditional variance of y at each of ``rows`` from its ``neighbours`` nearest rows of ``group_rows`` on the
    score within its stratum (itself excluded): J/(J+1) (y - mean of the neighbours)^2. Equidistant neighbours
    resolve to the lower score, then the earlier row. A row with no neighbour in its stratum gets 0."""
    order = np.lexsort((group_rows, score[group_rows], stratum[group_rows]))
    sorted_rows = group_rows[order]
    sorted_score, sorted_stratum = score[sorted_rows], stratum[sorted_rows]
    position = np.empty(len(score), dtype=np.int64)
    position[sorted_rows] = np.arange(len(sorted_rows))
    own = position[rows]
    offsets = np.r_[np.arange(-neighbours, 0), np.arange(1, neighbours + 1)]
    candidates = own[:, None] + offsets[None, :]
    safe = np.clip(candidates, 0, len(sorted_rows) - 1)
    valid = ((candidates >= 0) & (candidates < len(sorted_rows))
             & (sorted_stratum[safe] == stratum[rows][:, None]))
    gap = np.where(valid, np.abs(sorted_score[safe] - score[rows][:, None]), np.inf)
    nearest = np.argsort(gap, axis=1, kind="stable")[:, :neighbours]
    chosen = np.take_along_axis(safe, nearest, axis=1)
    present = np.isfinite(np.take_along_axis(gap, nearest, axis=1))
    count = present.sum(axis=1)
    neighbour_y = np.where(present, y[sorted_rows[chosen]], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = neighbour_y.sum(axis=1) / count
        sigma2 = count / (count + 1) * (y[rows] - mean) ** 2
    return np.where(count > 0, sigma2, 0.0)


def _percentile_interval(draws: np.ndarray, alpha: float) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return (math.nan, math.nan)
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def _permutation_p_value(values: np.ndarray, n_permutations: int, seed: np.random.SeedSequence) -> float:
    """Two-sided p-value of the mean set difference when, within each set, any member may be the treated one.

    Under the null of no effect the labels within a matched set are exchangeable; the re-drawn statistic for a set
    of size m with treated value at position k is (m Y_k - S) / (m - 1), S the set total. All re-draws are
    enumerated when there are at most ``n_permutations``; otherwise they are sampled and p = (1 + b) / (1 + B)
    (Phipson & Smyth 2010).
    """
    if n_permutations < 1:
        return math.nan
    size = (~np.isnan(values)).sum(axis=1)
    total = np.nansum(values, axis=1)
    observed = abs(np.mean(_MatchedSets.differences(values)))
    tolerance = 1e-9 * max(1.0, float(np.nanmax(np.abs(values))))
    n_sets = len(values)
    rows = np.arange(n_sets)[None, :]
    all_pairs = bool(np.all(size == 2))
    pair_difference = values[:, 0] - values[:, 1]

    def statistic(positions):
        if all_pairs:
            # For pairs a re-draw flips the sign of the pair difference: one matrix product per block.
            return np.abs((1.0 - 2.0 * positions) @ pair_difference) / n_sets
        picked = values[rows, positions]
        return np.abs(((size * picked - total) / (size - 1)).mean(axis=1))

    log_count = float(np.sum(np.log(size)))
    if log_count <= math.log(max(n_permutations, 1)) + 1e-12:
        codes = np.arange(int(round(math.exp(log_count))))
        positions = np.column_stack(np.unravel_index(codes, tuple(size)))
        return float(np.mean(statistic(positions) >= observed - tolerance))
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // n_sets)
    exceed = 0
    for start in range(0, n_permutations, block):
        draws = min(block, n_permutations - start)
        positions = np.floor(rng.random((draws, n_sets)) * size).astype(np.int64)
        exceed += int(np.sum(statistic(positions) >= observed - tolerance))
    return (1 + exceed) / (1 + n_permutations)


def _mde_standardized(n_sets: int, control_ratio: float, alpha: float, power: float) -> float:
    if n_sets < 2:
        return math.inf
    try:
        value = TTestIndPower().solve_power(effect_size=None, nobs1=n_sets, alpha=alpha, power=power,
                                            ratio=control_ratio, alternative="two-sided")
        return float(np.squeeze(value))
    except (ValueError, RuntimeError, ArithmeticError):
        return math.inf


def _mde_proportion(n_sets: int, control_ratio: float, control_rate: float, downward: bool, alpha: float,
                    power: float) -> float:
    """Smallest change from ``control_rate`` detectable by a two-proportion test, via Cohen's h."""
    if n_sets < 1 or not np.isfinite(control_rate):
        return math.inf
    h = float(np.squeeze(NormalIndPower().solve_power(effect_size=None, nobs1=n_sets, alpha=alpha, power=power,
                                                      ratio=control_ratio, alternative="two-sided")))
    phi = 2 * math.asin(math.sqrt(control_rate))
    target = phi - h if downward else phi + h
    if not 0 <= target <= math.pi:
        return -math.inf if downward else math.inf
    return math.sin(target / 2) ** 2 - control_rate
