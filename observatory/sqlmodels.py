"""The catalogue of `sql/`: every table and view it defines, what each one reads, and the tests declared beside it.

Each file of `sql/staging/`, `sql/marts/` and `sql/views/` defines one relation of the same name: staging files
and researcher views are views, marts are tables. The clean tables (`agents`, `posts`, `submolts`, `comments`,
`votes`, `tasks`) are tables copied from their `stg_*` view after each ingest, so they are catalogued too, with
the documentation and tests of the view that defines them. What a relation reads is parsed from its SQL (sqlglot,
DuckDB dialect): every table it names outside its own CTEs, and, for the project's table macros
(`merged_copies('raw_posts', 'id')`), what the macro reads plus the tables named by its string arguments.

A file's leading comment is its documentation. It may end with two blocks read by this module::

    -- columns:
    --   id: the comment's id on Moltbook
    -- tests:
    --   unique: id
    --   not_null: id, post_id
    --   references: post_id -> posts.id
    --   references (warn): author_id -> agents.id

`unique` takes one column or a comma-separated composite key; `not_null` one or more columns, each tested;
`references` that every row whose columns are all non-null finds a row of another relation with the same values
(one column, or a composite: `item, agent_id -> adoptions.item, agent_id`). A test fails (or, marked
`(warn)`, warns) when any row breaks it; :func:`check` counts those rows. The Dagster definitions make each test an
asset check; `observatory` itself only reads the catalogue to build relations in dependency order.

A *fragment* (`-- fragment of: item_mentions`) is not a relation: its rows are appended to the named table when
that is built (`item_memes`: the word n-grams, empty unless `extract_memes` is set).

>>> models = catalogue()
>>> sorted(models["comments"].reads)
['stg_comments']
>>> sorted(models["cascade_nodes"].reads)
['cascade_edges']
>>> [t.kind for t in models["comments"].tests][:2]
['unique', 'not_null']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["Macro", "SqlModel", "TableTest", "catalogue", "build", "check", "fingerprint", "macro_definitions",
           "reads_of", "refresh", "renamed_sql", "test_sql"]

FOLDERS = {"staging": "view", "marts": "table", "views": "view"}


@dataclass(frozen=True)
class TableTest:
    """One declared test: `kind` is unique, not_null or references; `columns` the tested columns; for references,
    `target` and `target_column`; `warn` when a failure is a warning."""

    kind: str
    columns: tuple[str, ...]
    target: str | None = None
    target_columns: tuple[str, ...] = ()
    warn: bool = False

    @property
    def name(self) -> str:
        if self.kind == "references":
            return f"{'_'.join(self.columns)}_references_{self.target}"
        return f"{'_'.join(self.columns)}_{self.kind}"


@dataclass(frozen=True)
class SqlModel:
    """A relation defined in `sql/`: its name, whether it is a view or a table, the file that defines it, the
    relations it reads, its documentation, column descriptions, declared tests and the variables it needs."""

    name: str
    kind: str
    path: Path
    reads: frozenset[str]
    description: str
    columns: dict[str, str] = field(default_factory=dict)
    tests: tuple[TableTest, ...] = ()
    variables: frozenset[str] = frozenset()
    fragments: tuple[str, ...] = ()

    @property
    def sql(self) -> str:
        text = self.path.read_text()
        if self.kind == "table" and self.path.stem != self.name:  # a clean table: its stg_ view
            return f"SELECT * FROM {self.path.stem}"
        return text

    @property
    def layer(self) -> str:
        return self.path.parent.name


def _sql_dir() -> Path:
    from observatory.db import sql_dir

    return sql_dir()


def _header(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].removeprefix(" "))
    return lines


_TEST = re.compile(r"(?P<kind>unique|not_null|references)\s*(?P<warn>\(warn\))?\s*:\s*(?P<body>.+)")
_REFERENCE = re.compile(r"(?P<columns>\w+(?:\s*,\s*\w+)*)\s*->\s*(?P<table>\w+)\.(?P<targets>\w+(?:\s*,\s*\w+)*)")


def _names(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(","))


def _parse_header(path: Path, text: str) -> tuple[str, dict[str, str], tuple[TableTest, ...], str | None]:
    """The description, column descriptions, tests and the `fragment of` target of one file's leading comment."""
    description, columns, tests, fragment_of = [], {}, [], None
    block = None
    for line in _header(text):
        stripped = line.strip()
        if stripped in ("columns:", "tests:"):
            block = stripped[:-1]
            continue
        if stripped.startswith("fragment of:"):
            fragment_of = stripped.split(":", 1)[1].strip()
            continue
        if block == "columns" and line.startswith("  ") and ":" in stripped:
            name, text_ = stripped.split(":", 1)
            columns[name.strip()] = text_.strip()
        elif block == "columns" and line.startswith("    ") and columns:
            last = next(reversed(columns))
            columns[last] = f"{columns[last]} {stripped}"
        elif block == "tests" and stripped:
            match = _TEST.fullmatch(stripped)
            if not match:
                raise ValueError(f"{path}: cannot read the test {stripped!r} (expected unique:, not_null: or "
                                 "references: column -> table.column)")
            kind, warn, body = match["kind"], bool(match["warn"]), match["body"].strip()
            if kind == "references":
                ref = _REFERENCE.fullmatch(body)
                if not ref:
                    raise ValueError(f"{path}: a reference reads `column -> table.column`, not {body!r}")
                sources, targets = _names(ref["columns"]), _names(ref["targets"])
                if len(sources) != len(targets):
                    raise ValueError(f"{path}: {body!r} compares {len(sources)} columns with {len(targets)}")
                tests.append(TableTest(kind, sources, ref["table"], targets, warn))
            elif kind == "unique":
                tests.append(TableTest(kind, _names(body), warn=warn))
            else:
                tests.extend(TableTest(kind, (c,), warn=warn) for c in _names(body))
        elif block is None:
            description.append(stripped)
    return " ".join(w for w in description if w).strip(), columns, tuple(tests), fragment_of


