"""Cooperation against a matched single-agent baseline, on the database.

The study reported that "164 multi-agent collaborative events ... success rates are low (6.7%, p = 0.057) and
cooperative outcomes are significantly worse than a matched single-agent baseline (Cohen's d = -0.88)"; its released
code had no baseline, and a later version matched 3,185 collaborative threads against 5 single-agent ones. Here
the task events come from the drop's task annotations (or a labelled heuristic detector), multi-agent threads are
matched to single-agent threads on a propensity score of covariates fixed before anyone answered
(:class:`observatory.estimators.matching.PropensityMatcher`), balance is shown before and after, and the minimum detectable
effect says how much the design can tell.

Tables written: `task_events` (SQL), `cooperation_matches`, `cooperation_balance`, `cooperation_outcomes`,
`cooperation_designs` (the estimate under every alternative design) and `cooperation_overlap` (the propensity
histogram of both groups).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from observatory import _status, db
from observatory.config import CooperationConfig, overridden
from observatory.estimators.matching import PropensityMatcher
from observatory.studies.base import StudyResult

__all__ = ["CooperationConfig", "CooperationResult", "build_task_events", "run_cooperation", "COVARIATES"]

# Pre-treatment covariates: known when the task was posted, before any contributor answered.
COVARIATES = ("submolt", "log_seed_length", "code_present", "keyword_density", "hour", "weekday",
              "log_requester_karma", "log_requester_prior_activity")


def build_task_events(con, config: CooperationConfig | None = None) -> int:
    """(Re)build `task_events` from the clean tables; returns its row count."""
    config = config or CooperationConfig()
    db.configure(con)
    return db.build_table(con, "task_events", asdict(config))


@dataclass
class CooperationResult(StudyResult):
    matcher: PropensityMatcher | None
    n_events: int
    n_multi: int
    n_single: int
    outcome_source: str
    success_rate: float | None
    success_rate_multi: float | None
    success_rate_single: float | None

    def _text(self) -> str:
        lines = [
            f"task events: {self.n_events:,} ({self.outcome_source} outcomes): {self.n_multi:,} multi-agent, "
            f"{self.n_single:,} single-agent, the rest without any contributor",
        ]
        if self.matcher is None:
            lines.append("too few multi- or single-agent events to compare")
            return "\n".join(lines)
        m = self.matcher
        lines += [
            f"matched {m.n_matched_:,} of {m.n_treated_:,} multi-agent events to single-agent ones "
            f"({m.n_unmatched_treated_:,} left unmatched; caliper {m.caliper} SD of the logit)",
            f"success: multi {self.success_rate_multi:.1%}, single {self.success_rate_single:.1%} (unmatched); "
            f"matched difference {m.rate_difference_:+.3f} [{m.rate_difference_ci_[0]:+.3f}, {m.rate_difference_ci_[1]:+.3f}], "
            f"McNemar exact p = {m.mcnemar_p_value_:.3g}; naive {m.naive_rate_difference_:+.3f}",
            f"quality: matched difference {m.att_:+.3f} [{m.att_ci_[0]:+.3f}, {m.att_ci_[1]:+.3f}], permutation p = "
            f"{m.att_p_value_:.3g}; Cohen's d {m.cohens_d_:+.2f} [{m.cohens_d_ci_[0]:+.2f}, {m.cohens_d_ci_[1]:+.2f}]; "
            f"naive {m.naive_:+.3f}",
            f"power: minimum detectable effect {m.mde_:.2f} SD (quality), {m.mde_binary_:.3f} (success rate) at "
            f"alpha 0.05, 80% power" + ("  [UNDERPOWERED]" if m.underpowered_ else ""),
            f"balance: max |SMD| {m.balance_['smd_before'].abs().max():.3f} before, "
            f"{m.balance_['smd_after'].abs().max():.3f} after matching",
        ]
        lines += [f"warning: {w}" for w in m.warnings_]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {"n_events": self.n_events, "n_multi": self.n_multi, "n_single": self.n_single,
               "outcome_source": self.outcome_source, "success_rate": self.success_rate,
               "success_rate_multi": self.success_rate_multi, "success_rate_single": self.success_rate_single}
        if self.matcher is not None:
            out["matched"] = self.matcher.to_dict()
        return out


def _prepare(events: pd.DataFrame) -> pd.DataFrame:
    frame = events.copy()
    frame["treated"] = (frame["team"] == "multi").astype(int)
    frame["log_seed_length"] = np.log1p(frame["seed_length"].astype(float))
    frame["code_present"] = frame["code_present"].astype(float)
    frame["keyword_density"] = frame["keyword_density"].astype(float).fillna(0.0)
    frame["hour"] = frame["hour"].astype(float)
    frame["weekday"] = frame["weekday"].astype(float)
    frame["log_requester_karma"] = np.log1p(frame["requester_karma"].astype(float).clip(lower=0).fillna(0.0))
    frame["log_requester_prior_activity"] = np.log1p(frame["requester_prior_activity"].astype(float).fillna(0.0))
    frame["submolt"] = frame["submolt"].astype(str)
    frame["resolved"] = frame["resolved"].fillna(False).astype(int)
    return frame


def run_cooperation(con, config: CooperationConfig | None = None, *, build_marts: bool = True,
                    **settings) -> CooperationResult:
    """Task events, the matched comparison of multi- against single-agent threads, and the result tables.

    ``config`` holds the settings (:class:`~observatory.config.CooperationConfig`); any of them may be given as a
    keyword instead. With `build_marts` False, `task_events` is read as it stands (built on its own, as the Dagster
    asset does).
    """
    config = overridden(config, CooperationConfig, **settings)
    if build_marts:
        build_task_events(con, config)
    events = con.execute("SELECT * FROM task_events ORDER BY task_id").df()
    comparable = _prepare(events[events["team"].isin(["multi", "single"])]).reset_index(drop=True)
    n_multi = int((comparable["treated"] == 1).sum())
    n_single = int((comparable["treated"] == 0).sum())
    source = ", ".join(sorted(events["outcome_source"].unique())) if len(events) else "none"
    matcher = None
    arm = _status.MIN_TASKS_PER_ARM
    if n_multi < arm or n_single < arm:
        what = "no task threads (no tasks file, and no thread the task detector recognises)" if not len(events) else (
            f"{n_multi:,} multi-agent and {n_single:,} single-agent task threads")
        _status.record(con, "cooperation", f"{what}; matching needs at least {arm} of each")
    else:
        matcher = PropensityMatcher(
            caliper=config.caliper, exact="submolt" if config.exact_submolt else None, replace=config.replace,
            seed=config.seed, n_bootstrap=config.n_bootstrap, n_permutations=config.n_permutations,
        )
        has_quality = comparable["quality"].notna().all()
        matcher.fit(comparable, treatment="treated", covariates=list(COVARIATES),
                    outcome="quality" if has_quality else None, binary_outcome="resolved")
    rate = float(comparable["resolved"].mean()) if len(comparable) else None
    rate_multi = float(comparable.loc[comparable["treated"] == 1, "resolved"].mean()) if n_multi else None
    rate_single = float(comparable.loc[comparable["treated"] == 0, "resolved"].mean()) if n_single else None
    _write_tables(con, comparable, matcher)
    if matcher is not None:
        _status.record(con, "cooperation")
    return CooperationResult(matcher, len(events), n_multi, n_single, source, rate, rate_multi, rate_single)


def _write_tables(con, comparable: pd.DataFrame, matcher: PropensityMatcher | None) -> None:
    if matcher is None:
        frames = {"cooperation_matches": pd.DataFrame(columns=["pair_id", "treated_task_id", "control_task_id"]),
                  "cooperation_balance": pd.DataFrame(columns=["covariate", "smd_before", "smd_after"]),
                  "cooperation_outcomes": pd.DataFrame(columns=["quantity", "estimate", "ci_lower", "ci_upper"]),
                  "cooperation_designs": pd.DataFrame(columns=["design", "quantity", "estimate", "ci_lower",
                                                               "ci_upper"]),
                  "cooperation_overlap": pd.DataFrame(columns=["bin_lower", "bin_upper", "treated", "control"])}
    else:
        # matches_ holds index labels of the frame given to fit(): turn them into task ids.
        matches = matcher.matches_.copy()
        ids = comparable["task_id"]
        matches.insert(1, "treated_task_id", ids.loc[matches["treated"].to_numpy()].to_numpy())
        matches.insert(2, "control_task_id", ids.loc[matches["control"].to_numpy()].to_numpy())
        balance = matcher.balance_.reset_index()
        balance.columns = [str(c) for c in balance.columns]
        d = matcher.to_dict()
        m_naive, m_naive_ci = matcher.naive_rate_difference_, [float(x) for x in matcher.naive_rate_difference_ci_]
        rows = [
            ("n_treated", d["n_treated"], None, None), ("n_control", d["n_control"], None, None),
            ("n_matched", d["n_matched"], None, None), ("n_unmatched_treated", d["n_unmatched_treated"], None, None),
            ("success_rate_difference_naive", float(m_naive), *m_naive_ci),
            ("success_rate_difference_matched", d["rate_difference"], *d["rate_difference_ci"]),
            ("mcnemar_p_value", d["mcnemar_p_value"], None, None),
            ("quality_difference_matched", d["att"], *d["att_ci"]),
            ("quality_permutation_p_value", d["att_p_value"], None, None),
            ("quality_difference_naive", d["naive"], *d["naive_ci"]),
            ("cohens_d", d["cohens_d"], *d["cohens_d_ci"]),
            ("mde_quality_sd", d["mde"], None, None), ("mde_success_rate", d["mde_binary"], None, None),
            ("underpowered", float(d["underpowered"]), None, None),
            ("design_sensitive", float(matcher.design_sensitive_), None, None),
            ("share_treated_outside_trim", matcher.overlap_["share_treated_outside_trim"], None, None),
        ]
        outcomes = pd.DataFrame(rows, columns=["quantity", "estimate", "ci_lower", "ci_upper"])
        rates = matcher.success_rates_
        if rates is not None:
            rate_rows = rates.reset_index()
            rate_rows.columns = [str(c) for c in rate_rows.columns]
            frames_rates = rate_rows
        else:
            frames_rates = None
        designs = matcher.designs_ if matcher.designs_ is not None else pd.DataFrame(
            columns=["design", "quantity", "estimate", "ci_lower", "ci_upper"])
        frames = {"cooperation_matches": matches, "cooperation_balance": balance, "cooperation_outcomes": outcomes,
                  "cooperation_designs": designs, "cooperation_overlap": matcher.overlap_histogram_}
        if frames_rates is not None:
            frames["cooperation_success_rates"] = frames_rates
    for name, frame in frames.items():
        db.write_table(con, name, frame)
