"""Prompt injections and coordinated accounts: how injections spread, and what the flagged accounts do to the
other analyses.

The injection items (`injection:<family>`, one per payload family of the detector in
`sql/macros/injection_families.sql`) are cascade items like any other; this study reads the cascade tables, the
adoption panel and the roles, and writes:

* `injection_items`: per injection family its uses, adopters (and how many of them are flagged as coordinated),
  exposed agents, cascades, the largest cascade and when it was first and last seen;
* `injection_hazards`: the Cox hazard ratio per additional exposure for injection items beside ordinary items (URLs,
  hashtags, mentions, code spans, memes), each with every account and without the subjects flagged as coordinated;
* `coordination_sensitivity`: the headline quantities computed with every account and without the accounts
  `agent_activity` flags as coordinated (their posts, comments and adoptions left out), with an interval where the
  quantity has one, and whether the two differ (the intervals do not overlap, or a count changes by more than 10%).

Nothing is filtered silently: the main analyses keep every account; these tables say how much the flagged ones
move the answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from observatory import _status, db
from observatory.config import AdoptionConfig, overridden
from observatory.estimators.cox import ExposureHazardModel
from observatory.studies.adoption import DEFAULT_COVARIATES, build_adoption_panel, independent_covariates
from observatory.studies.base import StudyResult

__all__ = ["InjectionResult", "run_injection", "ORDINARY_KINDS_EXCLUDED"]

# Item kinds that are not "ordinary" content: the injections themselves and near-identical texts (spam).
ORDINARY_KINDS_EXCLUDED = ("injection", "duplicate")
_Z = 1.959963984540054


@dataclass
class InjectionResult(StudyResult):
    """The injection study's tables, as frames."""

    items: pd.DataFrame
    hazards: pd.DataFrame
    sensitivity: pd.DataFrame
    active_agents: int
    injection_adopters: int
    coordinated_accounts: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def share_repeating(self) -> float:
        """Share of the active agents that ever wrote an injection."""
        return self.injection_adopters / self.active_agents if self.active_agents else math.nan

    def _text(self) -> str:
        lines = [f"injections: {len(self.items)} payload families found; {self.injection_adopters:,} of "
                 f"{self.active_agents:,} active agents ({self.share_repeating:.2%}) ever wrote one; "
                 f"{self.coordinated_accounts:,} accounts flagged as coordinated"]
        for row in self.hazards.itertuples():
            if pd.notna(row.hazard_ratio):
                lines.append(f"  HR per exposure, {row.items_group} items, {row.accounts}: {row.hazard_ratio:.3f} "
                             f"[{row.ci_lower:.3f}, {row.ci_upper:.3f}] ({row.events:,} adoptions)")
        differing = self.sensitivity[self.sensitivity["differs"]]
        lines.append(f"  without the coordinated accounts: {len(differing)} of {len(self.sensitivity)} quantities "
                     "differ" + (": " + ", ".join(differing["quantity"]) if len(differing) else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "active_agents": self.active_agents, "injection_adopters": self.injection_adopters,
            "share_repeating": None if math.isnan(self.share_repeating) else self.share_repeating,
            "coordinated_accounts": self.coordinated_accounts,
            "items": self.items.to_dict("records"), "hazards": self.hazards.to_dict("records"),
            "sensitivity": self.sensitivity.to_dict("records"),
        }


def _items(con) -> pd.DataFrame:
    return con.execute(
        """
        SELECT i.item, substr(i.item, length('injection:') + 1) AS family, i.mentions, i.adopters,
               count(a.agent_id) FILTER (WHERE coalesce(act.coordinated, false)) AS coordinated_adopters,
               i.exposed_agents, i.exposures, i.cascades, i.largest_cascade, i.first_seen, i.last_seen
        FROM items i
        LEFT JOIN adoptions a ON a.item = i.item
        LEFT JOIN agent_activity act ON act.agent_id = a.agent_id
        WHERE i.kind = 'injection'
        GROUP BY ALL
        ORDER BY i.adopters DESC, i.mentions DESC, i.item
        """
    ).df()


def _fit(panel: pd.DataFrame, config: AdoptionConfig, min_events: int) -> ExposureHazardModel | None:
    if len(panel) == 0 or int(panel["event"].sum()) < min_events:
        return None
    candidates = list(DEFAULT_COVARIATES) + [c for c in panel.columns if c.startswith("role_")]
    used = independent_covariates(panel, [c for c in candidates if c in panel and panel[c].nunique() > 1])
    try:
        return ExposureHazardModel("linear", max_rows=config.max_rows, seed=config.seed).fit(panel, covariates=used)
    except Exception:  # noqa: BLE001 - a subset on which the model does not converge has no estimate
        return None


def _estimate(model: ExposureHazardModel | None) -> dict | None:
    if model is None:
        return None
    lo, hi = model.hazard_ratio_ci_
    return {"hazard_ratio": float(model.hazard_ratio_), "ci_lower": float(lo), "ci_upper": float(hi),
            "p": float(model.p_value_), "log_hr_se": float(model.coefficients_.loc["exposures", "se"])}


def _stored_pooled(con) -> dict | None:
    """The adoption step's linear model (`adoption_cox`): the same covariates, settings and panel."""
    if not db.table_exists(con, "adoption_cox"):
        return None
    got = con.execute("SELECT hazard_ratio, ci_lower, ci_upper, p, se FROM adoption_cox "
                      "WHERE model = 'linear' AND term = 'exposures'").fetchall()
    if not got:
        return None
    return dict(zip(("hazard_ratio", "ci_lower", "ci_upper", "p", "log_hr_se"), map(float, got[0])))


def _hazards(panel: pd.DataFrame, coordinated: set, config: AdoptionConfig, min_events: int,
             pooled: dict | None = None) -> pd.DataFrame:
    """One row per items group and accounts. A subset that is the whole panel is the adoption step's own model
    (``pooled``, when given), and a subset equal to the one before it is not fitted twice."""
    rows = []
    kind = panel["item_kind"] if len(panel) else pd.Series(dtype=str)
    groups = {"ordinary": panel[~kind.isin(ORDINARY_KINDS_EXCLUDED)], "injection": panel[kind == "injection"]}
    for group, part in groups.items():
        previous = None
        for accounts, subset in (("all accounts", part),
                                 ("without coordinated", part[~part["agent_id"].isin(coordinated)])):
            if previous is not None and len(subset) == len(previous[0]):
                estimate = previous[1]  # no flagged subject: the same rows
            elif pooled is not None and len(subset) == len(panel) > 0:
                estimate = pooled
            else:
                estimate = _estimate(_fit(subset, config, min_events))
            previous = (subset, estimate)
            row = {"items_group": group, "accounts": accounts,
                   "items": int(subset["item_id"].nunique()) if len(subset) else 0,
                   "subjects": int(subset.groupby(["agent_id", "item_id"]).ngroups) if len(subset) else 0,
                   "events": int(subset["event"].sum()) if len(subset) else 0,
                   "hazard_ratio": math.nan, "ci_lower": math.nan, "ci_upper": math.nan, "p": math.nan,
                   "log_hr_se": math.nan}
            if estimate is not None:
                row.update(estimate)
            rows.append(row)
    return pd.DataFrame(rows)


def _cascade_sizes(con, exclude: bool) -> np.ndarray:
    """Cascade sizes, optionally counting only the adopters who are not flagged (a cascade left empty is gone)."""
    where = "WHERE NOT coalesce(act.coordinated, false)" if exclude else ""
    return con.execute(
        f"""
        SELECT count(*) AS size
        FROM cascade_nodes n LEFT JOIN agent_activity act ON act.agent_id = n.agent_id
        {where}
        GROUP BY n.cascade_id
        """
    ).fetchnumpy()["size"].astype(float)


def _alpha(sizes: np.ndarray, xmin: float | None):
    from observatory.estimators.powerlaw import PowerLawFit

    if xmin is None or (sizes >= xmin).sum() < _status.MIN_CASCADES:
        return math.nan, math.nan
    # Only alpha is wanted: no alternative is fitted (the discrete ones' normalisers are most of a fit's time).
    fit = PowerLawFit(discrete=True, xmin=xmin, n_bootstrap=0, alternatives=()).fit(sizes)
    return float(fit.alpha_), float(fit.alpha_se_)


def _row(quantity, with_all, se_all, without, se_without, *, kind="estimate"):
    differs = False
    if kind == "estimate" and all(np.isfinite([with_all, se_all, without, se_without])):
        differs = (abs(with_all - without) > _Z * se_all + _Z * se_without)  # the 95% intervals do not overlap
    elif kind == "count" and np.isfinite(with_all) and np.isfinite(without):
        differs = abs(with_all - without) > 0.1 * max(abs(with_all), 1.0)
    ci = (lambda v, s: (v - _Z * s, v + _Z * s) if np.isfinite(s) else (math.nan, math.nan))
    lo_a, hi_a = ci(with_all, se_all)
    lo_w, hi_w = ci(without, se_without)
    return {"quantity": quantity, "all_accounts": with_all, "all_ci_lower": lo_a, "all_ci_upper": hi_a,
            "without_coordinated": without, "without_ci_lower": lo_w, "without_ci_upper": hi_w,
            "differs": bool(differs)}


def _sensitivity(con, hazards: pd.DataFrame) -> pd.DataFrame:
    rows = []
    xmin = None
    if db.table_exists(con, "cascade_powerlaw"):
        got = con.execute("SELECT xmin FROM cascade_powerlaw").fetchall()
        xmin = got[0][0] if got else None
    if db.table_exists(con, "cascade_nodes"):
        full, reduced = _cascade_sizes(con, False), _cascade_sizes(con, True)
        rows.append(_row("cascades", float(full.size), math.nan, float(reduced.size), math.nan, kind="count"))
        rows.append(_row("largest cascade", float(full.max(initial=0)), math.nan, float(reduced.max(initial=0)),
                         math.nan, kind="count"))
        rows.append(_row("power-law alpha (at the whole run's x_min)", *_alpha(full, xmin), *_alpha(reduced, xmin)))
    ordinary = hazards[hazards["items_group"] == "ordinary"].set_index("accounts")
    if len(ordinary) == 2:
        a, w = ordinary.loc["all accounts"], ordinary.loc["without coordinated"]
        rows.append(_row("log hazard ratio per exposure (ordinary items)",
                         math.log(a.hazard_ratio) if a.hazard_ratio > 0 else math.nan, a.log_hr_se,
                         math.log(w.hazard_ratio) if w.hazard_ratio > 0 else math.nan, w.log_hr_se))
    if db.table_exists(con, "agent_features"):
        # Hubs: the most-replied-to 1% of active agents, and the largest in-degree.
        top = con.execute(
            """
            WITH ranked AS (
                SELECT f.agent_id, f.in_degree, coalesce(a.coordinated, false) AS coordinated,
                       percent_rank() OVER (ORDER BY f.in_degree DESC) AS rank
                FROM agent_features f LEFT JOIN agent_activity a USING (agent_id)
            )
            SELECT max(in_degree), max(in_degree) FILTER (WHERE NOT coordinated),
                   count(*) FILTER (WHERE rank < 0.01), count(*) FILTER (WHERE rank < 0.01 AND coordinated)
            FROM ranked
            """).fetchall()[0]
        rows.append(_row("largest in-degree", float(top[0] or 0), math.nan, float(top[1] or 0), math.nan,
                         kind="count"))
        rows.append(_row("top-1% hubs", float(top[2]), math.nan, float(top[2] - top[3]), math.nan, kind="count"))
    if db.table_exists(con, "agent_roles"):
        for role, share_all, n_all, share_without, n_without in con.execute(
            """
            WITH r AS (
                SELECT r.role, coalesce(a.coordinated, false) AS coordinated
                FROM agent_roles r LEFT JOIN agent_activity a USING (agent_id) WHERE r.active
            ), counts AS (
                SELECT role, count(*) AS n_all, count(*) FILTER (WHERE NOT coordinated) AS n_without FROM r GROUP BY role
            )
            SELECT role, n_all / sum(n_all) OVER (), sum(n_all) OVER (),
                   n_without / nullif(sum(n_without) OVER (), 0), sum(n_without) OVER ()
            FROM counts ORDER BY role
            """).fetchall():
            se = (lambda p, n: math.sqrt(p * (1 - p) / n) if n and p is not None else math.nan)
            rows.append(_row(f"share of role {role}", share_all, se(share_all, n_all),
                             share_without if share_without is not None else math.nan, se(share_without, n_without)))
    columns = ["quantity", "all_accounts", "all_ci_lower", "all_ci_upper", "without_coordinated", "without_ci_lower",
               "without_ci_upper", "differs"]
    return pd.DataFrame(rows, columns=columns)


def run_injection(con, config: AdoptionConfig | None = None, *, min_events: int = _status.MIN_ADOPTIONS,
                  progress=None, build_marts: bool = True, **settings) -> InjectionResult:
    """Write `injection_items`, `injection_hazards` and `coordination_sensitivity` (module docstring).

    Needs the cascade tables and `agent_activity`; the adoption panel is built when missing (``build_marts``), and
    the roles' and the power-law fit's tables are used when they exist. Where a subset is the whole panel (no
    injection item, no flagged subject) the adoption step's linear model (`adoption_cox`) is its estimate."""
    config = overridden(config, AdoptionConfig, **settings)
    say = progress or (lambda message: None)
    db.configure(con)
    say("injection families")
    items = _items(con)
    active, coordinated_count = con.execute(
        "SELECT count(*) FILTER (WHERE active), count(*) FILTER (WHERE coordinated) FROM agent_activity"
    ).fetchall()[0]
    adopters = con.execute(
        "SELECT count(DISTINCT agent_id) FROM adoptions WHERE kind = 'injection'").fetchall()[0][0]
    coordinated = {row[0] for row in con.execute("SELECT agent_id FROM agent_activity WHERE coordinated").fetchall()}
    say("hazard ratios: injection and ordinary items, with and without coordinated accounts")
    build = build_marts and not db.table_exists(con, "adoption_panel")
    pooled = _stored_pooled(con)
    others = con.execute("SELECT count(*) FROM items WHERE list_contains(?, kind)",
                         [list(ORDINARY_KINDS_EXCLUDED)]).fetchall()[0][0]
    if pooled is not None and not others and not coordinated and not build:
        # Every item is ordinary and no account is flagged: each subset is the whole panel, whose model the adoption
        # step has fitted; the panel is only counted.
        panel = con.execute("SELECT agent_id, item AS item_id, event, 'ordinary' AS item_kind "
                            "FROM adoption_panel").df()
    else:
        panel = build_adoption_panel(con, build_marts=build)
    hazards = _hazards(panel, coordinated, config, min_events, pooled)
    say("with and without coordinated accounts")
    sensitivity = _sensitivity(con, hazards)
    for name, frame in (("injection_items", items), ("injection_hazards", hazards),
                        ("coordination_sensitivity", sensitivity)):
        db.write_table(con, name, frame)
    short = [f"{row.items_group} items ({row.events:,} adoptions after exposure)" for row in hazards.itertuples()
             if row.accounts == "all accounts" and not row.hazard_ratio == row.hazard_ratio]
    _status.record(con, "injection", note=(
        f"no hazard ratio for {' or '.join(short)}: the Cox model needs at least {min_events}" if short else None))
    return InjectionResult(items, hazards, sensitivity, int(active), int(adopters), int(coordinated_count))
