"""Adoption hazards on the database: the exposure panel (SQL), Cox models and the exposure curve.

The study fitted a Cox model with exposure as its only covariate on the 100 largest cascades, censoring
non-adopters at the cascade's last adoption, and reported a hazard ratio of 0.53; a replication found 1.009. Here
the panel covers every (agent, item) pair with an exposure, non-adopters are censored at the end of the observation
window, the agent's activity, in-degree and structural role and the item's adopters so far and age are covariates,
standard errors are clustered by agent, and the proportional-hazards assumption is tested. The exposure curve and the study's
saturation test turn the numbers into a computed verdict.

Tables written: `adoption_subjects`, `adoption_panel`, `adoption_cox` (one row per model and term),
`exposure_curve` (one row per k).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from observatory import _status, db
from observatory.config import AdoptionConfig, overridden
from observatory.estimators.cox import ExposureHazardModel
from observatory.estimators.exposure_curve import ExposureCurve, exposure_pairs_from_panel
from observatory.studies.base import StudyResult

__all__ = ["AdoptionResult", "build_adoption_panel", "run_adoption", "independent_covariates", "DEFAULT_COVARIATES"]

DEFAULT_COVARIATES = ("log_activity", "log_in_degree", "log_item_adopters_before", "item_age_days")


def build_adoption_panel(con, *, build_marts: bool = True) -> pd.DataFrame:
    """(Re)build `adoption_subjects` and `adoption_panel` and return the panel with its model covariates.

    Needs the cascade tables (`exposures`, `adoptions`, `items`) and `agent_activity`. The in-degree comes from
    `agent_features` when the roles step has run (0 otherwise, and the covariate is then dropped from the model).
    """
    db.configure(con)
    if build_marts:  # False where the marts are built on their own (the Dagster assets of sql/marts/)
        db.build_table(con, "adoption_subjects")
        db.build_table(con, "adoption_panel")
    has_features, has_roles = db.table_exists(con, "agent_features"), db.table_exists(con, "agent_roles")
    in_degree = "coalesce(f.in_degree, 0)" if has_features else "0"
    joins = ("LEFT JOIN agent_features f ON f.agent_id = p.agent_id " if has_features else "") + (
        "LEFT JOIN agent_roles r ON r.agent_id = p.agent_id " if has_roles else "")
    # Roles enter as indicators against the periphery (the largest group), one per other role found.
    roles = [row[0] for row in con.execute(
        "SELECT DISTINCT role FROM agent_roles WHERE active AND role <> 'periphery' ORDER BY role").fetchall()] \
        if has_roles else []
    role_columns = "".join(
        f", CAST(coalesce(r.role, '') = ? AS DOUBLE) AS \"role_{_identifier(role)}\"" for role in roles)
    return con.execute(
        f"""
        SELECT p.agent_id, p.item AS item_id, p.first_exposed_at, p.start, p.stop, p.event, p.exposures,
               p.log_activity,
               ln(1 + {in_degree}) AS log_in_degree, ln(1 + p.item_adopters_before) AS log_item_adopters_before,
               p.item_age_hours / 24.0 AS item_age_days, i.kind AS item_kind {role_columns}
        FROM adoption_panel p LEFT JOIN items i ON i.item = p.item {joins}
        ORDER BY p.agent_id, p.item, p.start
        """,
        roles,
    ).df()


def independent_covariates(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The covariate columns, in order, each kept only if it is not a linear combination of a constant, the
    exposures and those kept before it (where no subject is peripheral the role indicators sum to one: the Cox
    model cannot have them all).

    >>> f = pd.DataFrame({"exposures": [1, 2, 3, 1], "role_a": [1, 0, 1, 0], "role_b": [0, 1, 0, 1]})
    >>> independent_covariates(f, ["role_a", "role_b"])
    ['role_a']
    """
    kept: list[str] = []
    basis = np.column_stack([np.ones(len(frame)), frame["exposures"].to_numpy(dtype=float)])
    for column in columns:
        trial = np.column_stack([basis, frame[column].to_numpy(dtype=float)])
        if np.linalg.matrix_rank(trial) > basis.shape[1]:
            kept.append(column)
            basis = trial
    return kept


def _identifier(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower())


