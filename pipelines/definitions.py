"""The one entry point Dagster loads (`dagster dev -m pipelines.definitions`, `dg check defs`).

Everything under `pipelines/defs/` is discovered; the policy that concerns every asset lives here: which executor
runs the steps. DuckDB allows a single writer per database file, so whatever the executor, one step writes at a
time: `$OBSERVATORY_EXECUTOR` chooses

- ``in_process`` (the default): every step in the run's own process, one after another; the fastest here.
- ``multiprocess``: each step in a process of its own, one at a time (``max_concurrent`` 1): a step's memory goes
  back to the system when it ends, for the cost of starting a process and importing the libraries (seconds) per
  step.

The Kubernetes and Celery executors are documented, with sample configuration, in docs/deploy.md.
"""

import os
from pathlib import Path

import dagster as dg

from pipelines.defs.resources import resources

EXECUTOR_ENV_VAR = "OBSERVATORY_EXECUTOR"


def executor() -> dg.ExecutorDefinition:
    """The executor `$OBSERVATORY_EXECUTOR` names (in_process when unset)."""
    name = os.environ.get(EXECUTOR_ENV_VAR) or "in_process"
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": 1}, name="multiprocess_one_writer")
    raise ValueError(f"${EXECUTOR_ENV_VAR} must be in_process or multiprocess, not {name!r}")


@dg.definitions
def defs() -> dg.Definitions:
    discovered = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
    return dg.Definitions.merge(
        discovered,
        dg.Definitions(resources=resources(), executor=executor()),
    )
