"""The headlines over time: each headline quantity per time window, and the shifts between consecutive windows.

Windows are ``window_days`` long from the day of the first post or comment (UTC midnight); a last window shorter
than half of that joins the one before it. In each window:

- ``roles.<role>_share``: of the agents who wrote a post or comment in the window, the share in each structural role.
  The roles are those of the whole observation (`agent_roles`), so that a role means the same in every window; the
  share moves when the agents active in a window change. Agents drawn to the same threads move together (a few
  popular threads draw most of a submolt's comments), so the standard error is a bootstrap over the window's
  threads (Poisson weights), not a binomial one over agents; the 95% interval is the normal one on it.
- ``adoption.hazard_ratio``: the Cox model per additional exposure (the adoption step's linear model, its
  covariates, clustered SEs) on the exposure panel cut to the window: each interval clipped to the window's
  calendar span, an adoption counted in the window it happened in, subjects exposed earlier entering at the
  window's start (left truncation on the clock "time since first exposure"). Tested on the log scale.
- ``cascades.alpha``: the discrete power-law exponent of the sizes of the cascades that started in the window, at
  the whole observation's ``xmin`` (so that windows compare one tail), SE ``(alpha - 1) / sqrt(n)`` by the
  estimator. A cascade's size counts its adopters until the end of observation: a cascade started in the last
  window has had less time to grow, which a real, still-running society shows as a steeper late exponent.
- ``collab.success_rate_difference``: the matched difference in success rate of multi- against single-agent task
  threads created in the window (the cooperation step's matcher and caliper, one to one without replacement), with
  the paired difference's Wald SE from the discordant pairs (Agresti and Min's half added to each cell); a window
  with fewer than 20 matched pairs has no estimate.

A window where a quantity cannot be estimated (too few agents, adoptions, cascades or tasks, by the same minimums
as the whole analysis) has no row for it. :class:`~observatory.estimators.change.ShiftDetector` then flags the
consecutive windows between which a quantity shifted, at a family-wise level over every comparison.

Tables written: `headline_trends` (one row per quantity and window), `headline_shifts` (one row per compared pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from observatory import _status, db
from observatory.config import TrendsConfig, overridden
from observatory.estimators.change import SERIES_COLUMNS, ShiftDetector
from observatory.studies.base import StudyResult

__all__ = ["TrendsResult", "TRENDS_TABLES", "observation_windows", "run_trends", "parse_window"]

TRENDS_TABLES = ("headline_trends", "headline_shifts")
Z95 = 1.959963984540054


def parse_window(text: str) -> float:
    """A window length as days: ``7d``, ``36h``, ``2w`` or a bare number of days.

    >>> parse_window("7d"), parse_window("36h"), parse_window("2w"), parse_window("3.5")
    (7.0, 1.5, 14.0, 3.5)
    """
    value = str(text).strip().lower()
    units = {"d": 1.0, "h": 1 / 24, "w": 7.0}
    factor = units.get(value[-1:], None)
    number = value[:-1] if factor is not None else value
    try:
        days = float(number) * (factor or 1.0)
    except ValueError:
        raise ValueError(f"not a window length: {text!r} (expected e.g. 7d, 36h, 2w)") from None
    if not math.isfinite(days) or days <= 0:
        raise ValueError(f"a window must be a positive length, not {text!r}")
    return days


def observed_span(con) -> tuple:
    """The first and last creation time of the posts and comments (None, None when there are none)."""
    if not (db.table_exists(con, "posts") and db.table_exists(con, "comments")):
        return None, None
    return tuple(con.execute(
        "SELECT min(t), max(t) FROM (SELECT created_at AS t FROM posts UNION ALL SELECT created_at FROM comments)"
    ).fetchall()[0])


def observation_windows(con, window_days: float) -> pd.DataFrame:
    """The windows `(window, window_start, window_end)` over the posts and comments: from the UTC midnight before
    the first to just after the last, each ``window_days`` long; a last one shorter than half joins the one before."""
    first, last = observed_span(con)
    if first is None:
        return pd.DataFrame(columns=["window", "window_start", "window_end"])
    origin = pd.Timestamp(first).tz_convert("UTC").floor("D")
    end = pd.Timestamp(last).tz_convert("UTC") + pd.Timedelta(microseconds=1)
    step = pd.Timedelta(days=window_days)
    starts = []
    at = origin
    while at < end:
        starts.append(at)
        at = at + step
    ends = starts[1:] + [end]
    if len(starts) > 1 and (ends[-1] - starts[-1]) < step / 2:
        starts, ends = starts[:-1], ends[:-2] + [end]
    return pd.DataFrame({"window": range(len(starts)), "window_start": starts, "window_end": ends})


@dataclass
class TrendsResult(StudyResult):
    """Every headline quantity per window (`series`) and the shifts flagged between windows (`detector`)."""

    window_days: float
    windows: pd.DataFrame
    series: pd.DataFrame
    detector: ShiftDetector

    @property
    def flagged(self) -> pd.DataFrame:
        shifts = self.detector.shifts_
        return shifts[shifts["flagged"]]

    def to_dict(self) -> dict:
        return {"window_days": self.window_days, "windows": len(self.windows),
                "quantities": sorted(self.series["quantity"].unique()) if len(self.series) else [],
                "shifts": self.detector.to_dict()}

    def _text(self) -> str:
        lines = [f"{len(self.windows)} windows of {self.window_days:g} days; {len(self.series)} estimates of "
                 f"{self.series['quantity'].nunique() if len(self.series) else 0} quantities; "
                 f"{self.detector.n_comparisons_} consecutive pairs compared at family-wise level "
                 f"{self.detector.level:g} (Holm)"]
        for row in self.flagged.itertuples(index=False):
            lines.append(f"shift: {row.quantity} {row.estimate_before:.4g} -> {row.estimate_after:.4g} between windows "
                         f"{row.window_before} and {row.window_after} (z = {row.z:.2f}, adjusted p = {row.p_adjusted:.3g})")
        if self.flagged.empty:
            lines.append("no shift flagged")
        return "\n".join(lines)


def _row(quantity, window, estimate, se, lower, upper, n, scale="natural") -> dict:
    return {"quantity": quantity, "window": int(window["window"]), "window_start": window["window_start"],
            "window_end": window["window_end"], "estimate": float(estimate), "se": float(se),
            "ci_lower": float(lower), "ci_upper": float(upper), "n": int(n), "scale": scale}


# Rows of the thread weights drawn at a time: bounds the bootstrap's memory whatever the number of threads (the
# draws, and so the estimates, are the same as one array's: the generator fills rows in order).
_WEIGHT_ROWS = 20_000


def _role_shares(con, windows: pd.DataFrame, config: TrendsConfig) -> list[dict]:
    """Per window, the share of each role among the agents who wrote in it, with a bootstrap standard error over
    the window's threads: each thread (a post and its comments) gets a Poisson(1) weight, an agent counts as active
    in a replicate when a thread it wrote in is drawn, and the SE is the replicates' spread. Agents drawn to the same
    threads move together (a submolt's periphery answers its few popular posts), which a binomial SE over agents
    would ignore."""
    from scipy import sparse

    if not db.table_exists(con, "agent_roles"):
        return []
    # Agents and threads as integer codes in a fixed order (agent id, post id): the same draws fall on the same
    # threads in every run, and nothing but numbers crosses into Python.
    agents_sql = ("SELECT agent_id, role, CAST(row_number() OVER (ORDER BY agent_id) - 1 AS INTEGER) AS a "
                  "FROM agent_roles WHERE active AND role IS NOT NULL")
    role_by_code = pd.Series([r[0] for r in con.execute(f"SELECT role FROM ({agents_sql}) ORDER BY a").fetchall()],
                             dtype=object)
    con.register("_trend_windows", windows)
    try:
        pairs = con.execute(
            f"""
            WITH written AS (
                SELECT author_id AS agent_id, post_id, created_at FROM comments WHERE author_id IS NOT NULL
                UNION ALL SELECT author_id, id, created_at FROM posts WHERE author_id IS NOT NULL
            ),
            threads AS (
                SELECT post_id, CAST(row_number() OVER (ORDER BY post_id) AS INTEGER) AS p
                FROM (SELECT DISTINCT post_id FROM written)
            )
            SELECT DISTINCT w."window", t.p, r.a
            FROM written AS x
            JOIN _trend_windows AS w ON x.created_at >= w.window_start AND x.created_at < w.window_end
            JOIN ({agents_sql}) AS r ON r.agent_id = x.agent_id
            JOIN threads AS t ON t.post_id = x.post_id
            ORDER BY ALL
            """
        ).df()
    finally:
        con.unregister("_trend_windows")
    role_of = role_by_code.to_numpy()
    # every role held by an agent who wrote in some window has its share in each window (zero where none wrote)
    roles = sorted(set(role_of[np.unique(pairs["a"].to_numpy())])) if len(pairs) else []
    rows = []
    rng = np.random.default_rng(config.seed)
    for window in windows.to_dict("records"):
        here = pairs[pairs["window"].to_numpy() == window["window"]]
        post, threads = pd.factorize(here["p"].to_numpy())
        agent, agents = pd.factorize(here["a"].to_numpy())
        total = len(agents)
        if total < _status.MIN_AGENTS_PER_ROLE:
            continue
        incidence = sparse.csc_matrix((np.ones(len(here)), (agent, post)), shape=(total, len(threads)))
        hits = np.zeros((total, config.n_bootstrap))
        for first in range(0, len(threads), _WEIGHT_ROWS):
            last = min(first + _WEIGHT_ROWS, len(threads))
            weights = rng.poisson(1.0, size=(last - first, config.n_bootstrap)).astype(float)
            hits += incidence[:, first:last] @ weights
        active = hits > 0  # agents x replicates
        del hits
        counted = np.maximum(active.sum(axis=0), 1)
        held = role_of[agents]
        for role in roles:
            member = held == role
            p = member.sum() / total
            se = float(np.std(active[member].sum(axis=0) / counted, ddof=1))
            se = max(se, math.sqrt(0.25 / total) / math.sqrt(total))  # a floor where no replicate varies
            rows.append(_row(f"roles.{role}_share", window, p, se, max(p - Z95 * se, 0.0), min(p + Z95 * se, 1.0),
                             total))
    return rows


def window_panel(panel: pd.DataFrame, start, end) -> pd.DataFrame:
    """The rows of a counting-process panel (`first_exposed_at`, `start`, `stop` in hours since it, `event`) cut
    to the calendar window [start, end): intervals clipped to it, an event kept where it falls inside it.

    >>> p = pd.DataFrame({"first_exposed_at": pd.to_datetime(["2026-01-01"] * 2, utc=True), "start": [0.0, 24.0],
    ...                   "stop": [24.0, 60.0], "event": [0, 1]})
    >>> w = window_panel(p, pd.Timestamp("2026-01-02", tz="UTC"), pd.Timestamp("2026-01-03", tz="UTC"))
    >>> w[["start", "stop", "event"]].values.tolist()
    [[24.0, 48.0, 0.0]]
    """
    origin = pd.Timestamp(start)
    t0 = (pd.to_datetime(panel["first_exposed_at"], utc=True) - origin).dt.total_seconds().to_numpy() / 3600.0
    span = (pd.Timestamp(end) - origin).total_seconds() / 3600.0
    a = t0 + panel["start"].to_numpy(dtype=float)
    b = t0 + panel["stop"].to_numpy(dtype=float)
    keep = (b > 0) & (a < span)
    out = panel.loc[keep].copy()
    out["start"] = np.maximum(a[keep], 0.0) - t0[keep]
    out["stop"] = np.minimum(b[keep], span) - t0[keep]
    out["event"] = np.where(b[keep] <= span, out["event"].to_numpy(), 0).astype(float)
    return out[out["stop"] > out["start"]]


def _hazard_ratios(con, windows: pd.DataFrame, config: TrendsConfig) -> list[dict]:
    if not db.table_exists(con, "adoption_panel"):
        return []
    from observatory.estimators.cox import ExposureHazardModel
    from observatory.studies.adoption import DEFAULT_COVARIATES, build_adoption_panel, independent_covariates

    panel = build_adoption_panel(con, build_marts=False)
    candidates = list(DEFAULT_COVARIATES) + [c for c in panel.columns if c.startswith("role_")]
    rows = []
    for window in windows.to_dict("records"):
        cut = window_panel(panel, window["window_start"], window["window_end"])
        events = int(cut["event"].sum())
        if events < _status.MIN_ADOPTIONS:
            continue
        used = independent_covariates(cut, [c for c in candidates if c in cut and cut[c].nunique() > 1])
        try:
            model = ExposureHazardModel("linear", seed=config.seed).fit(cut, covariates=used)
        except Exception:  # noqa: BLE001 - a window where the model does not converge has no estimate
            continue
        se = float(model.coefficients_.loc["exposures", "se"])
        lower, upper = model.hazard_ratio_ci_
        rows.append(_row("adoption.hazard_ratio", window, model.hazard_ratio_, se, lower, upper, events, "log"))
    return rows


def _alphas(con, windows: pd.DataFrame) -> list[dict]:
    if not (db.table_exists(con, "cascades") and db.table_exists(con, "cascade_powerlaw")):
        return []
    from observatory.estimators.powerlaw import PowerLawFit

    xmin = con.execute("SELECT xmin FROM cascade_powerlaw").fetchall()[0][0]
    sizes = con.execute("SELECT started_at, size FROM cascades WHERE started_at IS NOT NULL").df()
    started = pd.to_datetime(sizes["started_at"], utc=True)
    rows = []
    for window in windows.to_dict("records"):
        here = sizes.loc[(started >= window["window_start"]) & (started < window["window_end"]), "size"]
        tail = here[here >= xmin]
        if len(tail) < _status.MIN_CASCADES or tail.nunique() < _status.MIN_DISTINCT_SIZES:
            continue
        try:
            fit = PowerLawFit(xmin=xmin, n_bootstrap=0, alternatives=()).fit(here.to_numpy())
        except ValueError:
            continue
        se = fit.alpha_se_
        rows.append(_row("cascades.alpha", window, fit.alpha_, se, fit.alpha_ - Z95 * se, fit.alpha_ + Z95 * se,
                         fit.n_tail_))
    return rows


def _matched_effects(con, windows: pd.DataFrame, config: TrendsConfig) -> list[dict]:
    if not db.table_exists(con, "task_events"):
        return []
    from observatory.config import CooperationConfig
    from observatory.estimators.matching import PropensityMatcher
    from observatory.studies.cooperation import COVARIATES, _prepare

    events = con.execute("SELECT * FROM task_events ORDER BY task_id").df()
    comparable = _prepare(events[events["team"].isin(["multi", "single"])]).reset_index(drop=True)
    if not len(comparable):
        return []
    created = pd.to_datetime(comparable["created_at"], utc=True)
    settings = CooperationConfig()
    rows = []
    for window in windows.to_dict("records"):
        here = comparable[(created >= window["window_start"]) & (created < window["window_end"])]
        here = here.reset_index(drop=True)
        arm = _status.MIN_TASKS_PER_ARM
        if (here["treated"] == 1).sum() < arm or (here["treated"] == 0).sum() < arm:
            continue
        # One to one without replacement, so that the matched pairs are pairs.
        matcher = PropensityMatcher(caliper=settings.caliper, replace=False, seed=config.seed, n_bootstrap=0,
                                    n_permutations=0, compare_designs=False)
        try:
            matcher.fit(here, treatment="treated", covariates=list(COVARIATES), binary_outcome="resolved")
        except Exception:  # noqa: BLE001 - too few matches, separation: no estimate in this window
            continue
        pairs = matcher.matches_
        # Fewer pairs than the matcher's own minimum (20) make the normal approximation of a paired difference of
        # proportions unreliable (at 6 pairs a difference of 0.67 has a Wald SE of 0.22): not estimable.
        if len(pairs) < matcher.min_pairs or not math.isfinite(matcher.rate_difference_):
            continue
        # The paired difference's Wald SE from the discordant pairs, with Agresti and Min's half added to every
        # cell: a window holds a few dozen pairs, where a percentile bootstrap can collapse to a point.
        treated = here.loc[pairs["treated"].to_numpy(), "resolved"].to_numpy(dtype=bool)
        control = here.loc[pairs["control"].to_numpy(), "resolved"].to_numpy(dtype=bool)
        b, c, n = (treated & ~control).sum() + 0.5, (~treated & control).sum() + 0.5, len(pairs) + 2
        se = math.sqrt(b + c - (b - c) ** 2 / n) / n
        estimate = float(treated.mean() - control.mean())
        rows.append(_row("collab.success_rate_difference", window, estimate, se, estimate - Z95 * se,
                         estimate + Z95 * se, len(pairs)))
    return rows


def run_trends(con, config: TrendsConfig | None = None, *, progress=None, **settings) -> TrendsResult:
    """Estimate every headline quantity per window, flag the shifts, write `headline_trends` and `headline_shifts`.

    ``config`` holds the settings (:class:`~observatory.config.TrendsConfig`); any of them may be given as a
    keyword instead (``run_trends(con, window_days=3)``)."""
    config = overridden(config, TrendsConfig, **settings)
    say = progress or (lambda message: None)
    db.configure(con)
    windows = observation_windows(con, config.window_days)
    rows: list[dict] = []
    for label, part in (("role shares", lambda: _role_shares(con, windows, config)),
                        ("hazard ratios", lambda: _hazard_ratios(con, windows, config)),
                        ("power-law exponents", lambda: _alphas(con, windows)),
                        ("matched effects", lambda: _matched_effects(con, windows, config))):
        say(f"{label} in {len(windows)} windows")
        rows += part()
    series = pd.DataFrame(rows, columns=[*SERIES_COLUMNS, "n"])
    series = series[["quantity", "window", "window_start", "window_end", "estimate", "ci_lower", "ci_upper", "se",
                     "n", "scale"]].sort_values(["quantity", "window"], ignore_index=True)
    detector = ShiftDetector(level=config.level).fit(series)
    shifts = detector.shifts_.copy()
    shifts["level"] = config.level
    series["window_days"] = config.window_days
    db.write_table(con, "headline_trends", series)
    db.write_table(con, "headline_shifts", shifts)
    if len(windows) < 2:
        _status.record(con, "trends", f"{len(windows)} window(s) of {config.window_days:g} days: a trend needs two")
    elif series.empty:
        _status.record(con, "trends", f"no headline could be estimated in any of the {len(windows)} windows of "
                       f"{config.window_days:g} days (each window needs what the whole analysis needs)")
    else:
        _status.record(con, "trends")
    return TrendsResult(config.window_days, windows, series, detector)
