"""Adoption hazards: Cox models and the exposure curve (observatory.studies.adoption), on the panel of `sql/marts/`."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory.studies.adoption import run_adoption
from pipelines.tables import key_for, step_results, step_specs

ADOPTION_KEYS = {name: key_for(name)
                 for name in ("adoption_subjects", "adoption_panel", "adoption_cox", "exposure_curve")}


class AdoptionConfig(dg.Config):
    max_rows: int = 2_000_000  # above this, case-control sampling of non-event rows (weighted)
    max_exposures: int = 10
    seed: int = 0


@dg.multi_asset(
    specs=step_specs("adoption", {
        "adoption_cox": "Both Cox models (linear and log1p exposure): per term the hazard ratio with its "
                        "cluster-robust interval, p, the proportional-hazards test, concordance and the verdict.",
        "exposure_curve": "The adoption hazard by number of prior exposures (1..max), with intervals, and the "
                          "curvature test.",
    }),
    can_subset=False,
)
def adoption(context: dg.AssetExecutionContext, config: AdoptionConfig, duckdb: DuckDBResource):
    """Counting-process panel -> Cox (linear and log1p exposure, clustered SEs, PH test) -> exposure curve."""
    with duckdb.get_connection() as con:
        result = run_adoption(con, max_rows=config.max_rows, max_exposures=config.max_exposures, seed=config.seed,
                              progress=context.log.info, build_marts=False)
        extra: dict = {"adoption_cox": {}, "exposure_curve": {}}
        if result.linear is not None:
            lo, hi = result.linear.hazard_ratio_ci_
            extra["adoption_cox"].update({
                "hazard_ratio": float(result.linear.hazard_ratio_),
                "hazard_ratio_ci": dg.MetadataValue.json([round(float(lo), 4), round(float(hi), 4)]),
                "concordance": float(result.linear.concordance_), "events": result.n_events,
                "subjects": result.n_subjects, "verdict": dg.MetadataValue.text(result.verdict),
            })
        results = step_results(con, "adoption", extra,
                               plots={"adoption_cox": "hazard_forest", "exposure_curve": "exposure_curve"})
    context.log.info("\n" + result.summary())
    yield from results
