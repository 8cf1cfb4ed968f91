"""Ingest: the simulated default drop, and the raw tables, partitioned by drop.

Each drop folder of the landing folder is one partition of the raw tables (a dynamic partition named after the
folder, added by the landing sensor or by `python -m pipelines run`). Materialising a partition ingests that
folder: idempotently by default (files already ingested are skipped by content hash); with `mode: replace` its
earlier rows are removed first and the folder is ingested again; with `mode: remove` the drop is forgotten. A
backfill over every partition rebuilds the raw tables from the landing folder. Everything downstream (staging
views, clean tables, marts, analyses, the report) is unpartitioned: it reads every drop ingested so far.
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import db
from observatory.ingest.load import drop_seqs, ingest_drop, remove_drop
from observatory.simulate.config import SimulationConfig
from pipelines import DEMO_BAD_RATE
from pipelines.defs.resources import landing_dir
from pipelines.tables import (
    INGEST_BOOKKEEPING,
    OWNERS,
    RAW,
    config_from,
    key_for,
    rounded,
    settings_of,
    spec_metadata,
    table_metadata,
)

DROPS = dg.DynamicPartitionsDefinition(name="drops")


def simulated_drop_name(agents: int, seed: int) -> str:
    return f"simulated-{agents}-agents-seed-{seed}"


SimulatedDropConfig = config_from(SimulationConfig, ["n_agents", "seed", "fmt", "shape", "bad_rate"],
                                  name="SimulatedDropConfig", defaults={"bad_rate": DEMO_BAD_RATE})


@dg.asset(key=["landing", "simulated_drop"], group_name="ingest", kinds={"python"}, owners=OWNERS,
          tags={"domain": "ingest"})
def simulated_drop(context: dg.AssetExecutionContext, config: SimulatedDropConfig) -> dg.MaterializeResult:
    """The embedded default data source: a simulated Moltbook-like society with planted truth, written to the
    landing folder as a contract drop (its raw tables are the partition of the same name)."""
    from observatory.simulate.config import load_truth
    from observatory.simulate.run import simulate

    out = landing_dir() / simulated_drop_name(config.n_agents, config.seed)
    params = settings_of(SimulationConfig, config)

    def progress(step: str, done: int, total: int) -> None:
        context.log.info(f"simulate: {step} {done:,}/{total:,}")

    result = simulate(out, params, progress=progress)
    truth = load_truth(out)
    counts = getattr(result, "counts", {}) or {}
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out.resolve())),
            "partition": dg.MetadataValue.text(out.name),
            "dagster/row_count": dg.MetadataValue.int(int(sum(counts.values()))),
            **{f"{entity}_written": dg.MetadataValue.int(int(n)) for entity, n in counts.items()},
            "truth": dg.MetadataValue.json({k: v for k, v in truth.items() if k != "params"}),
        }
    )


class IngestConfig(dg.Config):
    mode: str = "ingest"  # ingest (idempotent), replace (remove this drop's rows, then ingest) or remove


def landing_drops() -> list[Path]:
    """Every drop folder of the landing folder, in name order (hidden and `_` folders excluded)."""
    root = landing_dir()
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


RAW_DESCRIPTIONS = {
    **{table: f"Typed raw `{entity}` rows of every drop, every copy (the contract's columns and provenance)."
       for table, entity in RAW.items()},
    "ingest_drops": "One row per ingest of a drop: when it started and finished, its files and row counts.",
    "ingest_log": "One row per ingested file: its content hash (files already ingested are skipped), rows read, "
                  "loaded and quarantined.",
    "quarantine_rows": "Rows rejected at ingest, with the file, line, field and reason.",
}
RAW_TABLES = (*RAW, *INGEST_BOOKKEEPING)


@dg.multi_asset(
    specs=[dg.AssetSpec(key_for(table), group_name="ingest", kinds={"duckdb"}, description=RAW_DESCRIPTIONS[table],
                        partitions_def=DROPS, owners=OWNERS, tags={"domain": "ingest", "layer": "raw"},
                        metadata=spec_metadata(table))
           for table in RAW_TABLES],
    can_subset=False,
)
def raw_tables(context: dg.AssetExecutionContext, config: IngestConfig, duckdb: DuckDBResource):
    """Ingest one drop folder of the landing folder (the partition) into the raw tables, in one all-or-nothing
    drop: good rows land, bad rows go to quarantine with their reason, files already ingested are skipped."""
    drop = (landing_dir() / context.partition_key).resolve()
    if config.mode not in ("ingest", "replace", "remove"):
        raise dg.Failure(f"mode must be ingest, replace or remove, not {config.mode!r}")
    report = None
    with duckdb.get_connection() as con:
        db.ensure_schema(con)
        if config.mode in ("replace", "remove"):
            removed = remove_drop(con, drop)
            context.log.info(f"{drop}: removed {removed:,} raw rows of earlier ingests")
        if config.mode != "remove":
            if not drop.is_dir():
                raise dg.Failure(f"no drop folder {drop} in the landing folder for partition {context.partition_key!r}")
            report = ingest_drop(drop, con=con, refresh=False,
                                 progress=lambda label, rows: context.log.debug(f"{label}: {rows:,} rows"))
            context.log.info(f"{drop}: {report.rows_read:,} read, {report.rows_loaded:,} loaded, "
                             f"{report.rows_quarantined:,} quarantined {report.reasons or ''}"
                             + (" (nothing new)" if report.drop_seq is None else ""))
        seqs = drop_seqs(con, drop)
        results = []
        for table in RAW_TABLES:
            column = "_drop_seq" if table in RAW else "drop_seq"
            partition_rows = con.execute(
                f"SELECT count(*) FROM {table} WHERE {column} IN (SELECT unnest(?::INTEGER[]))", [seqs]).fetchone()[0]
            metadata = table_metadata(con, table)
            metadata["table_rows"] = metadata["dagster/row_count"]
            metadata["dagster/row_count"] = dg.MetadataValue.int(int(partition_rows))
            if table == "ingest_drops" and report is not None:
                metadata.update(rounded({"run_rows_read": report.rows_read, "run_rows_loaded": report.rows_loaded,
                                         "run_rows_quarantined": report.rows_quarantined,
                                         "seconds": report.seconds}))
                metadata["quarantined_by_reason"] = dg.MetadataValue.json(report.reasons)
            results.append(dg.MaterializeResult(asset_key=key_for(table), metadata=metadata))
    yield from results
