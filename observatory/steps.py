"""The analyses in dependency order: the one definition `observatory run` follows and the Dagster graph is checked
against (tests/test_pipelines.py).

Each step reads the clean tables (or an earlier step's tables) from one DuckDB connection and writes its own
result tables; ``after`` names the steps whose tables it reads. Ingest comes first and the report last; both are
run by their callers (the CLI's `run`, the Dagster assets), which own the drop paths and the output folder.

A step writes two kinds of table: ``sql`` names the marts of `sql/marts/` it builds (in build order; what each
reads is parsed from its SQL, see :mod:`observatory.sqlmodels`), ``tables`` the result tables its Python writes,
each with the relations it is computed from. The Dagster definitions make one asset of each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from observatory.config import (
    AdoptionConfig,
    CascadeConfig,
    CooperationConfig,
    PowerLawConfig,
    RolesConfig,
    TrendsConfig,
)

__all__ = ["Step", "STEPS", "PYTHON_TABLES", "ordered", "build_agent_activity"]


@dataclass(frozen=True)
class Step:
    """One analysis step. ``run(con, progress, config)`` runs it with ``config``, an instance of ``settings``
    (the step's settings dataclass, :mod:`observatory.config`; None for a step without settings), and returns a
    one-line summary."""

    name: str
    description: str
    after: tuple[str, ...]
    run: Callable = field(repr=False)
    sql: tuple[str, ...] = ()
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    settings: type | None = None

    def configured(self, **values):
        """The step's default settings with those of ``values`` it has replaced (``seed`` applies to every step with
        a seed); None for a step without settings."""
        if self.settings is None:
            return None
        names = {f.name for f in dataclasses.fields(self.settings)}
        return self.settings(**{k: v for k, v in values.items() if k in names})


def build_agent_activity(con, config: CascadeConfig | None = None) -> int:
    """(Re)build `duplicate_texts` and `agent_activity` (whose `coordinated` flag reads it); returns the agents."""
    from observatory import db

    db.build_table(con, "duplicate_texts", dataclasses.asdict(config or CascadeConfig()))
    return db.build_table(con, "agent_activity")


def _agent_activity(con, progress, config):
    return f"{build_agent_activity(con, config):,} agents"


def _roles(con, progress, config):
    from observatory.studies.roles import run_roles

    result = run_roles(con, config, progress=progress)
    return f"k = {result.k}, silhouette {result.silhouette:.3f}" if result.k else "not estimable"


def _cascades(con, progress, config):
    from observatory.studies.cascades import build_cascades

    counts = build_cascades(con, config)
    return ", ".join(f"{n:,} {name}" for name, n in counts.items() if name in ("cascades", "adoptions"))


def _powerlaw(con, progress, config):
    from observatory.studies.powerlaw import fit_cascade_sizes

    fit = fit_cascade_sizes(con, config, progress=lambda step, done, total: progress(f"{step} {done:,}/{total:,}"))
    return "not estimable" if fit is None else f"alpha {fit.alpha_:.3f}, p {fit.p_value_:.3f}"


def _adoption(con, progress, config):
    from observatory.studies.adoption import run_adoption

    result = run_adoption(con, config, progress=progress)
    model = result.linear
    return "not estimable" if model is None else f"HR {model.hazard_ratio_:.3f}"


def _cooperation(con, progress, config):
    from observatory.studies.cooperation import run_cooperation

    result = run_cooperation(con, config)
    m = result.matcher
    return "not estimable" if m is None else f"{m.n_matched_:,} matched sets"


def _injection(con, progress, config):
    from observatory.studies.injection import run_injection

    result = run_injection(con, config, progress=progress)
    return (f"{len(result.items)} injection families, {result.injection_adopters:,} agents wrote one, "
            f"{result.coordinated_accounts:,} coordinated accounts")


def _trends(con, progress, config):
    from observatory.studies.trends import run_trends

    result = run_trends(con, config, progress=progress)
    flagged = len(result.flagged)
    return (f"{len(result.windows)} windows of {result.window_days:g} d, {len(result.series)} estimates, "
            f"{flagged} shift{'s' if flagged != 1 else ''} flagged")


STEPS = (
    Step("agent_activity", "population: agent activity", (), _agent_activity, settings=CascadeConfig,
         sql=("duplicate_texts", "agent_activity")),
    Step("roles", "structural roles", ("agent_activity",), _roles, settings=RolesConfig,
         sql=("interaction_edges", "vote_edges", "agent_activity_features"),
         tables={"agent_features": ("agent_activity_features", "interaction_edges"),
                 "agent_roles": ("agent_features", "agents"),
                 "role_profiles": ("agent_roles", "agent_features"),
                 "role_k_selection": ("agent_features",)}),
    # Near-identical texts (built with the agents' activity) are items too when configured.
    Step("cascades", "cascade tables", ("agent_activity",), _cascades, settings=CascadeConfig,
         sql=("item_mentions", "adoptions", "exposures", "cascade_edges", "cascade_nodes", "cascades", "items")),
    Step("powerlaw", "power-law fit of cascade sizes", ("cascades",), _powerlaw, settings=PowerLawConfig,
         tables={"cascade_powerlaw": ("cascades",), "cascade_powerlaw_comparisons": ("cascades",),
                 "cascade_ccdf": ("cascades",)}),
    # Adoption reads the roles (their indicators are covariates) and the exposures of the cascade tables.
    Step("adoption", "adoption hazards", ("agent_activity", "roles", "cascades"), _adoption, settings=AdoptionConfig,
         sql=("adoption_subjects", "adoption_panel"),
         tables={"adoption_cox": ("adoption_panel", "agent_features", "agent_roles"),
                 "exposure_curve": ("adoption_panel", "agent_features", "agent_roles")}),
    Step("cooperation", "cooperation against a matched baseline", (), _cooperation, sql=("task_events",),
         settings=CooperationConfig,
         tables={name: ("task_events",) for name in (
             "cooperation_matches", "cooperation_balance", "cooperation_outcomes", "cooperation_success_rates",
             "cooperation_designs", "cooperation_overlap")}),
    # Prompt injections beside ordinary items, and every headline with and without the coordinated accounts.
    Step("injection", "prompt injections and coordinated accounts", ("agent_activity", "roles", "powerlaw",
                                                                      "adoption"), _injection,
         settings=AdoptionConfig,
         tables={"injection_items": ("items", "adoptions", "agent_activity"),
                 "injection_hazards": ("adoption_panel", "items", "agent_activity", "agent_features", "agent_roles"),
                 "coordination_sensitivity": ("cascade_nodes", "cascade_powerlaw", "agent_activity",
                                              "agent_features", "agent_roles", "adoption_panel")}),
    # Every headline per time window, after the analyses whose definitions (roles, xmin, covariates) it reuses.
    Step("trends", "headlines over time", ("roles", "powerlaw", "adoption", "cooperation"), _trends,
         settings=TrendsConfig,
         tables={"headline_trends": ("agent_roles", "comments", "posts", "adoption_panel", "agent_features",
                                     "cascades", "cascade_powerlaw", "task_events"),
                 "headline_shifts": ("headline_trends",)}),
)

# Every result table a step's Python writes, and the relations it is computed from.
PYTHON_TABLES = {name: reads for step in STEPS for name, reads in step.tables.items()}


def ordered(steps=STEPS) -> list[Step]:
    """The steps in an order that runs every step after those it reads (stable: ties keep the listed order)."""
    by_name = {s.name: s for s in steps}
    done: list[Step] = []
    seen: set[str] = set()

    def visit(step, path=()):
        if step.name in seen:
            return
        if step.name in path:
            raise ValueError(f"steps depend on each other in a cycle: {' -> '.join((*path, step.name))}")
        for name in step.after:
            visit(by_name[name], (*path, step.name))
        seen.add(step.name)
        done.append(step)

    for step in steps:
        visit(step)
    return done
