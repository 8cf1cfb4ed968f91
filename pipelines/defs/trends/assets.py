"""The headlines over time (observatory.studies.trends): every headline quantity per window, and the shifts
flagged between consecutive windows."""

import dagster as dg

from observatory.studies.trends import run_trends
from pipelines.tables import key_for, study_asset

TRENDS_KEYS = {name: key_for(name) for name in ("headline_trends", "headline_shifts")}


def _metadata(result) -> dict:
    flagged = result.flagged
    return {
        "headline_trends": {"windows": len(result.windows), "window_days": float(result.window_days),
                            "quantities": dg.MetadataValue.json(
                                sorted(result.series["quantity"].unique().tolist()) if len(result.series) else [])},
        "headline_shifts": {"comparisons": int(result.detector.n_comparisons_), "flagged": len(flagged),
                            "level": float(result.detector.level),
                            "flagged_quantities": dg.MetadataValue.json(sorted(set(flagged["quantity"])))},
    }


trends = study_asset(
    "trends", {
        "headline_trends": "Every headline quantity per time window: estimate, 95% interval, standard error, n.",
        "headline_shifts": "Each pair of consecutive windows compared per quantity: z, p, Holm-adjusted p, whether "
                           "the shift is flagged and whether the intervals overlap.",
    },
    lambda con, settings, context: run_trends(con, settings, progress=context.log.info),
    name="trends", summary="Headlines per window -> consecutive-window z-tests -> Holm at a family-wise level.",
    metadata=_metadata,
)
