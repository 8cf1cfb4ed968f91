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
