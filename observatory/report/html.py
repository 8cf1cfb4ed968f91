"""The report: `write_report` writes `findings.json` (:mod:`.findings`), a self-contained HTML report built from
the template in `templates/`, and copies of the result tables. All agent-written text reaches the HTML through
Jinja2's autoescaping.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import jinja2

from observatory import db
from observatory.estimators.base import json_ready
from observatory.report.findings import (
    EXPORTED_TABLES,
    collect_findings,
    create_researcher_views,
    planted_truth,
    provenance,
)

__all__ = ["CSV_MAX_ROWS", "export_tables", "write_report"]


# Tables longer than this are exported as Parquet only unless CSV copies are asked for (they are slow and large).
CSV_MAX_ROWS = 100_000

TEMPLATES = Path(__file__).parent / "templates"


def export_tables(con, out_dir: Path, csv: bool = False) -> list[dict]:
    """Write every result table that exists as `tables/<name>.parquet`, and as `.csv` when it holds at most
    `CSV_MAX_ROWS` rows or `csv` is set; returns what was written."""
    folder = out_dir / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXPORTED_TABLES:
        if not db.table_exists(con, name):
            continue
        # A view (the quarantine) is computed once, into a temporary table, for its count and both copies.
        source = name
        if db.table_exists(con, name, "view"):
            con.execute(f"CREATE OR REPLACE TEMP TABLE _export AS SELECT * FROM {name}")
            source = "_export"
        rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
        with_csv = csv or rows <= CSV_MAX_ROWS
        con.execute(f"COPY (SELECT * FROM {source}) TO '{_sql_path(folder / f'{name}.parquet')}' (FORMAT parquet)")
        if with_csv:
            con.execute(f"COPY (SELECT * FROM {source}) TO '{_sql_path(folder / f'{name}.csv')}' "
                        "(FORMAT csv, HEADER true)")
        if source == "_export":
            con.execute("DROP TABLE _export")
        written.append({"table": name, "rows": rows, "parquet": f"tables/{name}.parquet",
                        "csv": f"tables/{name}.csv" if with_csv else None})
    return written


def _sql_path(path: Path) -> str:
    # COPY ... TO takes a literal, not a parameter: the path is ours (out_dir/tables/<known name>), quotes doubled.
    return str(path).replace("'", "''")


def _rows(con, sql: str, limit: int | None = None) -> list[dict]:
    frame = con.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).df()
    return [{k: json_ready(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def report_context(con) -> dict:
    """Everything the report template shows, read from the database."""
    from observatory.report import charts as _charts

    views = create_researcher_views(con)
    context: dict = {"views": views}
    context["headline"] = _rows(con, "SELECT * FROM headline") if "headline" in views else []
    context["simulated"] = planted_truth(con)
    planted = (context["simulated"] or {}).get("values", {})
    for row in context["headline"]:
        row["planted"] = planted.get(row["key"])
    context["hubs"] = _rows(con, "SELECT * FROM hubs", limit=10) if "hubs" in views else []
    context["top_cascades"] = _rows(con, "SELECT * FROM top_cascades", limit=10) if "top_cascades" in views else []
    context["task_matches"] = _rows(con, "SELECT * FROM task_matches", limit=10) if "task_matches" in views else []
    for name, sql in (
        ("k_selection", "SELECT * FROM role_k_selection ORDER BY k"),
        ("role_profiles", "SELECT role, agents, share, posts_median, comments_median, in_strength_median, "
                          "reciprocity_median, coreness_median FROM role_profiles ORDER BY agents DESC"),
        ("comparisons", "SELECT alternative, R, p, normalized_R, nested, verdict FROM cascade_powerlaw_comparisons"),
        ("powerlaw", "SELECT * FROM cascade_powerlaw"),
        ("cascade_stats", "SELECT kind, count(*) AS cascades, sum(size) AS adoptions, max(size) AS largest, "
                          "avg(depth) AS mean_depth, max(depth) AS max_depth, avg(structural_virality) AS mean_virality "
                          "FROM cascades GROUP BY kind ORDER BY kind"),
        ("cox", "SELECT * FROM adoption_cox ORDER BY model, term"),
        ("curve", "SELECT * FROM exposure_curve ORDER BY k"),
        ("balance", "SELECT * FROM cooperation_balance"),
        ("outcomes", "SELECT * FROM cooperation_outcomes"),
        ("designs", "SELECT design, n_matched, n_treated, estimate, ci_lower, ci_upper, interval "
                    "FROM cooperation_designs"),
        ("quarantine", "SELECT entity, reason, count(*) AS rows FROM quarantine GROUP BY ALL ORDER BY ALL"),
        ("trends", 'SELECT quantity, "window", window_start, window_end, estimate, ci_lower, ci_upper, n '
                   'FROM headline_trends ORDER BY quantity, "window"'),
        ("injection_items", "SELECT * FROM injection_items ORDER BY adopters DESC, mentions DESC, item"),
        ("injection_hazards", "SELECT * FROM injection_hazards ORDER BY items_group DESC, accounts"),
        ("sensitivity", "SELECT * FROM coordination_sensitivity"),
        ("injection_cascades", "SELECT c.item, c.size, c.depth, c.structural_virality, c.root_agent_id "
                               "FROM cascades c JOIN items i USING (item) WHERE i.kind = 'injection' "
                               "ORDER BY c.size DESC, c.item LIMIT 10"),
        ("injection_summary", "SELECT (SELECT count(*) FROM agent_activity WHERE active) AS active, "
                              "(SELECT count(DISTINCT agent_id) FROM adoptions WHERE kind = 'injection') AS wrote, "
                              "(SELECT count(*) FROM agent_activity WHERE coordinated) AS coordinated"),
        ("shifts", "SELECT * FROM headline_shifts WHERE flagged ORDER BY p_adjusted, quantity"),
        ("shift_family", "SELECT count(*) AS comparisons, any_value(level) AS level FROM headline_shifts"),
        ("history", "SELECT run_id, recorded_at, quantity, estimate, ci_lower, ci_upper, n, drops "
                    "FROM headline_history WHERE scope = 'cumulative' ORDER BY quantity, recorded_at, run_id"),
    ):
        try:
            context[name] = _rows(con, sql)
        except Exception:  # noqa: BLE001 - the analysis has not run: its section says so
            context[name] = []
    # Every chart has a key, None when its tables are missing, so a section can test for it.
    context["charts"] = {}
    for name, draw in _charts.CHARTS.items():
        try:
            fig = draw(con)
        except duckdb.Error:  # a table the chart reads has not been computed yet
            fig = None
        context["charts"][name] = None if fig is None else _charts.to_svg(fig)
    return context


def write_report(con, out_dir: str | Path, *, parameters: dict | None = None, export: bool = True,
                 csv: bool = False) -> Path:
    """Write `findings.json`, `index.html` and (with `export`) every result table as Parquet and CSV into `out_dir`.

    The HTML is self-contained: styles inline, charts as inline SVG, no script and no network access. Every
    agent-written string reaches it through Jinja2's autoescaping (SVG text is escaped by matplotlib's writer).
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written into a fresh sibling folder and swapped in whole: a failure leaves the previous report as it was.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's folder is private; a report is meant to be shared
    try:
        _write_report_files(con, staging, parameters=parameters, export=export, csv=csv)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = out.parent / f".{out.name}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    shutil.rmtree(previous, ignore_errors=True)
    return out / "index.html"


def _write_report_files(con, out: Path, *, parameters: dict | None, export: bool, csv: bool) -> None:
    started = datetime.now(timezone.utc)
    db.configure(con)
    findings = collect_findings(con)
    prov = provenance(con)
    prov["parameters"] = parameters or {}
    context = report_context(con)
    prov["exports"] = export_tables(con, out, csv=csv) if export else []
    prov["report_seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 2)
    (out / "findings.json").write_text(json.dumps({**findings, "provenance": prov}, indent=2, default=str) + "\n")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _format_number
    html = env.get_template("report.html.j2").render(findings=findings, provenance=prov, **context)
    (out / "index.html").write_text(html)


def _format_number(value, digits: int = 3) -> str:
    """Numbers as a reader wants them: integers with thousands separators, reals to `digits` significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return str(value)
