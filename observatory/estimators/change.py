"""Shifts between consecutive windows of a headline series, at a stated family-wise level.

A series is one headline quantity estimated in successive time windows, each estimate with its standard error on
the scale where it is roughly normal (log for a hazard ratio, the natural one for a share or an exponent). For each
pair of consecutive windows where both are estimated, the two-sided z-test of equal values,

.. math:: z = \\frac{\\hat\\theta_{w+1} - \\hat\\theta_w}{\\sqrt{se_w^2 + se_{w+1}^2}},

treats the windows' estimates as independent. Its p-values are corrected together, over every quantity and pair
compared in the run, by Holm's step-down method, so that the chance of flagging any shift when nothing changed is
at most ``level``. (Where the windows share subjects, as agents active in both, the estimates are positively
correlated, the variance of the difference is overstated and the test errs towards flagging less.) Whether the
two 95% intervals overlap is reported beside it: non-overlap is the stricter, more familiar reading.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from observatory.estimators.base import Estimator

__all__ = ["ShiftDetector", "SERIES_COLUMNS", "holm"]

# A series: per quantity and window, the estimate and its standard error on the test's scale (`scale`: "log"
# means the estimate is on the natural scale and the test compares logarithms, with `se` that of the logarithm).
SERIES_COLUMNS = ("quantity", "window", "window_start", "window_end", "estimate", "se", "ci_lower", "ci_upper",
                  "scale")


class ShiftDetector(Estimator):
    """Flags the consecutive windows between which a headline quantity shifted.

    Parameters
    ----------
    level : family-wise error rate over every comparison of the fit (Holm).

    Attributes (after ``fit``)
    --------------------------
    shifts_ : one row per compared pair: quantity, the two windows, their estimates, the difference, z, p, the
        Holm-adjusted p, ``flagged``, ``intervals_overlap``.
    n_comparisons_ : how many pairs were compared (the size of the family).

    >>> series = pd.DataFrame({"quantity": ["x"] * 3, "window": [0, 1, 2],
    ...     "window_start": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-15"]),
    ...     "window_end": pd.to_datetime(["2026-01-08", "2026-01-15", "2026-01-22"]),
    ...     "estimate": [0.10, 0.11, 0.30], "se": [0.02, 0.02, 0.02],
    ...     "ci_lower": [0.06, 0.07, 0.26], "ci_upper": [0.14, 0.15, 0.34], "scale": ["natural"] * 3})
    >>> ShiftDetector().fit(series).shifts_["flagged"].tolist()
    [False, True]
    """

    _fitted_attribute = "shifts_"

    def __init__(self, level: float = 0.05):
        self.level = level

    def fit(self, series: pd.DataFrame) -> "ShiftDetector":
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level}")
        missing = [c for c in SERIES_COLUMNS if c not in series.columns]
        if missing:
            raise ValueError(f"the series lacks columns {missing}")
        rows = []
        usable = series[np.isfinite(series["estimate"].astype(float)) & np.isfinite(series["se"].astype(float))
                        & (series["se"].astype(float) > 0)]
        for quantity, group in usable.sort_values("window").groupby("quantity", sort=True):
            group = group.reset_index(drop=True)
            for a, b in zip(group.index[:-1], group.index[1:]):
                before, after = group.loc[a], group.loc[b]
                if int(after["window"]) != int(before["window"]) + 1:
                    continue  # only consecutive windows are compared: a gap is not a step
                log = before["scale"] == "log"
                x0, x1 = (np.log(before["estimate"]), np.log(after["estimate"])) if log else (
                    float(before["estimate"]), float(after["estimate"]))
                z = (x1 - x0) / np.hypot(float(before["se"]), float(after["se"]))
                rows.append({
                    "quantity": quantity, "window_before": int(before["window"]), "window_after": int(after["window"]),
                    "start_before": before["window_start"], "start_after": after["window_start"],
                    "end_after": after["window_end"],
                    "estimate_before": float(before["estimate"]), "estimate_after": float(after["estimate"]),
                    "difference": float(after["estimate"] - before["estimate"]), "z": float(z),
                    "p": float(2 * stats.norm.sf(abs(z))),
                    "intervals_overlap": bool(before["ci_lower"] <= after["ci_upper"]
                                              and after["ci_lower"] <= before["ci_upper"]),
                })
        shifts = pd.DataFrame(rows, columns=[
            "quantity", "window_before", "window_after", "start_before", "start_after", "end_after",
            "estimate_before", "estimate_after", "difference", "z", "p", "intervals_overlap"])
        shifts["p_adjusted"] = holm(shifts["p"].to_numpy(dtype=float))
        shifts["flagged"] = shifts["p_adjusted"] < self.level
        self.n_comparisons_ = len(shifts)
        self.shifts_ = shifts
        return self

    def summary(self) -> pd.DataFrame:
        self._check_fitted()
        return self.shifts_

    def to_dict(self) -> dict:
        self._check_fitted()
        from observatory.estimators.base import json_ready

        return json_ready({"level": self.level, "n_comparisons": self.n_comparisons_,
                           "flagged": self.shifts_[self.shifts_["flagged"]].to_dict("records")})


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (monotone, capped at 1), in the order given.

    >>> holm(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out
