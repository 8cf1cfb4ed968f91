"""Findings and the report: the numbers of every analysis, with their uncertainty and provenance.

`collect_findings` gathers the machine-readable findings (the keys the contract lists, null where the input lacks
what an analysis needs); `write_report` writes `findings.json` and a self-contained HTML report built from the
templates in `dashboards/`. All agent-written text reaches the HTML through Jinja2's autoescaping.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import duckdb
import jinja2

from . import _db, _status

__all__ = ["FINDINGS_KEYS", "collect_findings", "write_report"]

# The keys the contract requires in findings.json, grouped as they are nested there.
FINDINGS_KEYS = {
    "population": ["agents", "active_agents", "posts", "comments"],
    "roles": ["k", "silhouette", "periphery_share"],
    "cascades": ["n", "alpha", "alpha_se", "xmin", "ks_p_value"],
    "adoption": ["hazard_ratio", "hazard_ratio_ci", "concordance"],
    "collab": ["n_events", "success_rate", "p_value", "cohens_d", "cohens_d_ci"],
}

PACKAGES = ("molt-observatory", "duckdb", "pyarrow", "numpy", "scipy", "pandas", "networkx", "igraph",
            "lifelines", "powerlaw", "scikit-learn", "statsmodels", "dagster")


def dashboards_dir() -> Path:
    return _db.project_dir("dashboards")


_table_exists = _db.table_exists


def _clean(value):
    """JSON-ready: numpy scalars to Python, NaN to null."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy scalars and arrays alike
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def collect_findings(con) -> dict:
    """The findings of every analysis that has run, nested as the contract lists them (null where absent)."""
    _db.configure(con)
    findings: dict = {group: {key: None for key in keys} for group, keys in FINDINGS_KEYS.items()}
    if _table_exists(con, "agent_activity"):
        agents, active = con.execute(
            "SELECT count(*) FILTER (WHERE registered), count(*) FILTER (WHERE active) FROM agent_activity"
        ).fetchone()
        findings["population"].update(agents=agents, active_agents=active)
    if _table_exists(con, "posts"):
        findings["population"]["posts"] = con.execute("SELECT count(*) FROM posts").fetchone()[0]
        findings["population"]["comments"] = con.execute("SELECT count(*) FROM comments").fetchone()[0]
    if _table_exists(con, "role_k_selection") and _table_exists(con, "agent_roles"):
        row = con.execute(
            "SELECT k, silhouette, silhouette_sd, degenerate OR unstable, sizes FROM role_k_selection WHERE chosen"
        ).fetchone()
        if row:
            periphery, active, inactive = con.execute(
                "SELECT count(*) FILTER (WHERE role = 'periphery'), count(*) FILTER (WHERE active), "
                "count(*) FILTER (WHERE NOT active) FROM agent_roles"
            ).fetchone()
            findings["roles"].update(
                k=row[0], silhouette=row[1], silhouette_sd=row[2], degenerate=row[3], sizes=list(row[4]),
                periphery_share=periphery / active if active else None, active_agents=active,
                inactive_agents=inactive,
            )
    if _table_exists(con, "cascade_powerlaw"):
        fit = con.execute(
            "SELECT alpha, alpha_se, alpha_ci_lower, alpha_ci_upper, xmin, n_tail, ks, ks_p_value, n_bootstrap, "
            "verdict, method FROM cascade_powerlaw"
        ).fetchone()
        findings["cascades"].update(
            alpha=fit[0], alpha_se=fit[1], alpha_ci=[fit[2], fit[3]], xmin=fit[4], n_tail=fit[5], ks=fit[6],
            ks_p_value=fit[7], n_bootstrap=fit[8], verdict=fit[9], method=fit[10],
        )
        findings["cascades"]["comparisons"] = {
            alt: {"R": r, "p": p} for alt, r, p in con.execute(
                "SELECT alternative, R, p FROM cascade_powerlaw_comparisons ORDER BY alternative").fetchall()
        }
    if _table_exists(con, "cascades"):
        findings["cascades"]["n"] = con.execute("SELECT count(*) FROM cascades").fetchone()[0]
    if _table_exists(con, "adoption_cox"):
        row = con.execute(
            "SELECT hazard_ratio, ci_lower, ci_upper, concordance, p, events, subjects, ph_test_p FROM adoption_cox "
            "WHERE model = 'linear' AND term = 'exposures'"
        ).fetchone()
        if row:
            findings["adoption"].update(
                hazard_ratio=row[0], hazard_ratio_ci=[row[1], row[2]], concordance=row[3], p_value=row[4],
                events=row[5], subjects=row[6], ph_test_p=row[7],
            )
    if _table_exists(con, "exposure_curve"):
        verdict = con.execute("SELECT any_value(verdict) FROM exposure_curve").fetchone()
        if verdict and verdict[0]:
            findings["adoption"]["verdict"] = verdict[0]
    if _table_exists(con, "task_events"):
        n_events, rate = con.execute(
            "SELECT count(*), avg(CAST(resolved AS DOUBLE)) FILTER (WHERE team <> 'none') FROM task_events"
        ).fetchone()
        findings["collab"].update(n_events=n_events, success_rate=rate)
        if _table_exists(con, "cooperation_outcomes"):
            outcomes = {q: (e, lo, hi) for q, e, lo, hi in con.execute(
                "SELECT quantity, estimate, ci_lower, ci_upper FROM cooperation_outcomes").fetchall()}
            if "cohens_d" in outcomes:
                findings["collab"].update(
                    p_value=outcomes["mcnemar_p_value"][0],
                    cohens_d=outcomes["cohens_d"][0],
                    cohens_d_ci=[outcomes["cohens_d"][1], outcomes["cohens_d"][2]],
                    success_rate_difference=outcomes["success_rate_difference_matched"][0],
                    success_rate_difference_ci=list(outcomes["success_rate_difference_matched"][1:]),
                    n_matched=outcomes["n_matched"][0],
                    underpowered=bool(outcomes["underpowered"][0]),
                    mde_success_rate=outcomes["mde_success_rate"][0],
                )
            if "design_sensitive" in outcomes:
                findings["collab"]["design_sensitive"] = bool(outcomes["design_sensitive"][0])
    # Which analyses could be estimated on these data, and why not where they could not.
    findings["status"] = _status.read(con)
    return _clean(findings)


