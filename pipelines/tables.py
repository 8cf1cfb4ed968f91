"""What every asset of the observatory shares: its key (one per DuckDB table), its domain, and its metadata.

One asset per table or view of the database. A table's key is `<domain>/<table>`: `raw/<entity>` for the raw
tables (whose DuckDB name is `raw_<entity>`), `staging/...` for the staging views and the clean tables, the step's
domain for each mart and result table (`roles/agent_features`), `views/...` for the researchers' views. The
dependencies of a SQL-defined asset are the relations its SQL reads (observatory.sqlmodels); those of a Python
result table are declared beside its step (observatory.steps).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import dagster as dg
import pydantic

from observatory import db
from observatory.contract import ENTITIES
from observatory.history import HISTORY_TABLE
from observatory.sqlmodels import SqlModel, catalogue
from observatory.steps import STEPS

OWNERS = ["team:observatory"]

# The domain (group, key prefix) of each step's tables.
STEP_DOMAINS = {"agent_activity": "population", "roles": "roles", "cascades": "cascades", "powerlaw": "cascades",
                "adoption": "adoption", "cooperation": "cooperation", "injection": "injection", "trends": "trends"}
RAW = {e.raw_table: e.name for e in ENTITIES}
INGEST_BOOKKEEPING = ("ingest_drops", "ingest_log", "quarantine_rows")


def domain_of(table: str) -> str:
    if table in RAW or table in INGEST_BOOKKEEPING:
        return "raw"
    if table == HISTORY_TABLE:  # appended by every run, after the trends (observatory.history)
        return "trends"
    for step in STEPS:
        if table in step.sql or table in step.tables:
            return STEP_DOMAINS[step.name]
    model = catalogue().get(table)
    if model is None:
        raise KeyError(f"no asset defines the table {table!r}")
    return "views" if model.layer == "views" else "staging"


def key_for(table: str) -> dg.AssetKey:
    """The asset key of a DuckDB table or view."""
    return dg.AssetKey([domain_of(table), RAW.get(table, table)])


def group_for(table: str) -> str:
    domain = domain_of(table)
    return {"raw": "ingest", "staging": "ingest", "views": "report"}.get(domain, domain)


def deps_for(reads) -> list[dg.AssetKey]:
    return [key_for(name) for name in sorted(reads)]


def code_reference(path: Path) -> dict:
    return {"dagster/code_references": dg.CodeReferencesMetadataValue(
        code_references=[dg.LocalFileCodeReference(file_path=str(path.resolve()), line_number=1)])}


def spec_metadata(table: str, model: SqlModel | None = None) -> dict:
    """Definition metadata: the DuckDB table name, and for SQL-defined tables the file that defines them."""
    metadata = {"dagster/table_name": f"main.{table}"}
    if model is not None:
        metadata.update(code_reference(model.path))
    return metadata


def display(value):
    """A number rounded for display (4 significant digits); the tables keep full precision."""
    if isinstance(value, bool) or not isinstance(value, float):
        return value
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.4g}")


def table_metadata(con, table: str, descriptions: dict[str, str] | None = None) -> dict:
    """`dagster/row_count` and `dagster/column_schema` of a table as it now is in DuckDB (0 and none if absent:
    a step that could not estimate removes its result tables rather than leave an empty one).

    An intermediate staging view (`stg_*`) has no row count: counting it would compute it (the deduplication of
    every raw row: 52 s of a Moltbook-sized run) only for the clean table built from it to compute it again. Its
    clean table has the count."""
    if not db.table_exists(con, table):
        return {"dagster/row_count": dg.MetadataValue.int(0), "exists": False}
    descriptions = descriptions or {}
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' "
        "ORDER BY column_index", [table]).fetchall()
    schema = dg.TableSchema(columns=[dg.TableColumn(name, str(typ), description=descriptions.get(name))
                                     for name, typ in columns])
    if table.startswith("stg_") and db.table_exists(con, table, "view"):
        return {"dagster/column_schema": schema, "relation": dg.MetadataValue.text("view: its rows are computed when "
                                                                                   "read; see its clean table")}
    return {"dagster/row_count": dg.MetadataValue.int(int(db.row_count(con, table))),
            "dagster/column_schema": schema}


def rounded(metadata: dict) -> dict:
    """Metadata with every float rounded for display."""
    return {k: display(v) for k, v in metadata.items()}


def step(name: str):
    from observatory.steps import STEPS

    return next(s for s in STEPS if s.name == name)


def step_specs(step_name: str, descriptions: dict[str, str]) -> list[dg.AssetSpec]:
    """One spec per result table a step's Python writes, each with its own description and upstream set."""
    automation = dg.AutomationCondition.eager()
    tables = step(step_name).tables
    missing = set(tables) ^ set(descriptions)
    if missing:
        raise ValueError(f"descriptions and the step's tables differ on {sorted(missing)}")
    return [dg.AssetSpec(key_for(table), deps=deps_for(reads), description=descriptions[table],
                         group_name=group_for(table), kinds={"duckdb", "python"}, owners=OWNERS,
                         tags={"domain": domain_of(table), "layer": "results"}, metadata=spec_metadata(table),
                         automation_condition=automation)
            for table, reads in tables.items()]


