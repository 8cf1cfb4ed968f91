"""The Molt Observatory: roles, cascades, adoption hazards and cooperation in populations of AI agents.

The public face. Names are imported on first use, so that `import observatory` (and the CLI) stays fast::

    from observatory import ingest_drop, run_roles, PowerLawFit, ExposureHazardModel, PropensityMatcher
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # database and ingest
    "connect": "_db",
    "ingest_drop": "ingest",
    "IngestReport": "ingest",
    "IngestError": "ingest",
    # the simulated society
    "simulate": "simulate",
    "SimulationConfig": "simulate",
    "load_truth": "simulate",
    # structural roles
    "run_roles": "roles",
    "RoleClustering": "roles",
    "RolesResult": "roles",
    "approximate_betweenness": "roles",
    "compute_agent_features": "roles",
    # cascades and power laws
    "build_cascades": "cascades",
    "CascadeConfig": "cascades",
    "fit_cascade_sizes": "cascades",
    "PowerLawFit": "powerlaw",
    "fit_file": "powerlaw",
    # adoption hazards
    "run_adoption": "adoption",
    "ExposureHazardModel": "hazards",
    "ExposureCurve": "hazards",
    # cooperation
    "run_cooperation": "cooperation",
    "CooperationConfig": "cooperation",
    "PropensityMatcher": "matching",
    # findings and report
    "collect_findings": "report",
    "write_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'observatory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