def provenance(con) -> dict:
    """What a reader needs to rerun the same analysis: inputs with hashes, package versions, when."""
    inputs = []
    if _table_exists(con, "ingest_log"):
        inputs = [
            {"drop_seq": r[0], "file": r[1], "entity": r[2], "sha256": r[3], "rows_read": r[4], "rows_loaded": r[5],
             "rows_quarantined": r[6]}
            for r in con.execute(
                "SELECT drop_seq, file, entity, content_sha256, rows_read, rows_loaded, rows_quarantined "
                "FROM ingest_log ORDER BY drop_seq, file"
            ).fetchall()
        ]
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "inputs": inputs,
    }


# Result tables exported beside the report, as Parquet and CSV.
EXPORTED_TABLES = (
    "agent_activity", "agent_features", "agent_roles", "role_profiles", "role_k_selection", "interaction_edges",
    "items", "adoptions", "exposures", "cascades", "cascade_edges", "cascade_powerlaw",
    "cascade_powerlaw_comparisons", "cascade_ccdf", "adoption_subjects", "adoption_panel", "adoption_cox",
    "exposure_curve", "task_events", "cooperation_matches", "cooperation_balance", "cooperation_outcomes",
    "cooperation_success_rates", "cooperation_designs", "cooperation_overlap", "quarantine",
)
VIEWS = ("hubs", "top_cascades", "task_matches", "headline")


