"""The findings: every analysis's numbers with their uncertainty and provenance (findings.json), the researcher
views, and the planted truth of a simulated society beside them."""

from __future__ import annotations

import json
import math
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from observatory import _status, db
from observatory.estimators.base import json_ready

__all__ = ["FINDINGS_KEYS", "collect_findings", "create_researcher_views", "planted_truth", "provenance"]

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


def collect_findings(con) -> dict:
    """The findings of every analysis that has run, nested as the contract lists them (null where absent)."""
    db.configure(con)
    findings: dict = {group: {key: None for key in keys} for group, keys in FINDINGS_KEYS.items()}
    if db.table_exists(con, "agent_activity"):
        agents, active = con.execute(
            "SELECT count(*) FILTER (WHERE registered), count(*) FILTER (WHERE active) FROM agent_activity"
        ).fetchone()
        findings["population"].update(agents=agents, active_agents=active)
    if db.table_exists(con, "posts"):
        findings["population"]["posts"] = con.execute("SELECT count(*) FROM posts").fetchone()[0]
        findings["population"]["comments"] = con.execute("SELECT count(*) FROM comments").fetchone()[0]
    if db.table_exists(con, "role_k_selection") and db.table_exists(con, "agent_roles"):
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
    if db.table_exists(con, "cascade_powerlaw"):
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
    if db.table_exists(con, "cascades"):
        findings["cascades"]["n"] = con.execute("SELECT count(*) FROM cascades").fetchone()[0]
    if db.table_exists(con, "adoption_cox"):
        row = con.execute(
            "SELECT hazard_ratio, ci_lower, ci_upper, concordance, p, events, subjects, ph_test_p FROM adoption_cox "
            "WHERE model = 'linear' AND term = 'exposures'"
        ).fetchone()
        if row:
            findings["adoption"].update(
                hazard_ratio=row[0], hazard_ratio_ci=[row[1], row[2]], concordance=row[3], p_value=row[4],
                events=row[5], subjects=row[6], ph_test_p=row[7],
            )
    if db.table_exists(con, "exposure_curve"):
        verdict = con.execute("SELECT any_value(verdict) FROM exposure_curve").fetchone()
        if verdict and verdict[0]:
            findings["adoption"]["verdict"] = verdict[0]
    if db.table_exists(con, "task_events"):
        n_events, rate = con.execute(
            "SELECT count(*), avg(CAST(resolved AS DOUBLE)) FILTER (WHERE team <> 'none') FROM task_events"
        ).fetchone()
        findings["collab"].update(n_events=n_events, success_rate=rate)
        if db.table_exists(con, "cooperation_outcomes"):
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
    findings["trends"] = _trends(con)
    findings["injection"] = _injection(con)
    # Which analyses could be estimated on these data, and why not where they could not.
    findings["status"] = _status.read(con)
    return json_ready(findings)


def _injection(con) -> dict:
    """The detector's version and measured figures; the injection families, their hazards beside ordinary items, and
    the headlines with and without the coordinated accounts, when the injection study has run."""
    from observatory.injection import DETECTOR_VERSION, HOLDOUT_FIGURES

    out: dict = {"detector_version": DETECTOR_VERSION, **HOLDOUT_FIGURES}
    if db.table_exists(con, "agent_activity"):
        out["coordinated_accounts"] = con.execute(
            "SELECT count(*) FILTER (WHERE coordinated) FROM agent_activity").fetchall()[0][0]
    for name in ("injection_items", "injection_hazards", "coordination_sensitivity"):
        if db.table_exists(con, name):
            out[name.removeprefix("injection_")] = con.execute(f"SELECT * FROM {name}").df().to_dict("records")
    return out


