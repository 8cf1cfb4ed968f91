"""The exposure curve, P(adopt at the k-th exposure | reached k exposures without adopting), the logistic test of
its curvature, and the rule that turns it and the Cox model's hazard ratio into a verdict (`saturation_verdict`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from observatory.estimators.base import Estimator, json_ready

__all__ = ["ExposureCurve", "exposure_pairs_from_panel", "saturation_verdict"]


def saturation_verdict(curvature_coef=float("nan"), curvature_p_value=float("nan"), hazard_ratio_ci=None,
                       alpha: float = 0.05) -> tuple[str, str]:
    """Turn the curvature test and the exposure hazard ratio into a verdict, by a fixed rule.

    Evidence of saturation: the k^2 coefficient of the exposure-curve logit is negative with p < alpha, or the
    upper end of the hazard ratio's interval is below 1. Evidence of reinforcement: the k^2 coefficient is positive
    with p < alpha, or the lower end of the interval is above 1. The verdict is ``"saturating"`` when there is
    evidence of saturation only, ``"reinforcing"`` when of reinforcement only, ``"conflicting"`` when of both and
    ``"no evidence either way"`` when of neither. Each test is at level alpha; missing inputs (NaN, None) are no
    evidence.

    Returns
    -------
    (verdict, reason) : tuple of str
    """
    saturating, reinforcing = [], []
    if np.isfinite(curvature_coef) and np.isfinite(curvature_p_value) and curvature_p_value < alpha:
        (saturating if curvature_coef < 0 else reinforcing).append(
            f"k^2 coefficient {curvature_coef:+.4g} (p = {curvature_p_value:.3g})"
        )
    if hazard_ratio_ci is not None:
        low, high = hazard_ratio_ci
        if high < 1:
            saturating.append(f"hazard ratio interval [{low:.4g}, {high:.4g}] below 1")
        elif low > 1:
            reinforcing.append(f"hazard ratio interval [{low:.4g}, {high:.4g}] above 1")
    if saturating and reinforcing:
        return "conflicting", "saturating: " + "; ".join(saturating) + " | reinforcing: " + "; ".join(reinforcing)
    if saturating:
        return "saturating", "; ".join(saturating)
    if reinforcing:
        return "reinforcing", "; ".join(reinforcing)
    return "no evidence either way", f"no test significant at alpha = {alpha:g}"


class ExposureCurve(Estimator):
    r"""The exposure curve: P(adopt at the k-th exposure | reached k exposures without adopting), k = 1..K.

    .. math:: \hat p_k = \frac{\#\{\text{adopted after the } k\text{-th, before the } (k{+}1)\text{-th exposure}\}}
              {\#\{\text{received a } k\text{-th exposure before adopting}\}},
              \qquad \operatorname{logit} P(\text{adopt at } k) = a + b\,k + c\,k^2

    A pair "adopts at the k-th exposure" when it adopted after its k-th exposure and before a (k+1)-th, i.e. when
    ``exposures_before_adoption == k``. It "reached k exposures" when it received a k-th exposure while not yet an
    adopter: an adopter reached every k up to ``exposures_before_adoption``, a non-adopter every k up to
    ``total_exposures``. The curvature test is the study's: a logistic regression (statsmodels ``Logit``) of
    "adopts at this exposure" on k and k^2 over the (agent, item, k) risk set, k <= K, with standard errors
    clustered by agent when ``cluster_col`` is given. A negative k^2 coefficient means concave returns.

    Parameters
    ----------
    max_exposures : int
        K: the curve and the logistic fit use k = 1..K (a pair beyond K contributes its first K steps).
    alpha : float
        Wilson intervals at level 1 - alpha; the verdict's significance level.

    Attributes
    ----------
    table_ : pandas.DataFrame
        Per k: ``n_at_risk``, ``n_adopted``, ``probability`` and the Wilson ``ci_lower``, ``ci_upper``.
    curvature_coef_, curvature_se_, curvature_p_value_ : float
        The k^2 coefficient of the logit, its standard error and Wald p-value (NaN when not estimable).
    linear_coef_ : float
        The k coefficient.
    logit_params_ : pandas.DataFrame
        The logistic fit's coefficients, standard errors and p-values.
    verdict_, verdict_reason_ : str
        `saturation_verdict` of the curvature and, when ``hazard_ratio_ci`` is given, the hazard ratio's interval.
    n_pairs_, n_risk_set_rows_ : int
        Pairs used and (pair, k) rows of the risk set.
    n_adopted_before_exposure_ : int
        Adopters with no exposure before adopting, left out (they cannot be on an exposure curve).

    Notes
    -----
    A pair observed until a window's end after its k-th exposure counts as not adopting at k although it might
    still adopt before a (k+1)-th exposure: with a short window, the last p_k of each pair is biased down. And the
    curve is a population quantity: if agents differ in susceptibility, the susceptible adopt early and the pairs
    left at large k are the reluctant ones, so p_k falls with k even when every agent's own probability is flat.
    A falling curve is therefore weaker evidence of individual saturation than a hazard ratio below 1 with the
    agents' characteristics among the covariates.

    Examples
    --------
    >>> import pandas as pd
    >>> from observatory.estimators import ExposureCurve
    >>> pairs = pd.DataFrame({"adopted": [1, 1, 0, 0], "exposures_before_adoption": [1, 2, None, None],
    ...                       "total_exposures": [1, 2, 1, 3]})
    >>> ExposureCurve(max_exposures=3).fit(pairs).table_["probability"].round(3).tolist()
    [0.25, 0.5, 0.0]
    """

    _fitted_attribute = "table_"

    def __init__(self, max_exposures: int = 10, *, alpha: float = 0.05):
        self.max_exposures = max_exposures
        self.alpha = alpha

    def fit(self, pairs: pd.DataFrame, *, cluster_col: str | None = "agent_id",
            hazard_ratio_ci: tuple[float, float] | None = None) -> "ExposureCurve":
        """Compute the curve and the curvature test from a per-(agent, item) table.

        Parameters
        ----------
        pairs : pandas.DataFrame
            Columns ``adopted`` (0/1), ``exposures_before_adoption`` (adopters: exposures received before adopting),
            ``total_exposures`` (non-adopters: exposures received while observed); optionally ``cluster_col``.
        cluster_col : str or None
            Column whose groups (agents) cluster the logistic fit's standard errors; None, or a column not in
            ``pairs``, for independent rows.
        hazard_ratio_ci : (float, float), optional
            The interval of an exposure hazard ratio (``ExposureHazardModel.hazard_ratio_ci_``) that also enters the
            verdict.

        Returns
        -------
        self
        """
        from statsmodels.stats.proportion import proportion_confint

        for column in ("adopted", "exposures_before_adoption", "total_exposures"):
            if column not in pairs.columns:
                raise ValueError(f"the pairs table lacks column {column!r}")
        adopted = pairs["adopted"].to_numpy(float)
        if not np.all((adopted == 0) | (adopted == 1)):
            raise ValueError("adopted must be 0 or 1")
        adopted = adopted == 1
        before = pairs["exposures_before_adoption"].to_numpy(float)
        total = pairs["total_exposures"].to_numpy(float)
        reached = np.where(adopted, before, total)
        if np.any(~np.isfinite(reached)):
            raise ValueError("adopters need exposures_before_adoption and non-adopters total_exposures")
        if np.any(reached < 0) or np.any(reached != np.round(reached)):
            raise ValueError("exposure counts must be non-negative integers")
        if np.any(adopted & np.isfinite(total) & (total < before)):
            raise ValueError("an adopter has more exposures before adopting than in total")
        reached = reached.astype(np.int64)
        usable = reached >= 1
        self.n_adopted_before_exposure_ = int(np.sum(adopted & ~usable))
        self.n_pairs_ = int(usable.sum())

        # The (pair, k) risk set, k = 1..min(reached, K).
        steps = np.minimum(reached[usable], self.max_exposures)
        pair_index = np.repeat(np.arange(len(steps)), steps)
        k = np.arange(len(pair_index)) - np.repeat(np.cumsum(steps) - steps, steps) + 1
        adopts_here = (adopted[usable][pair_index]) & (k == reached[usable][pair_index])
        self.n_risk_set_rows_ = int(len(k))

        n_at_risk = np.bincount(k, minlength=self.max_exposures + 1)[1:]
        n_adopted = np.bincount(k, weights=adopts_here, minlength=self.max_exposures + 1)[1:].astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            probability = n_adopted / n_at_risk
        lower, upper = proportion_confint(n_adopted, np.maximum(n_at_risk, 1), alpha=self.alpha, method="wilson")
        self.table_ = pd.DataFrame(
            {
                "n_at_risk": n_at_risk,
                "n_adopted": n_adopted,
                "probability": probability,
                "ci_lower": np.where(n_at_risk > 0, lower, np.nan),
                "ci_upper": np.where(n_at_risk > 0, upper, np.nan),
            },
            index=pd.Index(np.arange(1, self.max_exposures + 1), name="k"),
        )

        groups = None
        if cluster_col is not None and cluster_col in pairs.columns:
            groups = pd.factorize(pairs[cluster_col].to_numpy()[usable])[0][pair_index]
        self._fit_curvature(k, adopts_here, groups)
        self.verdict_, self.verdict_reason_ = saturation_verdict(
            self.curvature_coef_, self.curvature_p_value_, hazard_ratio_ci, self.alpha
        )
        return self

    def _fit_curvature(self, k, adopts_here, groups):
        import statsmodels.api as sm

        nan = float("nan")
        self.curvature_coef_ = self.curvature_se_ = self.curvature_p_value_ = self.linear_coef_ = nan
        self.logit_params_ = None
        outcome = adopts_here.astype(float)
        if len(np.unique(k)) < 3 or outcome.min() == outcome.max():
            return
        design = np.column_stack((np.ones(len(k)), k, k.astype(float) ** 2))
        model = sm.Logit(outcome, design)
        fit_kwargs = {"disp": 0, "maxiter": 100}
        if groups is not None:
            fit_kwargs.update(cov_type="cluster", cov_kwds={"groups": groups})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.fit(**fit_kwargs)
        if not result.mle_retvals.get("converged", True):
            return
        names = ["intercept", "k", "k^2"]
        self.logit_params_ = pd.DataFrame(
            {"coef": result.params, "se": result.bse, "p": result.pvalues}, index=pd.Index(names, name="term")
        )
        self.linear_coef_ = float(result.params[1])
        self.curvature_coef_ = float(result.params[2])
        self.curvature_se_ = float(result.bse[2])
        self.curvature_p_value_ = float(result.pvalues[2])

    @property
    def summary(self) -> pd.DataFrame:
        """The curve table; the curvature test and verdict are in ``summary.attrs``."""
        self._check_fitted()
        table = self.table_.copy()
        table.attrs.update(
            curvature_coef=self.curvature_coef_, curvature_se=self.curvature_se_,
            curvature_p_value=self.curvature_p_value_, verdict=self.verdict_, verdict_reason=self.verdict_reason_,
        )
        return table

    def print_summary(self, decimals: int = 4) -> None:
        self._check_fitted()
        print(f"<ExposureCurve: {self.n_pairs_} pairs, {self.n_risk_set_rows_} (pair, k) rows, "
              f"k <= {self.max_exposures}>")
        print(f"k^2 coefficient = {self.curvature_coef_:.{decimals}g} (se {self.curvature_se_:.{decimals}g}, "
              f"p = {self.curvature_p_value_:.{decimals}g})")
        print(f"verdict: {self.verdict_} ({self.verdict_reason_})")
        print(self.table_.round(decimals).to_string())

    def to_dict(self) -> dict:
        self._check_fitted()
        return json_ready(
            {
                "curve": self.table_.reset_index().to_dict(orient="list"),
                "curvature_coef": self.curvature_coef_,
                "curvature_se": self.curvature_se_,
                "curvature_p_value": self.curvature_p_value_,
                "verdict": self.verdict_,
                "verdict_reason": self.verdict_reason_,
                "n_pairs": self.n_pairs_,
                "n_adopted_before_exposure": self.n_adopted_before_exposure_,
            }
        )


def exposure_pairs_from_panel(panel: pd.DataFrame, exposure_col: str = "exposures") -> pd.DataFrame:
    """The per-(agent, item) table `ExposureCurve` needs, from a counting-process panel.

    The last interval of each pair gives its status: an adopter adopted after the exposure count of its event
    interval and before the next exposure; a non-adopter received the exposure count of its last interval.
    """
    last = (
        panel.sort_values(["agent_id", "item_id", "stop"], kind="stable")
        .drop_duplicates(["agent_id", "item_id"], keep="last")
    )
    adopted = last["event"].to_numpy(float) == 1
    exposures = last[exposure_col].to_numpy(float)
    return pd.DataFrame(
        {
            "agent_id": last["agent_id"].to_numpy(),
            "item_id": last["item_id"].to_numpy(),
            "adopted": adopted.astype(int),
            "exposures_before_adoption": np.where(adopted, exposures, np.nan),
            "total_exposures": exposures,
        }
    )
