"""Prompt injections and coordinated accounts (observatory.studies.injection), on the cascade tables, the adoption
panel and the roles."""

import dagster as dg

from observatory.studies.injection import run_injection
from pipelines.tables import key_for, step, study_asset

INJECTION_KEYS = {name: key_for(name) for name in step("injection").tables}


def _metadata(result) -> dict:
    extra: dict = {name: {} for name in step("injection").tables}
    extra["injection_items"].update({
        "families": len(result.items), "agents_who_wrote_one": result.injection_adopters,
        "share_of_active_agents": float(result.share_repeating) if result.active_agents else 0.0,
    })
    for row in result.hazards.itertuples():
        if row.hazard_ratio == row.hazard_ratio:  # not NaN
            extra["injection_hazards"][f"hazard_ratio_{row.items_group}_{row.accounts.replace(' ', '_')}"] = \
                float(row.hazard_ratio)
    differing = result.sensitivity[result.sensitivity["differs"]]["quantity"].tolist()
    extra["coordination_sensitivity"].update({
        "coordinated_accounts": result.coordinated_accounts,
        "quantities_that_differ": dg.MetadataValue.json(differing),
    })
    return extra


injection = study_asset(
    "injection", {
        "injection_items": "Per prompt-injection payload family: uses, adopters (and how many are flagged as "
                           "coordinated), exposed agents, cascades, the largest cascade, first and last seen.",
        "injection_hazards": "The Cox hazard ratio per additional exposure for injection items beside ordinary "
                             "items, with every account and without the coordinated ones.",
        "coordination_sensitivity": "The headline quantities with every account and without the accounts flagged "
                                    "as coordinated, with intervals, and whether they differ.",
    },
    lambda con, settings, context: run_injection(con, settings, progress=context.log.info, build_marts=False),
    name="injection",
    summary="Injection families -> their cascades and hazard beside ordinary items -> every headline with and "
            "without the coordinated accounts.",
    metadata=_metadata,
)
