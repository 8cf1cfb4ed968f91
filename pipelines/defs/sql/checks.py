"""The tests declared beside the SQL (`-- tests:` in each file of `sql/`), one asset check each.

A failing test without `(warn)` is blocking: the assets downstream of the table do not run on data that breaks
it. The check's metadata counts the rows that break the test and the rows tested; its description is the test as
written. A test whose reference is the table itself or one of its ancestors runs in the asset's own step, right
after the table is built (one step instead of two); one that refers to a table built beside it (not above it)
is a check of its own that waits for that table too.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import sqlmodels
from pipelines.tables import key_for


def _describe(test: sqlmodels.TableTest) -> str:
    columns = ", ".join(test.columns)
    if test.kind == "references":
        return f"every {columns} is found in {test.target} ({', '.join(test.target_columns)})"
    return f"{columns} {'is unique' if test.kind == 'unique' else 'is never null'}"


def _ancestors(name: str, models, seen=None) -> set[str]:
    seen = set() if seen is None else seen
    for parent in models[name].reads if name in models else ():
        if parent not in seen:
            seen.add(parent)
            _ancestors(parent, models, seen)
    return seen


def runs_in_asset(table: str, test: sqlmodels.TableTest) -> bool:
    return test.target is None or test.target == table or test.target in _ancestors(table, sqlmodels.catalogue())


def check_spec(table: str, test: sqlmodels.TableTest) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(test.name, asset=key_for(table), description=_describe(test), blocking=not test.warn)


def check_result(con, table: str, test: sqlmodels.TableTest) -> dg.AssetCheckResult:
    failing, tested = sqlmodels.check(con, table, test)
    return dg.AssetCheckResult(
        asset_key=key_for(table), check_name=test.name, passed=failing == 0,
        severity=dg.AssetCheckSeverity.WARN if test.warn else dg.AssetCheckSeverity.ERROR,
        metadata={"failing_rows": dg.MetadataValue.int(failing), "rows_tested": dg.MetadataValue.int(tested)})


def _check(table: str, test: sqlmodels.TableTest) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=key_for(table), name=test.name, description=_describe(test), blocking=not test.warn,
                    additional_deps=[key_for(test.target)])
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            return check_result(con, table, test)

    return check


declared_checks = [_check(name, test) for name, model in sqlmodels.catalogue().items() for test in model.tests
                   if not runs_in_asset(name, test)]
