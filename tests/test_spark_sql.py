"""The rewrites that turn sql/'s DuckDB dialect into Spark SQL, checked on the generated text (no Spark needed; the
generated SQL is run against DuckDB's own results in tests/test_spark.py)."""

import pytest

from observatory.spark.sql import SchemaMirror, model_sql, to_spark


@pytest.fixture(scope="module")
def mirror():
    m = SchemaMirror()
    yield m
    m.close()


def test_union_by_name_aligns_columns_at_any_depth(mirror):
    top = to_spark("with a as (select 1 as x, 2 as y) select * from a union all by name select 3 as y", mirror)
    assert "SELECT x, y FROM (SELECT * FROM a) AS _side UNION ALL SELECT NULL AS x, y FROM (SELECT 3 AS y)" in top
    nested = to_spark("with a as (select 1 as x, 2 as y), b as (select * from a union all by name select 3 as y) "
                      "select * from b", mirror)
    assert "UNION ALL SELECT NULL AS x, y FROM (SELECT 3 AS y)" in nested
    assert "BY NAME" not in top.upper() and "BY NAME" not in nested.upper()
    # a chain: the third side is aligned with the columns the first two give together
    chained = to_spark("select 1 as x union all by name select 2 as y union all by name select 3 as z", mirror)
    assert "BY NAME" not in chained.upper()
    assert set(mirror.con.execute(chained).fetchall()) == {(1, None, None), (None, 2, None), (None, None, 3)}


def test_the_merge_macro_is_expanded_column_by_column(mirror):
    sql = model_sql("stg_agents", mirror)
    assert "merged_copies('raw_agents'" not in sql and "COLUMNS(" not in sql.upper()
    # each field takes the most preferred copy that says something about it
    assert "MAX_BY(name, STRUCT(NOT name IS NULL OR NOT _partial, _order)) AS name" in sql
    assert "CAST('0001-01-01 00:00:00' AS TIMESTAMP)" in sql  # DuckDB's -infinity


def test_numbers_and_functions_keep_duckdbs_meaning():
    assert to_spark("select x / 3.0 from t", None) == "SELECT x / CAST(3.0 AS DOUBLE) FROM t"
    assert to_spark("select epoch(a - b) from t", None) == \
        "SELECT CAST((UNIX_MICROS(a) - UNIX_MICROS(b)) AS DOUBLE) / 1000000 FROM t"
    assert to_spark("select isodow(a) from t", None) == "SELECT (WEEKDAY(a) + 1) FROM t"
    assert to_spark("select list_slice(w, 2, 4) from t", None) == "SELECT SLICE(w, 2, 4 - 2 + 1) FROM t"
    assert to_spark("select len(w) from t", None) == "SELECT SIZE(w) FROM t"
    assert to_spark("select '#' || lower(unnest(l)) as i from t", None) == \
        "SELECT '#' || LOWER(_unnested0) AS i FROM t LATERAL VIEW EXPLODE(l) _unnested0 AS _unnested0"


def test_settings_are_literals_and_a_missing_one_is_an_error():
    assert to_spark("select * from t where n >= getvariable('k')", None, {"k": 4}) == "SELECT * FROM t WHERE n >= 4"
    with pytest.raises(ValueError, match="needs the variable 'k'"):
        to_spark("select * from t where n >= getvariable('k')", None, {})


def test_asof_joins_are_refused():
    with pytest.raises(ValueError, match="ASOF joins are not transpiled"):
        to_spark("select * from a asof left join b on a.k = b.k and b.t < a.t", None)


def test_duckdbs_materialization_hints_are_dropped(mirror):
    sql = "with a as not materialized (select 1 as x), b as materialized (select x from a) select * from a, b"
    assert to_spark(sql, None) == "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM a, b"
    variables = {"duplicate_min_words": 5, "duplicate_min_uses": 3}
    assert "MATERIALIZED" not in model_sql("duplicate_texts", mirror, variables).upper()
