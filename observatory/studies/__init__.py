"""Studies: the SQL marts -> an estimator -> result tables in the database. One ``run_*`` and one result type each;
their settings are the dataclasses of :mod:`observatory.config`.

=================  ==========================================================================================
``roles``          reply graph, per-agent features, role clustering (``run_roles`` -> ``RolesResult``)
``cascades``       items, adoptions, exposures and cascade trees as SQL marts (``build_cascades``)
``powerlaw``       the cascade-size distribution's power-law fit (``fit_cascade_sizes`` -> ``PowerLawFit``)
``adoption``       the exposure panel and its hazards (``run_adoption`` -> ``AdoptionResult``)
``cooperation``    multi-agent against matched single-agent tasks (``run_cooperation`` -> ``CooperationResult``)
``trends``         every headline per time window and its shifts (``run_trends`` -> ``TrendsResult``)
``coverage``       how often each interval covers a planted truth, over many simulated societies
=================  ==========================================================================================
"""

from observatory import _lazy

_EXPORTS = {
    "run_roles": "roles", "RolesResult": "roles", "compute_agent_features": "roles",
    "approximate_betweenness": "roles",
    "build_cascades": "cascades", "cascade_summary": "cascades",
    "fit_cascade_sizes": "powerlaw", "fit_file": "powerlaw", "read_values": "powerlaw",
    "run_adoption": "adoption", "AdoptionResult": "adoption",
    "run_cooperation": "cooperation", "CooperationResult": "cooperation",
    "run_trends": "trends", "TrendsResult": "trends",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
