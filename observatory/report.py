"""Findings and the report: the numbers of every analysis, with their uncertainty and provenance.

`collect_findings` gathers the machine-readable findings (the keys the contract lists, null where the input lacks
what an analysis needs); `write_report` writes `findings.json` and a self-contained HTML report built from the
templates in `dashboards/`. All agent-written text reaches the HTML through Jinja2's autoescaping.
"""

from __future__ import annotations

import json
import math
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import jinja2

from . import _db

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
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "dashboards", here / "dashboards"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the dashboards/ folder is missing from this installation")


def _table_exists(con, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
    ).fetchone()[0] or con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()[0])


def _clean(value):
    """JSON-ready: numpy scalars to Python, NaN to null."""
    if hasattr(value, "item"):
        value = value.item()
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
        "packages": versions,
        "inputs": inputs,
    }


def write_report(con, out_dir: str | Path, *, parameters: dict | None = None) -> Path:
    """Write `findings.json` and `index.html` into `out_dir`; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    findings = collect_findings(con)
    prov = provenance(con)
    prov["parameters"] = parameters or {}
    (out / "findings.json").write_text(json.dumps({**findings, "provenance": prov}, indent=2, default=str) + "\n")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(dashboards_dir()),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("report.html.j2").render(findings=findings, provenance=prov)
    path = out / "index.html"
    path.write_text(html)
    return path
