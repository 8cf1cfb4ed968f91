"""Cooperation: multi-agent task threads against a matched single-agent baseline (observatory.studies.cooperation),
on the task events of `sql/marts/`."""

import dataclasses

import dagster as dg

from observatory.config import CooperationConfig
from observatory.studies.cooperation import run_cooperation
from pipelines.tables import key_for, step, study_asset

COOPERATION_KEYS = {name: key_for(name) for name in ("task_events", *step("cooperation").tables)}


def _metadata(result) -> dict:
    extra: dict = {name: {} for name in step("cooperation").tables}
    m = result.matcher
    if m is not None:
        extra["cooperation_outcomes"].update({
            "n_matched": int(m.n_matched_), "success_rate_difference": float(m.rate_difference_),
            "cohens_d": float(m.cohens_d_),
            "cohens_d_ci": dg.MetadataValue.json([round(float(x), 4) for x in m.cohens_d_ci_]),
            "underpowered": bool(m.underpowered_), "design_sensitive": bool(m.design_sensitive_),
            "warnings": dg.MetadataValue.json(list(m.warnings_)),
            "outcome_source": dg.MetadataValue.text(result.outcome_source),
        })
    return extra


cooperation = study_asset(
    "cooperation", {
        "cooperation_matches": "The matched sets: each multi-agent task event with its single-agent control(s), "
                               "propensity scores and outcomes.",
        "cooperation_balance": "Covariate balance before and after matching (standardised mean differences, "
                               "variance ratios).",
        "cooperation_outcomes": "The matched effect of cooperation on success and quality: estimate, interval, "
                                "p, power.",
        "cooperation_success_rates": "Success rates of each arm with Wilson intervals (when outcomes exist).",
        "cooperation_designs": "The effect under each matching design (calipers, replacement, trimming): "
                               "whether the design decides the answer.",
        "cooperation_overlap": "The propensity histogram of both arms before matching (overlap).",
    },
    lambda con, settings, context: run_cooperation(con, settings, build_marts=False),
    name="cooperation", summary="Propensity score -> 1:1 caliper matching -> balance, outcomes, power, design "
                                "sensitivity.",
    metadata=_metadata,
    plots={"cooperation_balance": "love_plot", "cooperation_outcomes": "effects_forest",
           "cooperation_designs": "design_forest", "cooperation_overlap": "propensity_overlap"},
    # The matching's choices; the task-detection thresholds configure the task_events asset.
    config_fields=[f.name for f in dataclasses.fields(CooperationConfig) if not f.name.startswith("task_")],
)