def reads_of(text: str, macros: dict[str, frozenset[str]] | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """The relations a query reads (outside its own CTEs) and the variables (`getvariable('x')`) it needs.

    `macros` maps a table macro's name to what it reads itself; a call to one also reads every table named by a
    string argument (`merged_copies('raw_posts', 'id')` reads `raw_posts`; the key column `'id'` is not a relation
    of the catalogue and is dropped by the caller).
    """
    import sqlglot
    from sqlglot import expressions as exp

    macros = macros or {}
    tree = sqlglot.parse_one(text, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    reads: set[str] = set()
    for table in tree.find_all(exp.Table):
        call = table.this
        if isinstance(call, exp.Anonymous):
            name = str(call.this)
            if name in macros:
                reads |= macros[name]
                reads |= {arg.this for arg in call.expressions if isinstance(arg, exp.Literal) and arg.is_string}
            continue
        if table.name and not table.db and table.name not in ctes:
            reads.add(table.name)
    variables = {
        call.expressions[0].this
        for call in tree.find_all(exp.Anonymous)
        if str(call.this).lower() == "getvariable" and call.expressions and isinstance(call.expressions[0], exp.Literal)
    }
    return frozenset(reads), frozenset(variables)


@dataclass(frozen=True)
class Macro:
    """One macro of `sql/macros/` (a file `name(params) as [table] body`)."""

    name: str
    params: tuple[str, ...]
    body: str
    is_table: bool


def macro_definitions(root: Path | None = None) -> dict[str, Macro]:
    """Every macro of `sql/macros/`, by lower-case name."""
    found = {}
    for path in sorted(((root or _sql_dir()) / "macros").glob("*.sql")):
        body = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
        match = re.match(r"\s*(\w+)\s*\(([^)]*)\)\s+as\s+(table\s+)?(.*)", body, flags=re.S | re.I)
        if not match:
            raise ValueError(f"{path.name}: not a macro definition (name(params) as [table] body)")
        params = tuple(p.strip() for p in match[2].split(",") if p.strip())
        found[match[1].lower()] = Macro(match[1], params, match[4].strip(), bool(match[3]))
    return found


def _macros(root: Path) -> dict[str, frozenset[str]]:
    """Each table macro of `sql/macros/` and what it reads."""
    return {name: reads_of(m.body)[0] for name, m in macro_definitions(root).items() if m.is_table}


@lru_cache(maxsize=4)
def _catalogue(root: str, stamp: tuple) -> dict[str, SqlModel]:
    from observatory.db import CLEAN_TABLES

    folder = Path(root)
    macros = _macros(folder)
    models: dict[str, SqlModel] = {}
    fragments: dict[str, list[tuple[str, frozenset[str], frozenset[str]]]] = {}
    for layer, kind in FOLDERS.items():
        for path in sorted((folder / layer).glob("*.sql")):
            text = path.read_text()
            description, columns, tests, fragment_of = _parse_header(path, text)
            reads, variables = reads_of(text, macros)
            if fragment_of:
                fragments.setdefault(fragment_of, []).append((path.stem, reads, variables))
                continue
            models[path.stem] = SqlModel(path.stem, kind, path, reads, description, columns, tests, variables)
    for name in CLEAN_TABLES:
        view = models[f"stg_{name}"]
        models[name] = SqlModel(name, "table", view.path, frozenset({view.name}), view.description, view.columns,
                                view.tests)
        models[view.name] = SqlModel(view.name, "view", view.path, view.reads, view.description, view.columns, (),
                                     view.variables)
    for target, parts in fragments.items():
        model = models[target]
        models[target] = SqlModel(
            model.name, model.kind, model.path, model.reads.union(*(r for _, r, _ in parts)), model.description,
            model.columns, model.tests, model.variables.union(*(v for _, _, v in parts)),
            tuple(name for name, _, _ in parts))
    # A string argument of a macro call is a relation only when something defines it (or it is a raw table).
    known = set(models) | _external()
    return {name: SqlModel(m.name, m.kind, m.path, frozenset(r for r in m.reads if r in known), m.description,
                           m.columns, m.tests, m.variables, m.fragments) for name, m in models.items()}


def _external() -> set[str]:
    """Relations `sql/` reads that the ingest writes (raw tables and the ingest's bookkeeping) or Python steps do."""
    from observatory.contract import ENTITIES
    from observatory.steps import PYTHON_TABLES

    return {e.raw_table for e in ENTITIES} | {"ingest_drops", "ingest_log", "quarantine_rows"} | set(PYTHON_TABLES)


def catalogue() -> dict[str, SqlModel]:
    """Every relation `sql/` defines, by name (re-read when a file changes)."""
    root = _sql_dir()
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in sorted(root.rglob("*.sql")))
    return _catalogue(str(root), stamp)


def build(con, name: str, variables: dict | None = None) -> int | None:
    """(Re)create one relation of the catalogue from its SQL (fragments appended); returns a table's row count,
    None for a view (counting a view computes it: 50 s for the quarantine at Moltbook's size).

    The variables its SQL reads (`getvariable`) are set from `variables` (other keys are ignored); one that is
    neither given nor set on the connection is an error, not a silent NULL threshold.
    """
    from observatory.db import from_lake, row_count

    if from_lake(con, name):
        return row_count(con, name)  # built by the Spark engine, read from its lake
    model = catalogue()[name]
    for variable in sorted(model.variables):
        if variables is not None and variable in variables:
            con.execute(f"SET VARIABLE {variable} = ?", [variables[variable]])
        elif con.execute("SELECT getvariable(?) IS NULL", [variable]).fetchone()[0]:
            raise ValueError(f"{model.path.name} needs the variable {variable!r}: pass it (the step's configuration)")
    con.execute(f"CREATE OR REPLACE {model.kind.upper()} {name} AS\n{model.sql}")
    for fragment in model.fragments:
        con.execute(f"INSERT INTO {name} {(model.path.parent / f'{fragment}.sql').read_text()}")
    if model.kind == "view":
        return None
    return con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


def refresh(con, name: str, variables: dict | None = None) -> int | None:
    """Bring one relation up to date the cheapest correct way; returns its row count (None for a view). A clean table or a cascade
    table is refreshed incrementally where it can be (observatory.db.refresh_clean_table,
    observatory.studies.cascades.refresh_cascade_table); anything else is rebuilt from its SQL."""
    from observatory import db
    from observatory.studies.cascades import TABLES, CascadeConfig, refresh_cascade_table

    if name in db.CLEAN_TABLES:
        return db.refresh_clean_table(con, name)
    if name in TABLES:
        fields = CascadeConfig.__dataclass_fields__
        config = CascadeConfig(**{k: v for k, v in (variables or {}).items() if k in fields})
        return refresh_cascade_table(con, name, config)
    return build(con, name, variables)


def fingerprint(*texts: str) -> str:
    """A short hash of definitions (SQL text, configuration): when it changes, an incremental table is rebuilt."""
    import hashlib

    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def renamed_sql(name: str, renames: dict[str, str]) -> str:
    """A relation's SQL with the relations it reads renamed (`renames`: old -> new), macro arguments included: the
    same definition applied to other inputs, e.g. to the rows of the keys a new drop touched. DuckDB runs the
    regenerated SQL exactly as the file (tested on every file, tests/test_incremental.py)."""
    import sqlglot
    from sqlglot import expressions as exp

    tree = sqlglot.parse_one(catalogue()[name].path.read_text(), read="duckdb")
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Anonymous):
            for arg in table.this.expressions:
                if isinstance(arg, exp.Literal) and arg.is_string and arg.this in renames:
                    arg.replace(exp.Literal.string(renames[arg.this]))
        elif table.name in renames and not table.db:
            table.set("this", exp.to_identifier(renames[table.name]))
    return tree.sql(dialect="duckdb")


