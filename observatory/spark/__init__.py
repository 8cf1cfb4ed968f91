"""The Spark engine for the relational layer: contract ingest, staging, clean tables and marts on Spark, written as
a Parquet lake that DuckDB and the estimators read (docs/spark.md). pyspark is needed only when it is used
(``pip install 'molt-observatory[spark]'``), with Java 17 or newer."""

from observatory.spark.engine import (
    BOOKKEEPING,
    DEFAULT_MASTER,
    SparkEngine,
    attach_lake,
    lake_relations,
    spark_session,
)

__all__ = ["SparkEngine", "attach_lake", "lake_relations", "spark_session", "BOOKKEEPING", "DEFAULT_MASTER"]
