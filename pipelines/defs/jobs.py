"""Jobs over the asset graph: the main job (simulate -> ingest -> analyses -> report), ingest, refresh."""

import dagster as dg

SIMULATED = dg.AssetSelection.assets(dg.AssetKey(["landing", "simulated_drop"]))

# The README's `make demo`: the embedded default end to end.
main_job = dg.define_asset_job(
    "main",
    selection=dg.AssetSelection.all(),
    description="Simulate the default society, ingest it with everything else that landed, run every analysis, write the report.",
)

# What the landing-folder sensor runs for a new drop: raw tables and staging views, with their checks.
ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.groups("ingest") - SIMULATED,
    description="Ingest drops from the landing folder and refresh the staging views.",
)

# What the daily schedule runs: everything but the simulator.
refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all() - SIMULATED,
    description="Ingest whatever landed, then refresh every analysis and the report.",
)