def step_results(con, step_name: str, extra: dict[str, dict] | None = None, plots: dict[str, str] | None = None):
    """A MaterializeResult per result table of a step: its row count and schema, the given extra metadata (floats
    rounded for display), and the named chart of `observatory.report.charts` inline where `plots` gives one."""
    from observatory.report.charts import markdown_image

    extra = {table: dict(values) for table, values in (extra or {}).items()}
    for table, chart in (plots or {}).items():
        image = markdown_image(con, chart)
        if image:
            extra.setdefault(table, {})["plot"] = dg.MetadataValue.md(image)
    return [dg.MaterializeResult(asset_key=key_for(table),
                                 metadata={**table_metadata(con, table), **rounded(extra.get(table, {}))})
            for table in step(step_name).tables]


def config_from(cls, fields: typing.Iterable[str] | None = None, name: str | None = None,
                defaults: dict | None = None) -> type[dg.Config]:
    """A Dagster run-config class with the fields (names, types, defaults) of a library settings dataclass
    (:mod:`observatory.config`), so that a default lives in one place; ``defaults`` names the few the pipelines
    choose differently, on purpose."""
    hints = typing.get_type_hints(cls)
    defaults = defaults or {}
    chosen = [f for f in dataclasses.fields(cls) if fields is None or f.name in fields]
    return pydantic.create_model(name or f"{cls.__name__}Run", __base__=dg.Config,
                                 **{f.name: (hints[f.name], defaults.get(f.name, f.default)) for f in chosen})


def settings_of(cls, config: dg.Config, **defaults):
    """The library settings ``cls`` from a Dagster run config built by `config_from` (fields it lacks keep their
    defaults, or ``defaults``)."""
    return cls(**{**defaults, **config.model_dump()})


def study_asset(step_name: str, descriptions: dict[str, str], run: typing.Callable, *, name: str, summary: str,
                metadata: typing.Callable, plots: dict[str, str] | None = None,
                config_fields: typing.Iterable[str] | None = None) -> dg.AssetsDefinition:
    """The multi-asset of a study step: one asset per result table (`step_specs`), a run config with the fields of
    the step's settings dataclass (`config_from`), and per table its row count, schema, the metadata
    ``metadata(result)`` gives ({table: {key: value}}) and the chart ``plots`` names.

    ``run(con, settings, context)`` runs the study (with ``build_marts=False``: the marts are assets of their own)
    and returns its result; a result with a text (a study's ``*Result``) is logged."""
    from dagster_duckdb import DuckDBResource

    from observatory.studies.base import StudyResult

    settings_cls = step(step_name).settings
    run_config = config_from(settings_cls, config_fields, name=f"{name.title().replace('_', '')}Config")

    def materialise(context, config, duckdb):
        with duckdb.get_connection() as con:
            result = run(con, settings_of(settings_cls, config), context)
            results = step_results(con, step_name, metadata(result), plots)
        if isinstance(result, StudyResult):
            context.log.info("\n" + str(result))
        yield from results

    # Dagster reads the config and resource types from the annotations.
    materialise.__annotations__ = {"context": dg.AssetExecutionContext, "config": run_config,
                                   "duckdb": DuckDBResource}
    return dg.multi_asset(name=name, specs=step_specs(step_name, descriptions), can_subset=False,
                          description=summary)(materialise)
