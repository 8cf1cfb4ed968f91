"""The Molt Observatory: roles, cascades, adoption hazards and cooperation in populations of AI agents.

The public face. Names are imported on first use, so that `import observatory` (and the CLI) stays fast::

    from observatory import ingest_drop, run_roles, PowerLawFit, ExposureHazardModel, PropensityMatcher
"""

from __future__ import annotations

import sys

from observatory import _lazy

__version__ = "0.1.0"

_EXPORTS = {
    # database and ingest
    "connect": "db",
    "ingest_drop": "ingest",
    "IngestReport": "ingest",
    "IngestError": "ingest",
    # the simulated society
    "simulate": "simulate",
    "SimulationConfig": "simulate",
    "load_truth": "simulate",
    # estimators: a DataFrame in, a fitted object out
    "PowerLawFit": "estimators",
    "ExposureHazardModel": "estimators",
    "ExposureCurve": "estimators",
    "PropensityMatcher": "estimators",
    "RoleClustering": "estimators",
    # studies: SQL marts -> estimator -> result tables
    "run_roles": "studies",
    "RolesResult": "studies",
    "approximate_betweenness": "studies",
    "compute_agent_features": "studies",
    "build_cascades": "studies",
    "fit_cascade_sizes": "studies",
    "fit_file": "studies",
    "run_adoption": "studies",
    "run_cooperation": "studies",
    # each step's settings and defaults
    "RolesConfig": "config",
    "CascadeConfig": "config",
    "PowerLawConfig": "config",
    "AdoptionConfig": "config",
    "CooperationConfig": "config",
    # findings and report
    "collect_findings": "report",
    "write_report": "report",
}

# Modules that moved when the library was split into estimators and studies: their old paths still import, and
# each name warns where it lives now.
_MOVED = {
    "observatory._db": ("observatory.db",),
    "observatory._contract": ("observatory.contract",),
    "observatory._estimator": ("observatory.estimators.base",),
    "observatory.hazards": ("observatory.estimators.cox", "observatory.estimators.exposure_curve"),
    "observatory.matching": ("observatory.estimators.matching",),
    "observatory.powerlaw": ("observatory.estimators.powerlaw", "observatory.studies.powerlaw"),
    "observatory.roles": ("observatory.studies.roles", "observatory.estimators.roles"),
    "observatory.cascades": ("observatory.studies.cascades", "observatory.studies.powerlaw"),
    "observatory.adoption": ("observatory.studies.adoption",),
    "observatory.cooperation": ("observatory.studies.cooperation",),
    "observatory.coverage": ("observatory.studies.coverage",),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
if not any(isinstance(finder, _lazy.MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_lazy.MovedModules(_MOVED))
