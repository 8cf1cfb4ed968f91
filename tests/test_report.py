"""The report: the same numbers in findings.json, the SQL views and the HTML; hostile text carried inert; exports;
the README's example queries; and a real browser opening the page."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from observatory import db as _db
from observatory.report.findings import EXPORTED_TABLES, FINDINGS_KEYS
from observatory.report.html import CSV_MAX_ROWS
from observatory.steps import build_agent_activity

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


class HeadlineParser(HTMLParser):
    """Collects `data-key` rows of the headline table and the `data-value` of their value cells."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, float] = {}
        self._key = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-key" in attrs:
            self._key = attrs["data-key"]
        if tag == "td" and "data-value" in attrs and self._key:
            value = attrs["data-value"]
            self.values[self._key] = None if value in ("None", "") else float(value)
            self._key = None


def _flat(findings: dict) -> dict:
    return {f"{group}.{key}": findings[group][key] for group, keys in FINDINGS_KEYS.items() for key in keys}


def test_findings_have_every_contract_key(society):
    findings = json.loads((society.results["report"].parent / "findings.json").read_text())
    for group, keys in FINDINGS_KEYS.items():
        for key in keys:
            assert key in findings[group], f"{group}.{key}"
            assert findings[group][key] is not None, f"{group}.{key} is null on the default society"
    assert findings["provenance"]["inputs"], "input files with their hashes"
    assert all(len(f["sha256"]) == 64 for f in findings["provenance"]["inputs"])


def test_headline_matches_findings_json_and_the_sql_view(society):
    report = society.results["report"]
    findings = _flat(json.loads((report.parent / "findings.json").read_text()))
    parser = HeadlineParser()
    parser.feed(report.read_text())
    with society.connect() as con:
        view = {key: value for key, value in con.execute("SELECT key, value FROM headline").fetchall()}
    assert parser.values, "the report has a headline table"
    for key, html_value in parser.values.items():
        assert html_value == pytest.approx(view[key], rel=1e-9), key
        assert html_value == pytest.approx(findings[key], rel=1e-9), key
    # Every scalar contract key is in the headline.
    scalar = {k for k, v in findings.items() if not isinstance(v, list)}
    assert scalar <= set(parser.values)
    with society.connect() as con:
        lo, hi = con.execute("SELECT ci_lower, ci_upper FROM headline WHERE key = 'adoption.hazard_ratio'").fetchone()
    assert [lo, hi] == pytest.approx(findings["adoption.hazard_ratio_ci"])


def test_every_result_table_is_exported_as_parquet_and_short_ones_as_csv(society):
    folder = society.results["report"].parent / "tables"
    big = []
    with society.connect() as con:
        present = [t for t in EXPORTED_TABLES if con.execute(
            "SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()) "
            "WHERE n = ?", [t]).fetchone()[0]]
        for table in present:
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert con.execute("SELECT count(*) FROM read_parquet(?)", [str(folder / f"{table}.parquet")]).fetchone()[0] == rows
            csv_path = folder / f"{table}.csv"
            if rows > CSV_MAX_ROWS:  # CSV copies of long tables are opt-in (--csv)
                assert not csv_path.exists(), table
                big.append(table)
                continue
            csv_rows = con.execute("SELECT count(*) FROM read_csv(?, header = true, all_varchar = true)",
                                   [str(csv_path)]).fetchone()[0]
            assert csv_rows == rows, table
    assert {"agent_roles", "cascades", "adoption_cox", "cooperation_balance"} <= set(present)


def test_csv_copies_of_long_tables_are_opt_in(society, tmp_path, monkeypatch):
    from observatory.report import html as report_module

    monkeypatch.setattr(report_module, "CSV_MAX_ROWS", 50)
    with society.connect() as con:
        default = {e["table"]: e for e in report_module.export_tables(con, tmp_path / "default")}
        asked = {e["table"]: e for e in report_module.export_tables(con, tmp_path / "asked", csv=True)}
    long_tables = [t for t, e in default.items() if e["rows"] > 50]
    short_tables = [t for t, e in default.items() if e["rows"] <= 50]
    assert long_tables and short_tables
    for table in long_tables:
        assert default[table]["csv"] is None and not (tmp_path / "default" / "tables" / f"{table}.csv").exists()
        assert (tmp_path / "asked" / "tables" / f"{table}.csv").exists() and asked[table]["csv"]
    for table in short_tables:
        assert (tmp_path / "default" / "tables" / f"{table}.csv").exists()


def readme_queries() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_readme_has_example_queries():
    assert len(readme_queries()) >= 4


@pytest.mark.parametrize("query", readme_queries(), ids=lambda q: q.strip().splitlines()[0][:40])
def test_readme_queries_run_as_written(society, query):
    with society.connect() as con:
        result = con.execute(query).df()
    assert len(result) > 0


