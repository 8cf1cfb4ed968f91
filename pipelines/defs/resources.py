"""Resources, once: the embedded DuckDB database, the Spark engine, and the landing folder that drops arrive in."""

import os
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory.db import DB_ENV_VAR, configure, default_db_path


class ObservatoryDuckDB(DuckDBResource):
    """dagster-duckdb's resource with the observatory's connection setup (memory limit, spill folder) run inside
    `get_connection`, so that no asset has to remember it."""

    @contextmanager
    def get_connection(self):
        with super().get_connection() as con:
            configure(con)
            yield con

LANDING_ENV_VAR = "OBSERVATORY_LANDING"
REPORTS_ENV_VAR = "OBSERVATORY_REPORTS"


def landing_dir() -> Path:
    """Where drops arrive, one folder per drop: `$OBSERVATORY_LANDING`, else `data/landing`."""
    return Path(os.environ.get(LANDING_ENV_VAR) or Path("data") / "landing")


def reports_dir() -> Path:
    """Where the report and findings.json are written: `$OBSERVATORY_REPORTS`, else `data/report`."""
    return Path(os.environ.get(REPORTS_ENV_VAR) or Path("data") / "report")


MASTER_ENV_VAR = "OBSERVATORY_SPARK_MASTER"
LAKE_ENV_VAR = "OBSERVATORY_LAKE"


class SparkEngineResource(dg.ConfigurableResource):
    """The Spark engine of the relational layer: its master URL and the lake's folder."""

    master: str = os.environ.get(MASTER_ENV_VAR) or "local[2]"
    lake: str = os.environ.get(LAKE_ENV_VAR) or str(Path("data") / "lake")

    def engine(self):
        from observatory.spark import SparkEngine

        return SparkEngine(self.lake, master=self.master)


def resources() -> dict:
    # The path comes from $OBSERVATORY_DB when set (the same variable the `observatory` CLI reads), else the
    # project-local default, so the CLI, the UI and the scheduled runs all see one database.
    database = Path(os.environ.get(DB_ENV_VAR) or default_db_path()).resolve()
    database.parent.mkdir(parents=True, exist_ok=True)
    return {"duckdb": ObservatoryDuckDB(database=str(database)), "spark": SparkEngineResource()}
