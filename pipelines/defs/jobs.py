"""Jobs over the asset graph.

- `simulate`: write the embedded default society to the landing folder (one drop, one partition).
- `ingest`: one partition of the raw tables (what the landing sensor requests for each new drop).
- `main`: the README's `make demo`: a drop's partition, then every table, analysis and the report.
- `refresh`: everything downstream of the raw tables (what the daily schedule runs, the backstop to automation).
"""

import dagster as dg

SIMULATED = dg.AssetSelection.assets(dg.AssetKey(["landing", "simulated_drop"]))
RAW = dg.AssetSelection.key_prefixes("raw")
# The Spark engine's lake is its own job (`spark`), never part of the embedded database's runs.
SPARK = dg.AssetSelection.key_prefixes("spark")

simulate_job = dg.define_asset_job(
    "simulate", selection=SIMULATED,
    description="Simulate the default society into the landing folder (a drop, and a partition of the raw tables).")

main_job = dg.define_asset_job(
    "main",
    selection=dg.AssetSelection.all() - SIMULATED - SPARK,
    description="Ingest one drop (the partition), then rebuild every table, run every analysis, write the report.",
)

ingest_job = dg.define_asset_job(
    "ingest", selection=RAW,
    description="Ingest one drop of the landing folder into the raw tables; automation refreshes the rest.")

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all() - SIMULATED - RAW - SPARK,
    description="Rebuild every table from the drops ingested so far, run every analysis, write the report.",
)