def test_readme_python_example_runs_as_written(society, capsys):
    # The "From Python" block, on the analysed society's database instead of data/observatory.duckdb.
    code = re.search(r"### From Python.*?```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S).group(1)
    assert '"data/observatory.duckdb"' in code
    namespace: dict = {}
    exec(code.replace('"data/observatory.duckdb"', repr(str(society.db))), namespace)
    model = namespace["model"]
    assert 0 < model.hazard_ratio_ < 10 and model.hazard_ratio_ci_[0] < model.hazard_ratio_ < model.hazard_ratio_ci_[1]
    assert "log1p(exposures)" in capsys.readouterr().out
    namespace["con"].close()


# ---------------------------------------------------------------------------------------------------------------
# Hostile text


HOSTILE = {
    "agent": '<script>alert("hub")</script>',
    "submolt": '"><img src=x onerror=alert(1)>',
    "title": "</table><svg onload=alert(2)>",
}


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """A simulated society whose biggest hub, a submolt and some titles carry hostile strings, run end to end."""
    from observatory.ingest.load import ingest_drop
    from observatory.report.findings import create_researcher_views
    from observatory.report.html import write_report
    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate
    from observatory.studies.adoption import run_adoption
    from observatory.studies.cascades import build_cascades
    from observatory.studies.cooperation import run_cooperation
    from observatory.studies.powerlaw import fit_cascade_sizes
    from observatory.studies.roles import run_roles

    root = tmp_path_factory.mktemp("hostile")
    drop = root / "drop"
    simulate(drop, SimulationConfig(n_agents=4000, seed=11, votes=False))
    roles = pd.read_parquet(drop / "truth" / "agent_roles.parquet")
    hub = roles[roles["role"] == "hub"].iloc[0]["name"]
    tasks = pd.read_parquet(drop / "truth" / "task_outcomes.parquet")
    submolt = str(pd.Series(tasks.filter(like="submolt").iloc[:, 0]).mode().iloc[0])
    # Rewrite every occurrence of the JSON strings, so that references stay consistent across entities.
    replacements = {json.dumps(hub): json.dumps(HOSTILE["agent"]), json.dumps(submolt): json.dumps(HOSTILE["submolt"])}
    for path in drop.rglob("*.jsonl"):
        text = path.read_text()
        for old, new in replacements.items():
            text = text.replace(old, new)
        text = re.sub(r'"title": "', '"title": ' + json.dumps(HOSTILE["title"])[:-1] + " ", text, count=50)
        path.write_text(text)
    db = root / "obs.duckdb"
    ingest_drop(drop, db)
    con = _db.connect(db)
    build_agent_activity(con)
    run_roles(con)
    build_cascades(con)
    fit_cascade_sizes(con, n_bootstrap=50)
    run_adoption(con)
    run_cooperation(con)
    create_researcher_views(con)
    names = {r[0] for r in con.execute("SELECT name FROM hubs LIMIT 10").fetchall()}
    submolts = {r[0] for r in con.execute("SELECT covariate FROM cooperation_balance").fetchall()}
    path = write_report(con, root / "report")
    con.close()
    return path, names, submolts


def test_hostile_text_reaches_the_report_inert(hostile_report):
    path, names, submolts = hostile_report
    html = path.read_text()
    # The hostile strings made it through ingest and every analysis...
    assert HOSTILE["agent"] in names
    assert f"submolt={HOSTILE['submolt']}" in submolts
    # ...and into the report only escaped: no tag the attacker wrote survives.
    assert "&lt;script&gt;alert(&#34;hub&#34;)&lt;/script&gt;" in html or "&lt;script&gt;alert(&quot;hub&quot;)" in html
    assert "onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "onload=alert" not in html.replace("onload=alert(2)&gt;", "")
    assert html.count("<svg") == html.count("</svg>")


# ---------------------------------------------------------------------------------------------------------------
# A real browser


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("which", ["default", "hostile"])
def test_report_opens_in_headless_chromium_without_errors(society, hostile_report, which):
    browser_path = _chromium()
    if browser_path is None:
        if os.environ.get("OBSERVATORY_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (OBSERVATORY_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    report = society.results["report"] if which == "default" else hostile_report[0]
    messages, dialogs, requests = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=browser_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: messages.append((m.type, m.text)))
        page.on("pageerror", lambda e: messages.append(("pageerror", str(e))))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        figures = page.eval_on_selector_all(
            "figure svg", "els => els.map(e => { const b = e.getBoundingClientRect(); return [b.width, b.height]; })")
        headline_rows = page.locator("#headline-table tr[data-key]").count()
        planted_hr = page.locator("#headline-table tr[data-key='adoption.hazard_ratio'] td.planted").inner_text()
        planted_alpha = page.locator("#headline-table tr[data-key='cascades.alpha'] td.planted").inner_text()
        banner = page.locator("#simulated-banner").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-{which}.png"), full_page=True)
        browser.close()
    assert [m for m in messages if m[0] in ("error", "pageerror")] == []
    assert dialogs == []  # no alert() from any hostile string
    assert all(url.startswith("file://") for url in requests), "the report must not touch the network"
    assert len(figures) >= 10 and all(w > 100 and h > 50 for w, h in figures)
    assert headline_rows >= 16
    # A simulated run says so and shows what was planted beside each estimate (read from the drop's truth.json).
    truth = json.loads((society.drop / "truth.json").read_text())
    assert banner
    assert float(planted_hr) == truth["adoption"]["hazard_ratio"]
    assert float(planted_alpha) == truth["cascades"]["alpha"]
