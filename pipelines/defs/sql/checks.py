"""The tests declared beside the SQL (`-- tests:` in each file of `sql/`), one asset check each.

A failing test without `(warn)` is blocking: the assets downstream of the table do not run on data that breaks
it. The check's metadata counts the rows that break the test and the rows tested; its description is the test as
written.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from observatory import _db, sqlmodels
from pipelines.tables import key_for


def _describe(test: sqlmodels.TableTest) -> str:
    columns = ", ".join(test.columns)
    if test.kind == "references":
        return f"every {columns} is found in {test.target} ({', '.join(test.target_columns)})"
    return f"{columns} {'is unique' if test.kind == 'unique' else 'is never null'}"


def _check(table: str, test: sqlmodels.TableTest) -> dg.AssetChecksDefinition:
    extra = [key_for(test.target)] if test.target and test.target != table else []

    @dg.asset_check(asset=key_for(table), name=test.name, description=_describe(test), blocking=not test.warn,
                    additional_deps=extra)
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            _db.configure(con)
            failing, tested = sqlmodels.check(con, table, test)
        return dg.AssetCheckResult(
            passed=failing == 0,
            severity=dg.AssetCheckSeverity.WARN if test.warn else dg.AssetCheckSeverity.ERROR,
            metadata={"failing_rows": dg.MetadataValue.int(failing), "rows_tested": dg.MetadataValue.int(tested)},
        )

    return check


declared_checks = [_check(name, test) for name, model in sqlmodels.catalogue().items() for test in model.tests]
