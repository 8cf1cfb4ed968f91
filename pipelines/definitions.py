"""The one entry point Dagster loads (`dagster dev -m pipelines.definitions`, `dg check defs`).

Everything under `pipelines/defs/` is discovered; the policy that concerns every asset lives here: runs execute
in one process, one step at a time, because DuckDB allows a single writer per database file.
"""

from pathlib import Path

import dagster as dg

from pipelines.defs.resources import resources


@dg.definitions
def defs() -> dg.Definitions:
    discovered = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
    return dg.Definitions.merge(
        discovered,
        dg.Definitions(resources=resources(), executor=dg.in_process_executor),
    )