def create_researcher_views(con) -> list[str]:
    """Create the documented views of `sql/views/` whose tables exist; returns the names created."""
    created = []
    for name in VIEWS:
        text = (_db.sql_dir() / "views" / f"{name}.sql").read_text()
        try:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS\n{text}")
        except Exception:  # noqa: BLE001 - a view over an analysis that has not run yet is simply not created
            continue
        created.append(name)
    return created


# Headline keys and where the simulator's truth.json holds the planted value of the same quantity.
PLANTED = {
    "population.agents": ("population", "agents"), "population.active_agents": ("population", "active_agents"),
    "population.posts": ("population", "posts"), "population.comments": ("population", "comments"),
    "roles.k": ("roles", "k"), "roles.periphery_share": ("roles", "periphery_share"),
    "cascades.n": ("cascades", "n"), "cascades.alpha": ("cascades", "alpha"), "cascades.xmin": ("cascades", "xmin"),
    "adoption.hazard_ratio": ("adoption", "hazard_ratio"), "collab.n_events": ("cooperation", "n_tasks"),
    "collab.success_rate": ("cooperation", "success_rate"),
}


def planted_truth(con) -> dict | None:
    """The planted values when the data come from the simulator: the truth.json beside an ingested drop.

    Returns None for real data. The file is read as data (only numbers are kept), like everything in a drop.
    """
    if not _table_exists(con, "ingest_drops"):
        return None
    for (drop_path,) in con.execute(
            "SELECT drop_path FROM ingest_drops WHERE finished_at IS NOT NULL ORDER BY drop_seq").fetchall():
        path = Path(drop_path)
        truth_file = (path if path.is_dir() else path.parent) / "truth.json"
        try:
            truth = json.loads(truth_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(truth, dict):
            continue
        values = {}
        for key, (section, field) in PLANTED.items():
            value = truth.get(section, {}).get(field) if isinstance(truth.get(section), dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                values[key] = value
        seed = truth.get("seed")
        return {"truth_file": str(truth_file), "values": values,
                "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None}
    return None


# Tables longer than this are exported as Parquet only unless CSV copies are asked for (they are slow and large).
CSV_MAX_ROWS = 100_000


def export_tables(con, out_dir: Path, csv: bool = False) -> list[dict]:
    """Write every result table that exists as `tables/<name>.parquet`, and as `.csv` when it holds at most
    `CSV_MAX_ROWS` rows or `csv` is set; returns what was written."""
    folder = out_dir / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXPORTED_TABLES:
        if not _table_exists(con, name):
            continue
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        formats = [("parquet", "(FORMAT parquet)")]
        if csv or rows <= CSV_MAX_ROWS:
            formats.append(("csv", "(FORMAT csv, HEADER true)"))
        for fmt, options in formats:
            path = folder / f"{name}.{fmt}"
            con.execute(f"COPY (SELECT * FROM {name}) TO '{_sql_path(path)}' {options}")
        written.append({"table": name, "rows": rows, "parquet": f"tables/{name}.parquet",
                        "csv": f"tables/{name}.csv" if len(formats) == 2 else None})
    return written


def _sql_path(path: Path) -> str:
    # COPY ... TO takes a literal, not a parameter: the path is ours (out_dir/tables/<known name>), quotes doubled.
    return str(path).replace("'", "''")


def _rows(con, sql: str, limit: int | None = None) -> list[dict]:
    frame = con.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).df()
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def report_context(con) -> dict:
    """Everything the report template shows, read from the database."""
    from . import _charts

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
    _db.configure(con)
    findings = collect_findings(con)
    prov = provenance(con)
    prov["parameters"] = parameters or {}
    context = report_context(con)
    prov["exports"] = export_tables(con, out, csv=csv) if export else []
    prov["report_seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 2)
    (out / "findings.json").write_text(json.dumps({**findings, "provenance": prov}, indent=2, default=str) + "\n")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(dashboards_dir()),
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