def _trends(con) -> dict | None:
    """Every headline per window (a series per quantity), the flagged shifts, and the history of earlier runs."""
    if not db.table_exists(con, "headline_trends"):
        return None
    series: dict = {}
    for quantity, window, start, end, estimate, lower, upper, n, days in con.execute(
            'SELECT quantity, "window", window_start, window_end, estimate, ci_lower, ci_upper, n, window_days '
            'FROM headline_trends ORDER BY quantity, "window"').fetchall():
        series.setdefault(quantity, []).append({"window": window, "start": start, "end": end, "estimate": estimate,
                                                "ci": [lower, upper], "n": n})
    days = con.execute("SELECT any_value(window_days) FROM headline_trends").fetchall()[0][0]
    shifts, comparisons, level = [], 0, None
    if db.table_exists(con, "headline_shifts"):
        columns = ["quantity", "window_before", "window_after", "estimate_before", "estimate_after", "z", "p",
                   "p_adjusted", "intervals_overlap"]
        shifts = [dict(zip(columns, row)) for row in con.execute(
            f"SELECT {', '.join(columns)} FROM headline_shifts WHERE flagged ORDER BY p_adjusted").fetchall()]
        comparisons, level = con.execute("SELECT count(*), any_value(level) FROM headline_shifts").fetchall()[0]
    history: dict = {}
    if db.table_exists(con, "headline_history"):
        for run_id, at, quantity, estimate, lower, upper, n in con.execute(
                "SELECT run_id, recorded_at, quantity, estimate, ci_lower, ci_upper, n FROM headline_history "
                "WHERE scope = 'cumulative' ORDER BY recorded_at, run_id").fetchall():
            history.setdefault(quantity, []).append({"run_id": run_id, "recorded_at": at, "estimate": estimate,
                                                     "ci": [lower, upper], "n": n})
    return {"window_days": days, "level": level, "comparisons": comparisons, "series": series, "shifts": shifts,
            "history": history}


def provenance(con) -> dict:
    """What a reader needs to rerun the same analysis: inputs with hashes, package versions, when."""
    inputs = []
    if db.table_exists(con, "ingest_log"):
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
    "cooperation_success_rates", "cooperation_designs", "cooperation_overlap", "headline_trends", "headline_shifts",
    "headline_history", "duplicate_texts", "injection_items", "injection_hazards", "coordination_sensitivity",
    "quarantine",
)
VIEWS = ("hubs", "top_cascades", "task_matches", "headline")


def create_researcher_views(con) -> list[str]:
    """Create the documented views of `sql/views/` whose tables exist; returns the names created."""
    created = []
    for name in VIEWS:
        text = (db.sql_dir() / "views" / f"{name}.sql").read_text()
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
    # Beside the injection section's hazards: the ordinary items' and the campaigns' planted ratios.
    "adoption.hazard_ratio_ordinary": ("adoption", "hazard_ratio"),
    "adoption.hazard_ratio_injection": ("injection", "hazard_ratio"),
}


def planted_truth(con) -> dict | None:
    """The planted values when the data come from the simulator: the truth.json beside an ingested drop.

    Returns None for real data. The file is read as data (only numbers are kept), like everything in a drop.
    """
    if not db.table_exists(con, "ingest_drops"):
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
        change = truth.get("change") if isinstance(truth.get("change"), dict) else {}
        injection = truth.get("injection") if isinstance(truth.get("injection"), dict) else {}
        for key, (section, field) in PLANTED.items():
            if key.startswith("adoption.hazard_ratio") and key != "adoption.hazard_ratio_injection" \
                    and "hazard_ratio_after" in change:
                continue  # a planted change: no one ratio for the whole window (the Trends section has both)
            if key == "adoption.hazard_ratio" and injection.get("campaigns"):
                continue  # injection campaigns have a ratio of their own: the pooled estimate has no planted value
            value = truth.get(section, {}).get(field) if isinstance(truth.get(section), dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                values[key] = value
        seed = truth.get("seed")
        return {"truth_file": str(truth_file), "values": values,
                "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None}
    return None