def test_sql(table: str, test: TableTest) -> str:
    """A query returning (rows breaking the test, rows tested) for one declared test on `table`."""
    from observatory.db import quote

    t = quote(table)
    cols = [quote(c) for c in test.columns]
    if test.kind == "unique":
        key = ", ".join(cols)
        return (f"SELECT coalesce(sum(n) FILTER (WHERE n > 1), 0), coalesce(sum(n), 0) FROM "
                f"(SELECT count(*) AS n FROM {t} GROUP BY {key})")
    if test.kind == "not_null":
        return f"SELECT count(*) FILTER (WHERE {cols[0]} IS NULL), count(*) FROM {t}"
    keys = ", ".join(f"{quote(c)} AS k{i}" for i, c in enumerate(test.target_columns))
    present = " AND ".join(f"s.{c} IS NOT NULL" for c in cols)
    joined = " AND ".join(f"r.k{i} = s.{c}" for i, c in enumerate(cols))
    return (f"SELECT count(*) FILTER (WHERE {present} AND r.k0 IS NULL), count(*) FROM {t} AS s "
            f"LEFT JOIN (SELECT DISTINCT {keys} FROM {quote(test.target)}) AS r ON {joined}")


def check(con, table: str, test: TableTest) -> tuple[int, int]:
    """Run one declared test: (rows that break it, rows tested)."""
    failing, total = con.execute(test_sql(table, test)).fetchone()
    return int(failing), int(total)