@dataclass
class AdoptionResult(StudyResult):
    """The adoption analysis: Cox models (linear and log1p exposure) and the exposure curve."""

    linear: ExposureHazardModel | None
    log1p: ExposureHazardModel | None
    curve: ExposureCurve | None
    covariates: list[str]
    n_rows: int
    n_subjects: int
    n_events: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.curve.verdict_ if self.curve is not None else "not computed"

    def _text(self) -> str:
        if self.linear is None:
            return f"adoption: {self.n_subjects:,} exposed (agent, item) pairs, {self.n_events:,} adoptions: too few to fit"
        m = self.linear
        lo, hi = m.hazard_ratio_ci_
        lines = [
            f"panel: {self.n_rows:,} intervals, {self.n_subjects:,} exposed (agent, item) pairs, "
            f"{self.n_events:,} adoptions; censoring at the end of the observation window",
            f"Cox, per additional exposure: HR {m.hazard_ratio_:.3f} [{lo:.3f}, {hi:.3f}] (95%, SEs clustered by agent), "
            f"p = {m.p_value_:.3g}, concordance {m.concordance_:.3f}; covariates: {', '.join(self.covariates) or 'none'}"
            + (f"; case-control sampled: {m.sampling_}" if m.sampling_ else ""),
        ]
        if self.log1p is not None:
            l2, h2 = self.log1p.hazard_ratio_ci_
            lines.append(f"Cox, per unit of log(1 + k): HR {self.log1p.hazard_ratio_:.3f} [{l2:.3f}, {h2:.3f}]")
        ph = m.ph_test_
        lines.append("proportional-hazards test (Schoenfeld, rank time): " + ", ".join(
            f"{term} p = {row['p']:.3g}" for term, row in ph.iterrows()))
        if self.curve is not None:
            c = self.curve
            lines.append(f"exposure curve: k^2 coefficient {c.curvature_coef_:.4g} (p = {c.curvature_p_value_:.3g}); "
                         f"verdict: {c.verdict_} ({c.verdict_reason_})")
            lines.append(c.table_.round(4).to_string())
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {"n_rows": self.n_rows, "n_subjects": self.n_subjects, "n_events": self.n_events,
               "covariates": self.covariates, "verdict": self.verdict}
        if self.linear is not None:
            out["linear"] = self.linear.to_dict()
        if self.log1p is not None:
            out["log1p"] = self.log1p.to_dict()
        if self.curve is not None:
            out["curve"] = self.curve.to_dict()
        return out


def _cox_rows(model: ExposureHazardModel, name: str) -> pd.DataFrame:
    terms = model.coefficients_
    return pd.DataFrame({
        "model": name,
        "term": terms.index,
        **{column: terms[column].to_numpy() for column in ("coef", "se", "hazard_ratio", "ci_lower", "ci_upper", "p",
                                                          "ph_test_statistic", "ph_test_p")},
        "concordance": model.concordance_,
        "events": model.n_events_,
        "subjects": model.n_subjects_,
        "rows": model.n_rows_,
        "rows_in_panel": model.n_rows_panel_,
        "sampling": "none" if model.sampling_ is None else f"case-control p={model.sampling_['probability']:.6g}",
    })


def run_adoption(
    con,
    config: AdoptionConfig | None = None,
    *,
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    min_events: int = _status.MIN_ADOPTIONS,
    progress: Callable[[str], None] | None = None,
    build_marts: bool = True,
    **settings,
) -> AdoptionResult:
    """Build the panel, fit both Cox models and the exposure curve, write `adoption_cox` and `exposure_curve`.

    ``config`` holds the settings (:class:`~observatory.config.AdoptionConfig`); any of them may be given as a
    keyword instead (``run_adoption(con, seed=3)``)."""
    config = overridden(config, AdoptionConfig, **settings)
    max_rows, max_exposures, seed = config.max_rows, config.max_exposures, config.seed
    say = progress or (lambda message: None)
    timings = {}
    started = time.perf_counter()
    say("exposure panel (SQL)")
    panel = build_adoption_panel(con, build_marts=build_marts)
    timings["panel"] = time.perf_counter() - started
    # A covariate that does not vary cannot be estimated (e.g. in-degree before the roles step has run). Role
    # indicators, when the roles step has run, join the covariates.
    candidates = list(covariates) + [c for c in panel.columns if c.startswith("role_")]
    used = independent_covariates(panel, [c for c in candidates if c in panel and panel[c].nunique() > 1])
    n_subjects = int(panel.groupby(["agent_id", "item_id"]).ngroups) if len(panel) else 0
    n_events = int(panel["event"].sum()) if len(panel) else 0
    linear = log1p = curve = None
    if n_events >= min_events:
        started = time.perf_counter()
        say(f"Cox model, linear exposure ({len(panel):,} rows)")
        linear = ExposureHazardModel("linear", max_rows=max_rows, seed=seed).fit(panel, covariates=used)
        say("Cox model, log(1 + exposures)")
        log1p = ExposureHazardModel("log1p", max_rows=max_rows, seed=seed).fit(panel, covariates=used)
        timings["cox"] = time.perf_counter() - started
        started = time.perf_counter()
        say("exposure curve")
        curve = ExposureCurve(max_exposures=max_exposures).fit(exposure_pairs_from_panel(panel),
                                                            hazard_ratio_ci=linear.hazard_ratio_ci_)
        timings["curve"] = time.perf_counter() - started

    if linear is None:
        # No estimate: the tables are removed (an empty table would read as "no effect") and the step says why.
        for name in ("adoption_cox", "exposure_curve"):
            con.execute(f"DROP TABLE IF EXISTS {name}")
        _status.record(con, "adoption", f"{n_events:,} adoptions after exposure among {n_subjects:,} exposed "
                       f"(agent, item) pairs; the Cox models need at least {min_events}")
        return AdoptionResult(linear, log1p, curve, used, len(panel), n_subjects, n_events, timings)
    cox = pd.concat([_cox_rows(linear, "linear"), _cox_rows(log1p, "log1p")], ignore_index=True)
    curve_table = curve.table_.reset_index()
    curve_table["verdict"] = curve.verdict_
    curve_table["curvature_coef"] = curve.curvature_coef_
    curve_table["curvature_p_value"] = curve.curvature_p_value_
    for name, frame in (("adoption_cox", cox), ("exposure_curve", curve_table)):
        db.write_table(con, name, frame)
    _status.record(con, "adoption")
    return AdoptionResult(linear, log1p, curve, used, len(panel), n_subjects, n_events, timings)
