"""The Spark engine in Dagster: a resource chosen by configuration, and the lake it builds.

`SparkEngineResource` names the Spark master and the lake (run config or `$OBSERVATORY_SPARK_MASTER`,
`$OBSERVATORY_LAKE`). The `spark/lake` asset lands every drop of the landing folder that the lake does not hold
yet, one Spark task per drop, builds the clean tables, the quarantine and the marts on Spark (the SQL of `sql/`,
transpiled), and attaches the lake to a DuckDB file beside it (`<lake>.duckdb`), which researchers and
`observatory status/sql --db` read. The `spark` job runs it. The analysis assets of the `main` job read the embedded
database; `observatory run --engine spark` runs the analyses on the lake.
"""

from pathlib import Path

import dagster as dg

from pipelines.defs.resources import SparkEngineResource, landing_dir
from pipelines.tables import OWNERS


@dg.asset(key=["spark", "lake"], group_name="spark", kinds={"spark", "parquet"}, owners=OWNERS,
          tags={"domain": "scale-out"})
def spark_lake(context: dg.AssetExecutionContext, spark: SparkEngineResource) -> dg.MaterializeResult:
    """Land the landing folder's new drops and rebuild the clean tables, quarantine and marts on Spark."""
    import duckdb

    from observatory import db
    from observatory.spark import attach_lake

    landing = landing_dir()
    drops = sorted(str(p) for p in landing.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) \
        if landing.is_dir() else []
    engine = spark.engine()
    try:
        landed = engine.ingest(drops, progress=context.log.info)
        written = engine.build(progress=context.log.info)
    finally:
        engine.stop()
    reader = Path(spark.lake).with_suffix(".duckdb")
    con = duckdb.connect(str(reader))
    try:
        db.configure(con)
        attach_lake(con, spark.lake)
    finally:
        con.close()
    return dg.MaterializeResult(metadata={
        "master": spark.master,
        "lake": dg.MetadataValue.path(str(Path(spark.lake).resolve())),
        "reader database": dg.MetadataValue.path(str(reader.resolve())),
        "drops landed": len(landed),
        "rows landed": sum(d["rows_loaded"] for d in landed),
        "rows quarantined": sum(d["rows_quarantined"] for d in landed),
        "rows per relation": dg.MetadataValue.json(written),
    })


spark_job = dg.define_asset_job(
    "spark", selection=dg.AssetSelection.assets(spark_lake),
    description="Land new drops and build the clean tables and marts on Spark, as a Parquet lake.")
