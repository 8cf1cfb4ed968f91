"""Ingest: the simulated default drop, the raw tables (one ingest per drop in the landing folder), the staging views."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db
from observatory._contract import ENTITIES
from observatory.ingest import ingest_drop
from pipelines.defs.resources import landing_dir

RAW_KEYS = {e.name: dg.AssetKey(["raw", e.name]) for e in ENTITIES}
STAGING_VIEWS = ("agents", "submolts", "posts", "comments", "votes", "tasks", "quarantine")
STAGING_KEYS = {name: dg.AssetKey(["staging", name]) for name in STAGING_VIEWS}


class SimulationConfig(dg.Config):
    agents: int = 20_000
    seed: int = 7
    format: str = "jsonl"
    bad_rate: float = 0.001


@dg.asset(key=["landing", "simulated_drop"], group_name="ingest", kinds={"python"})
def simulated_drop(context: dg.AssetExecutionContext, config: SimulationConfig) -> dg.MaterializeResult:
    """The embedded default data source: a simulated Moltbook-like society with planted truth, as a contract drop."""
    from observatory.simulate import SimulationConfig as Params
    from observatory.simulate import load_truth, simulate

    out = landing_dir() / f"simulated-{config.agents}-agents-seed-{config.seed}"
    params = Params(n_agents=config.agents, seed=config.seed, fmt=config.format, bad_rate=config.bad_rate)

    def progress(step: str, done: int, total: int) -> None:
        context.log.info(f"simulate: {step} {done:,}/{total:,}")

    result = simulate(out, params, progress=progress)
    truth = load_truth(out)
    counts = getattr(result, "counts", {}) or {}
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out.resolve())),
            **{f"{entity}_written": dg.MetadataValue.int(int(n)) for entity, n in counts.items()},
            "truth": dg.MetadataValue.json({k: v for k, v in truth.items() if k != "params"}),
        }
    )


class IngestConfig(dg.Config):
    drops: list[str] = []  # empty: every drop folder in the landing folder, in name order


def _landing_drops() -> list[Path]:
    root = landing_dir()
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, group_name="ingest", kinds={"duckdb"}, description=f"Typed raw `{name}` rows, every copy.",
                     deps=[simulated_drop])
        for name, key in RAW_KEYS.items()
    ],
    can_subset=False,
)
def raw_tables(context: dg.AssetExecutionContext, config: IngestConfig, duckdb: DuckDBResource):
    """Ingest drops (idempotent: files already ingested are skipped by content hash), one transaction per drop."""
    drops = [Path(d) for d in config.drops] or _landing_drops()
    totals = {"rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0}
    with duckdb.get_connection() as con:
        for drop in drops:
            report = ingest_drop(drop, con=con, progress=lambda label, rows: context.log.debug(f"{label}: {rows:,} rows"))
            context.log.info(
                f"{drop}: {report.rows_read:,} read, {report.rows_loaded:,} loaded, "
                f"{report.rows_quarantined:,} quarantined {report.reasons or ''}"
                + (" (nothing new)" if report.drop_seq is None else "")
            )
            for key in totals:
                totals[key] += getattr(report, key)
        _db.configure(con)
        counts = {
            name: con.execute(f"SELECT count(*) FROM {e.raw_table}").fetchone()[0]
            for name, e in ((e.name, e) for e in ENTITIES)
        }
    for name, key in RAW_KEYS.items():
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "rows": dg.MetadataValue.int(int(counts[name])),
                "drops": dg.MetadataValue.json([str(d) for d in drops]),
                **({"run_rows_read": totals["rows_read"], "run_rows_loaded": totals["rows_loaded"],
                    "run_rows_quarantined": totals["rows_quarantined"]} if name == "agents" else {}),
            },
        )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, group_name="ingest", kinds={"duckdb", "sql"}, deps=list(RAW_KEYS.values()),
                     description=f"The clean, deduplicated `{name}` view (sql/staging/stg_{name}.sql).")
        for name, key in STAGING_KEYS.items()
    ],
    can_subset=False,
)
def staging_views(duckdb: DuckDBResource):
    """(Re)create the staging views from `sql/staging/`, refresh the clean tables, report their row counts."""
    with duckdb.get_connection() as con:
        _db.configure(con)
        _db.ensure_schema(con)
        _db.refresh_clean_tables(con)
        counts = {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in STAGING_VIEWS}
        by_reason = dict(con.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason").fetchall())
    _db.publish(duckdb.database)  # readers see the new drop without waiting for the analyses
    for name, key in STAGING_KEYS.items():
        metadata = {"rows": dg.MetadataValue.int(int(counts[name]))}
        if name == "quarantine":
            metadata["by_reason"] = dg.MetadataValue.json({k: int(v) for k, v in by_reason.items()})
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
