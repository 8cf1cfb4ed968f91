"""`sql/` for Spark: each file of the project, rewritten from DuckDB's dialect into Spark SQL.

There is one definition of every table: the DuckDB file. What Spark reads is generated from it, by sqlglot's
DuckDB-to-Spark transpiler and, for what the transpiler cannot know, rewrites on the parsed query:

- the project's macros (``merged_copies('raw_posts', 'id')``, ``copy_order(...)``) are expanded in place from
  `sql/macros/`;
- DuckDB's star expressions over a list of columns (``columns(* exclude (...))``, ``columns('id')``) and
  ``union all by name`` are expanded to explicit column lists. The columns are DuckDB's own answer: every relation is
  also created, empty, in a DuckDB database with the same schema (:class:`SchemaMirror`), which describes any part of
  a query;
- a DuckDB row ``(a, b)`` used as a sort key becomes a Spark ``struct(a, b)`` (both compare field by field), and
  DuckDB's ``'-infinity'`` timestamp, which Spark does not have, the smallest timestamp Spark has;
- ``getvariable('x')`` becomes the value of the step's setting;
- DuckDB functions whose Spark namesakes differ (``epoch``, ``isodow``, ``list_slice``, ``regexp_split_to_array``,
  ``regexp_extract`` with named groups, ``to_json`` of a row) get their Spark equivalents, numbers written with a
  point become doubles (Spark reads them as decimals), and ``unnest`` or ``range`` in a query become LATERAL VIEW
  EXPLODE;
- an ``asof`` join is refused (it has no Spark form that runs in one sort; sql/ writes as-of lookups as windows).

>>> print(to_spark("select arg_max_null(x, (x is not null, t)) as x from raw", schema=None))
SELECT MAX_BY(x, STRUCT(NOT x IS NULL, t)) AS x FROM raw
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import expressions as exp

__all__ = ["SchemaMirror", "to_spark", "model_sql", "SPARK_MIN_TIMESTAMP"]

# The smallest timestamp Spark represents: it stands for DuckDB's '-infinity', which sorts before every timestamp.
SPARK_MIN_TIMESTAMP = "0001-01-01 00:00:00"


class SchemaMirror:
    """An empty DuckDB database with the project's schema, which answers "which columns does this query give?".

    Every relation built for Spark is also built here, empty, by the DuckDB SQL itself, so later files can be
    described against it.
    """

    def __init__(self, variables: dict | None = None):
        import duckdb

        from observatory import db

        self.con = duckdb.connect(":memory:")
        db.configure(self.con)
        db.ensure_schema(self.con)
        self.variables = dict(variables or {})

    def build(self, name: str) -> None:
        from observatory import sqlmodels

        sqlmodels.build(self.con, name, self.variables)

    def columns(self, query: str) -> list[str]:
        return [row[0] for row in self.con.execute(f"DESCRIBE {query}").fetchall()]

    def close(self) -> None:
        self.con.close()


def _substitute(body: exp.Expression, params: tuple[str, ...], args: list[exp.Expression]) -> exp.Expression:
    if len(params) != len(args):
        raise ValueError(f"macro called with {len(args)} arguments, defined with {len(params)}")
    values = dict(zip(params, args))

    def swap(node):
        if isinstance(node, exp.Column) and not node.table and node.name in values:
            return values[node.name].copy()
        return node

    return body.transform(swap)


def _expand_macros(tree: exp.Expression) -> exp.Expression:
    from observatory.sqlmodels import macro_definitions

    macros = macro_definitions()

    def expand(node):
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
            name = str(node.this.this).lower()
            if name in macros and macros[name].is_table:
                macro = macros[name]
                query = _substitute(sqlglot.parse_one(macro.body, read="duckdb"), macro.params,
                                    list(node.this.expressions))
                query = _expand_macros(query)
                return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(node.alias or name)))
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if name in macros and not macros[name].is_table:
                macro = macros[name]
                # A macro may call another (injection_families calls injection_addressed): expanded in turn.
                return _expand_macros(_substitute(sqlglot.parse_one(macro.body, read="duckdb"), macro.params,
                                                  list(node.expressions)))
            if name == "query_table" and len(node.expressions) == 1 and node.expressions[0].is_string:
                return exp.column(node.expressions[0].this)  # replaced by a table below
        return node

    tree = tree.transform(expand)
    # query_table('raw_x') in a FROM: a table of that name.
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Column):
            table.set("this", exp.to_identifier(table.this.name))
    return tree


def _columns_literal(tree: exp.Expression) -> exp.Expression:
    """`columns('id')`: the column named by the string."""

    def swap(node):
        if isinstance(node, exp.Columns) and isinstance(node.this, exp.Literal) and node.this.is_string:
            return exp.column(node.this.this)
        return node

    return tree.transform(swap)


def _visible_ctes(node: exp.Expression) -> list[exp.CTE]:
    """The CTEs a node can read: at each enclosing WITH, those defined before the one the node is in."""
    found: list[exp.CTE] = []
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.CTE):
            with_ = parent.parent
            if isinstance(with_, exp.With):
                before = []
                for cte in with_.expressions:
                    if cte is parent:
                        break
                    before.append(cte)
                found = before + found
        elif isinstance(parent, exp.Query):
            with_ = parent.args.get("with_") or parent.args.get("with")
            if isinstance(with_, exp.With) and child is not with_:
                found = list(with_.expressions) + found
        child, parent = parent, parent.parent
    # Own WITH of the node itself.
    own = node.args.get("with_") or node.args.get("with") if isinstance(node, exp.Query) else None
    if isinstance(own, exp.With):
        found = found + list(own.expressions)
    # De-duplicate by name, keeping the innermost definition.
    by_name: dict[str, exp.CTE] = {}
    for cte in found:
        by_name[cte.alias_or_name] = cte
    return list(by_name.values())


def _described(schema: SchemaMirror, ctes: list[exp.CTE], query: exp.Expression) -> list[str]:
    probe = query.copy()
    if ctes:
        probe = exp.select("*").from_(exp.Subquery(this=probe, alias=exp.TableAlias(this=exp.to_identifier("_q"))))
        probe.set("with_", exp.With(expressions=[c.copy() for c in ctes]))
    return schema.columns(probe.sql(dialect="duckdb"))


def _expand_columns_star(tree: exp.Expression, schema: SchemaMirror) -> exp.Expression:
    """`f(columns(* exclude (...)), g(columns(* exclude (...))))` in a projection: one `f(c, g(c)) as c` per column."""
    for select in list(tree.find_all(exp.Select)):
        projections = []
        changed = False
        for projection in select.expressions:
            stars = [c for c in projection.find_all(exp.Columns) if isinstance(c.this, exp.Star)]
            if not stars:
                projections.append(projection)
                continue
            changed = True
            probe = exp.select(exp.Star(**{k: v for k, v in stars[0].this.args.items()}))
            probe.set("from_", select.args.get("from_").copy())
            names = _described(schema, _visible_ctes(select), probe)
            for name in names:
                column = exp.column(name)

                def swap(node, column=column):
                    if isinstance(node, exp.Columns) and isinstance(node.this, exp.Star):
                        return column.copy()
                    return node

                expression = projection.this.copy() if isinstance(projection, exp.Alias) else projection.copy()
                projections.append(exp.alias_(expression.transform(swap), name))
        if changed:
            select.set("expressions", projections)
    return tree


def _expand_union_by_name(tree: exp.Expression, schema: SchemaMirror) -> exp.Expression:
    """`a union all by name b`: both sides projected onto a's columns then b's new ones, missing ones null. Inner
    unions first, so that `a union all by name b union all by name c` aligns `c` with what `a` and `b` give."""
    for union in reversed(list(tree.find_all(exp.Union))):
        if not union.args.get("by_name"):
            continue
        ctes = _visible_ctes(union)
        left, right = union.this, union.expression
        left_names = _described(schema, ctes, left)
        right_names = _described(schema, ctes, right)
        names = left_names + [n for n in right_names if n not in left_names]

        def aligned(side, have):
            inner = exp.Subquery(this=side.copy(), alias=exp.TableAlias(this=exp.to_identifier("_side")))
            return exp.select(*[exp.column(n) if n in have else exp.alias_(exp.null(), n) for n in names]).from_(inner)

        union.set("this", aligned(left, left_names))
        union.set("expression", aligned(right, right_names))
        union.set("by_name", None)
    return tree


def _rows_to_structs(tree: exp.Expression) -> exp.Expression:
    """A DuckDB row `(a, b)` outside an IN list: a Spark struct (both compare field by field)."""

    def swap(node):
        if isinstance(node, exp.Tuple) and not isinstance(node.parent, exp.In):
            return exp.Anonymous(this="STRUCT", expressions=list(node.expressions))
        return node

    return tree.transform(swap)


def _infinity(tree: exp.Expression) -> exp.Expression:
    def swap(node):
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.this == "-infinity":
            return exp.cast(exp.Literal.string(SPARK_MIN_TIMESTAMP), "TIMESTAMP")
        return node

    return tree.transform(swap)


def _variables(tree: exp.Expression, variables: dict) -> exp.Expression:
    def swap(node):
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "getvariable":
            name = node.expressions[0].this
            if name not in variables:
                raise ValueError(f"the SQL needs the variable {name!r}: pass it (the step's configuration)")
            value = variables[name]
            if isinstance(value, bool):
                return exp.Boolean(this=value)
            if isinstance(value, (int, float)):
                return exp.Literal.number(value)
            return exp.Literal.string(str(value))
        return node

    return tree.transform(swap)


def _no_asof_joins(tree: exp.Expression) -> exp.Expression:
    """An ASOF join has no Spark form that runs in one sort (a lateral lookup of the latest row runs as a join and a
    window over every matching pair: minutes where DuckDB takes a second). sql/ writes as-of lookups as a window
    over the union of both sides in time order (sql/marts/adoption_panel.sql); a new ASOF join is refused here."""
    for join in tree.find_all(exp.Join):
        if str(join.args.get("method") or "").upper() == "ASOF":
            raise ValueError("ASOF joins are not transpiled for Spark: write the as-of lookup as a running window "
                             "over the union of both sides (see sql/marts/adoption_panel.sql)")
    return tree


def _no_materialization_hints(tree: exp.Expression) -> exp.Expression:
    """`AS [NOT] MATERIALIZED` is DuckDB's hint (sql/ uses it where DuckDB's own choice is slower); Spark SQL has no
    such syntax and plans CTEs itself."""
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    return tree


def _functions(tree: exp.Expression) -> exp.Expression:
    """DuckDB functions whose Spark namesake differs in arguments or meaning."""

    def swap(node):
        if isinstance(node, exp.TimeToUnix):
            # epoch(t): seconds since 1970, fractional, as DuckDB gives them (Spark's unix_timestamp truncates);
            # epoch(a - b): the seconds between two timestamps.
            if isinstance(node.this, exp.Sub):
                a, b = node.this.this, node.this.expression
                micros = exp.Sub(this=exp.Anonymous(this="UNIX_MICROS", expressions=[a.copy()]),
                                 expression=exp.Anonymous(this="UNIX_MICROS", expressions=[b.copy()]))
            else:
                micros = exp.Anonymous(this="UNIX_MICROS", expressions=[node.this.copy()])
            return exp.Div(this=exp.cast(exp.Paren(this=micros), "DOUBLE"), expression=exp.Literal.number(1000000))
        if isinstance(node, exp.DayOfWeekIso):
            # isodow: Monday 1 ... Sunday 7; Spark's weekday: Monday 0 ... Sunday 6.
            return exp.Paren(this=exp.Add(this=exp.Anonymous(this="WEEKDAY", expressions=[node.this.copy()]),
                                          expression=exp.Literal.number(1)))
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            args = list(node.expressions)
            if name == "regexp_split_to_array":
                return exp.Anonymous(this="SPLIT", expressions=[*args, exp.Literal.number(-1)])
            if name == "list_slice" and len(args) == 3:
                # list_slice(x, begin, end), inclusive; Spark's slice(x, start, length).
                length = exp.Add(this=exp.Sub(this=args[2].copy(), expression=args[1].copy()),
                                 expression=exp.Literal.number(1))
                return exp.Anonymous(this="SLICE", expressions=[args[0], args[1], length])
            if name == "to_json" and len(args) == 1 and isinstance(args[0], exp.Column) and not args[0].table:
                # to_json(r) of a table alias: the row as a JSON object.
                star = exp.Column(this=exp.Star(), table=exp.to_identifier(args[0].name))
                # Null fields kept, as DuckDB keeps them (Spark drops them by default).
                options = exp.Anonymous(this="MAP", expressions=[exp.Literal.string("ignoreNullFields"),
                                                                 exp.Literal.string("false")])
                return exp.Anonymous(this="TO_JSON",
                                     expressions=[exp.Anonymous(this="STRUCT", expressions=[star]), options])
        if isinstance(node, exp.RegexpExtract) and isinstance(node.args.get("group"), exp.Array):
            # regexp_extract(s, pattern, ['a', 'b']): a struct of the named groups.
            fields = []
            for index, name in enumerate(node.args["group"].expressions, start=1):
                fields += [name.copy(), exp.RegexpExtract(this=node.this.copy(), expression=node.expression.copy(),
                                                          group=exp.Literal.number(index))]
            return exp.Anonymous(this="NAMED_STRUCT", expressions=fields)
        return node

    return tree.transform(swap)


def _decimal_literals(tree: exp.Expression) -> exp.Expression:
    """A number written with a point (`3600.0`): a double in Spark, as DuckDB computes with it. Spark reads it as
    a DECIMAL, and arithmetic with decimals there keeps a fixed scale (`2 / 3.0` = 0.666667)."""

    def swap(node):
        if isinstance(node, exp.Literal) and not node.is_string and ("." in node.this or "e" in node.this.lower()):
            if not isinstance(node.parent, exp.Cast):
                return exp.cast(node.copy(), "DOUBLE")
        return node

    return tree.transform(swap)


def _generators(tree: exp.Expression) -> exp.Expression:
    """`unnest(x)` inside a projection, and `range(a, b) as r(i)` in a FROM: Spark's LATERAL VIEW EXPLODE (a
    generator cannot be nested in an expression in Spark)."""
    counter = 0
    for select in list(tree.find_all(exp.Select)):
        laterals = list(select.args.get("laterals") or [])
        for unnest in [u for p in select.expressions for u in p.find_all(exp.Unnest, exp.Explode)]:
            if unnest.find_ancestor(exp.Select) is not select:
                continue
            name = f"_unnested{counter}"
            counter += 1
            laterals.append(exp.Lateral(this=exp.Explode(this=unnest.expressions[0].copy()
                                                         if isinstance(unnest, exp.Unnest) else unnest.this.copy()),
                                        view=True, alias=exp.TableAlias(this=exp.to_identifier(name),
                                                                        columns=[exp.to_identifier(name)])))
            unnest.replace(exp.column(name))
        for join in list(select.args.get("joins") or []):
            series = join.this.this if isinstance(join.this, exp.Table) else None
            if isinstance(series, exp.GenerateSeries) and join.this.alias_column_names:
                end = series.args["end"].copy()
                if series.args.get("is_end_exclusive"):
                    end = exp.Sub(this=end, expression=exp.Literal.number(1))
                sequence = exp.Anonymous(this="SEQUENCE", expressions=[series.args["start"].copy(), end])
                # DuckDB's range is empty when end <= start; Spark's sequence counts down instead.
                empty = exp.If(this=exp.LT(this=end.copy(), expression=series.args["start"].copy()),
                               true=exp.Array(expressions=[]), false=sequence)
                laterals.append(exp.Lateral(this=exp.Explode(this=empty), view=True, alias=exp.TableAlias(
                    this=exp.to_identifier(join.this.alias),
                    columns=[exp.to_identifier(c) for c in join.this.alias_column_names])))
                join.pop()
        if laterals:
            select.set("laterals", laterals)
    return tree


def to_spark(text: str, schema: SchemaMirror | None, variables: dict | None = None) -> str:
    """DuckDB SQL (a file of `sql/`) as Spark SQL. `schema` describes relations for the column expansions (None
    when the query has none)."""
    # `len` is the list length in this project's SQL (strings use `length`); parsed alike, so named apart here.
    text = re.sub(r"\blen\(", "array_length(", text)
    tree = sqlglot.parse_one(text, read="duckdb")
    tree = _expand_macros(tree)
    tree = _columns_literal(tree)
    tree = _variables(tree, variables or {})
    if schema is not None:
        tree = _expand_columns_star(tree, schema)
        tree = _expand_union_by_name(tree, schema)
    tree = _infinity(tree)
    tree = _no_asof_joins(tree)
    tree = _no_materialization_hints(tree)
    tree = _functions(tree)
    tree = _decimal_literals(tree)
    tree = _generators(tree)
    tree = _rows_to_structs(tree)
    tree = tree.transform(lambda n: exp.Anonymous(this="MAX_BY", expressions=n.expressions)
                          if isinstance(n, exp.Anonymous) and str(n.this).lower() == "arg_max_null" else n)
    return tree.sql(dialect="spark")


def model_sql(name: str, schema: SchemaMirror, variables: dict | None = None) -> str:
    """The Spark SQL of one relation of the catalogue, fragments (`item_memes`) appended with UNION ALL."""
    from observatory import sqlmodels

    model = sqlmodels.catalogue()[name]
    parts = [to_spark(model.sql, schema, variables)]
    for fragment in model.fragments:
        parts.append(to_spark((model.path.parent / f"{fragment}.sql").read_text(), schema, variables))
    return parts[0] if len(parts) == 1 else "\nUNION ALL\n".join(f"SELECT * FROM ({p})" for p in parts)
