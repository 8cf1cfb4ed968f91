"""Adoption hazards: Cox models and the exposure curve (observatory.studies.adoption), on the panel of `sql/marts/`."""

import dagster as dg

from observatory.studies.adoption import run_adoption
from pipelines.tables import key_for, study_asset

ADOPTION_KEYS = {name: key_for(name)
                 for name in ("adoption_subjects", "adoption_panel", "adoption_cox", "exposure_curve")}


def _metadata(result) -> dict:
    extra: dict = {"adoption_cox": {}, "exposure_curve": {}}
    if result.linear is not None:
        lo, hi = result.linear.hazard_ratio_ci_
        extra["adoption_cox"].update({
            "hazard_ratio": float(result.linear.hazard_ratio_),
            "hazard_ratio_ci": dg.MetadataValue.json([round(float(lo), 4), round(float(hi), 4)]),
            "concordance": float(result.linear.concordance_), "events": result.n_events,
            "subjects": result.n_subjects, "verdict": dg.MetadataValue.text(result.verdict),
        })
    return extra


adoption = study_asset(
    "adoption", {
        "adoption_cox": "Both Cox models (linear and log1p exposure): per term the hazard ratio with its "
                        "cluster-robust interval, p, the proportional-hazards test, concordance and the verdict.",
        "exposure_curve": "The adoption hazard by number of prior exposures (1..max), with intervals, and the "
                          "curvature test.",
    },
    lambda con, settings, context: run_adoption(con, settings, progress=context.log.info, build_marts=False),
    name="adoption",
    summary="Counting-process panel -> Cox (linear and log1p exposure, clustered SEs, PH test) -> exposure curve.",
    metadata=_metadata, plots={"adoption_cox": "hazard_forest", "exposure_curve": "exposure_curve"},
)
