"""One asset per relation of `sql/`: the staging views, the clean tables, the marts and the researchers' views.

Each asset's upstream set is what its SQL reads (parsed by observatory.sqlmodels); its description is the SQL
file's leading comment, its column schema the table as built with the descriptions the file gives, its code
reference the file. Every asset here follows new data by itself: eager automation rebuilds it once whatever it
reads has been updated (a new drop's partition, an upstream table), with the daily schedule as a backstop.
"""


import dataclasses

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import db
from observatory.config import CascadeConfig, CooperationConfig
from observatory.sqlmodels import SqlModel, build, catalogue, refresh
from pipelines.defs.sql.checks import check_result, check_spec, runs_in_asset
from pipelines.tables import OWNERS, config_from, deps_for, domain_of, group_for, key_for, spec_metadata, table_metadata

AUTOMATION = dg.AutomationCondition.eager()


# The SQL models that read variables, and the configuration that sets them.
ItemMentionsConfig = config_from(CascadeConfig)
TaskEventsConfig = config_from(CooperationConfig, [f.name for f in dataclasses.fields(CooperationConfig)
                                                   if f.name.startswith("task_")])
CONFIGS = {"item_mentions": ItemMentionsConfig, "duplicate_texts": ItemMentionsConfig, "task_events": TaskEventsConfig}


def _asset(model: SqlModel) -> dg.AssetsDefinition:
    domain = domain_of(model.name)
    kinds = {"duckdb", "sql"}
    config_class = CONFIGS.get(model.name)
    if model.variables and config_class is None:
        raise ValueError(f"{model.path} reads variables {sorted(model.variables)} that no configuration sets")
    in_asset = [t for t in model.tests if runs_in_asset(model.name, t)]

    @dg.asset(
        key=key_for(model.name),
        deps=deps_for(model.reads),
        group_name=group_for(model.name),
        description=f"{model.description}\n\n(`{model.layer}/{model.path.name}`, a {model.kind})",
        kinds=kinds,
        owners=OWNERS,
        tags={"domain": domain, "layer": model.layer},
        metadata=spec_metadata(model.name, model),
        automation_condition=AUTOMATION,
        config_schema=config_class.to_config_schema() if config_class is not None else None,
        check_specs=[check_spec(model.name, t) for t in in_asset],
    )
    def sql_asset(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        config = getattr(context.op_execution_context, "op_config", None) or {}
        with duckdb.get_connection() as con:
            db.ensure_bookkeeping(con)
            extra = {}
            if model.layer == "views":
                try:
                    build(con, model.name)
                except Exception as exc:  # noqa: BLE001 - a view over an analysis that could not estimate
                    con.execute(f"DROP VIEW IF EXISTS {model.name}")
                    extra["not_created"] = dg.MetadataValue.text(str(exc).splitlines()[0])
            else:  # incremental where the library can (clean and cascade tables), in one transaction
                con.execute("BEGIN TRANSACTION")
                try:
                    refresh(con, model.name, {**_defaults(config_class), **config})
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
            metadata = {**table_metadata(con, model.name, model.columns), **extra}
            checks = [check_result(con, model.name, t) for t in in_asset]
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return sql_asset


def _defaults(config_class) -> dict:
    return config_class().model_dump() if config_class is not None else {}


sql_assets = [_asset(model) for model in catalogue().values()]
