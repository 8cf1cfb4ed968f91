"""The command line: every command has --help, and the commands researchers run on their own files behave."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import duckdb
from typer.testing import CliRunner

from observatory.cli import app

runner = CliRunner()
COMMANDS = ["run", "ingest", "simulate", "status", "sql", "roles", "cascades", "powerlaw", "adoption", "cooperation", "report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_powerlaw_fits_a_file_and_prints_json(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "sizes.txt"
    path.write_text("# cascade sizes\n" + "\n".join(str(v) for v in rng.zipf(2.5, size=3000)) + "\n\n")
    result = runner.invoke(app, ["powerlaw", str(path), "--discrete", "--bootstrap", "50", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    fit = json.loads(result.output)
    assert fit["n"] == 3000 and fit["xmin"] == 1
    assert abs(fit["alpha"] - 2.5) < 0.1
    assert {c["alternative"] for c in fit["comparisons"]} == {"lognormal", "exponential", "stretched_exponential",
                                                             "truncated_power_law"}


def test_powerlaw_names_the_file_and_line_of_a_bad_value(tmp_path):
    path = tmp_path / "sizes.txt"
    path.write_text("3\n4\nfive\n")
    result = runner.invoke(app, ["powerlaw", str(path)])
    assert result.exit_code == 2
    assert "sizes.txt" in result.output and "line 3" in result.output


def test_ingest_reports_where_rows_went_and_fails_cleanly(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "agents.jsonl").write_text('{"id": "a1", "name": "x", "created_at": "2026-01-01T00:00:00Z"}\nnot json\n')
    db = tmp_path / "obs.duckdb"
    result = runner.invoke(app, ["ingest", str(drop), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "2 rows read, 1 loaded, 1 quarantined" in result.output
    assert "not_json" in result.output
    (drop / "posts.parquet").write_bytes(b"not parquet")
    failed = runner.invoke(app, ["ingest", str(drop), "--db", str(db)])
    assert failed.exit_code == 1
    assert "posts.parquet" in failed.output and "left as it was" in failed.output


def test_powerlaw_method_selects_the_procedure(tmp_path):
    """`--method plfit` runs Clauset's plfit.m procedure: discrete alpha on the 0.01 grid, as PowerLawFit does."""
    from observatory.estimators.powerlaw import PowerLawFit

    values = np.random.default_rng(9).zipf(2.3, size=2000)
    path = tmp_path / "sizes.txt"
    path.write_text("\n".join(str(v) for v in values) + "\n")
    result = runner.invoke(app, ["powerlaw", str(path), "--discrete", "--bootstrap", "0", "--method", "plfit", "--json"])
    assert result.exit_code == 0, result.output
    fit = json.loads(result.output)
    reference = PowerLawFit(discrete=True, n_bootstrap=0, method="plfit").fit(values.astype(float))
    assert fit["method"] == "plfit" and fit["alpha"] == pytest.approx(reference.alpha_, abs=1e-12)
    assert round(fit["alpha"], 2) == pytest.approx(fit["alpha"], abs=1e-9)  # on the grid
    bad = runner.invoke(app, ["powerlaw", str(path), "--method", "mle"])
    assert bad.exit_code != 0 and "powerlaw or plfit" in bad.output


# ------------------------------------------------------------------------------------------------------------------
# The console script as a user runs it: a subprocess, its exit code, and what it prints.


def observatory(*args, cwd=None, timeout=600):
    """Run `python -m observatory.cli ARGS` (the console script's entry point, main()) in a subprocess."""
    return subprocess.run([sys.executable, "-m", "observatory.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def small_drop(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    result = observatory("simulate", "--out", root / "drop", "--agents", "3000", "--seed", "2")
    assert result.returncode == 0, result.stderr
    return root / "drop"


@pytest.fixture(scope="module")
def ingested_db(small_drop, tmp_path_factory):
    db = tmp_path_factory.mktemp("ingested") / "obs.duckdb"
    assert observatory("ingest", small_drop, "--db", db).returncode == 0
    return db


def test_run_ingests_analyses_and_reports_in_one_command(small_drop, tmp_path):
    db, report = tmp_path / "obs.duckdb", tmp_path / "report"
    result = observatory("run", small_drop, "--db", db, "--out", report, "--bootstrap", "50")
    assert result.returncode == 0, result.stderr
    assert (report / "index.html").is_file() and (report / "findings.json").is_file()
    assert "headline" in result.stdout and "Hazard ratio per additional exposure" in result.stdout
    assert "0.53" in result.stdout  # the study's number beside ours
    assert "planted" in result.stdout  # a simulated drop: the planted values beside the estimates
    assert "structural roles: k = " in result.stdout and "adoption hazards: HR " in result.stdout
    assert str(report.resolve()) in result.stdout.replace("\n", "")
    findings = json.loads((report / "findings.json").read_text())
    assert findings["cascades"]["alpha"] is not None and findings["adoption"]["hazard_ratio"] is not None
    assert "Traceback" not in result.stderr


def test_report_on_an_ingest_only_database_marks_what_is_not_computed(small_drop, tmp_path):
    import shutil

    db, report = tmp_path / "obs.duckdb", tmp_path / "report"
    assert observatory("ingest", small_drop, "--db", db).returncode == 0
    result = observatory("report", "--db", db, "--out", report)
    shutil.rmtree(report / "tables", ignore_errors=True)
    assert result.returncode == 0, result.stderr
    html = (report / "index.html").read_text()
    # roles, cascades, adoption, cooperation, trends, injections
    assert html.count("Not computed yet: run <code>observatory run</code>") == 6


def test_a_failing_report_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    from observatory import db as _db
    from observatory.report import html as report_module

    con = _db.connect(tmp_path / "obs.duckdb")
    _db.ensure_schema(con)
    out = tmp_path / "report"
    report_module.write_report(con, out, export=False)
    before = (out / "index.html").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("rendering failed half way")

    monkeypatch.setattr(report_module, "_write_report_files", broken)
    with pytest.raises(RuntimeError):
        report_module.write_report(con, out, export=False)
    con.close()
    assert (out / "index.html").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obs.duckdb", "report"]  # no half-written folder left


@pytest.mark.parametrize("command", ["status", "sql", "roles", "cascades", "adoption", "cooperation", "report"])
def test_commands_on_a_missing_database_fail_in_one_line_and_create_nothing(tmp_path, command):
    db = tmp_path / "typo" / "obs.duckdb"
    args = [command, "SELECT 1"] if command == "sql" else [command]
    result = observatory(*args, "--db", db, cwd=tmp_path)
    assert result.returncode != 0
    assert f"no database at {db}" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3 and "Traceback" not in result.stderr
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("query", ["COPY (SELECT 1) TO 'x.csv'", "ATTACH 'other.duckdb' AS other", "INSTALL httpfs",
                                   "LOAD httpfs", "SET enable_external_access = true", "CREATE TABLE t AS SELECT 1",
                                   "SELECT 1; COPY (SELECT 1) TO 'x.csv'", "SELECT * FROM read_text('/etc/passwd')"])
def test_sql_refuses_anything_that_writes_or_reaches_outside(ingested_db, tmp_path, query):
    db = ingested_db
    result = observatory("sql", query, "--db", db, cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert "root:" not in result.stdout
    ok = observatory("sql", "SELECT count(*) AS n FROM agents", "--db", db, "--csv", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.split() == ["n", "3000"]


@pytest.mark.parametrize("args", [["run", "/no/such/drop"], ["ingest", "/no/such/drop"],
                                  ["simulate", "--out", "{tmp}/s", "--agents", "-5"], ["powerlaw", "/no/such/file"],
                                  ["cascades", "--bootstrap", "many"], ["report", "--db", "{tmp}/none.duckdb"],
                                  ["sql", "SELEC oops", "--db", "{tmp}/none.duckdb"], ["no-such-command"]])
def test_no_command_prints_a_traceback_without_debug(tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = observatory(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    debug = observatory("--debug", *args, cwd=tmp_path)
    assert debug.returncode != 0


def test_readers_never_fail_while_an_ingest_writes(small_drop, tmp_path):
    """`sql` and `status` in a loop while another process ingests a second drop and refreshes the clean tables:
    every call succeeds and so does the ingest (readers read the copy the last finished write published, so they
    never hold the lock a writer needs), and the second drop is visible once the ingest has finished."""
    import shutil
    import time

    db = tmp_path / "obs.duckdb"
    assert observatory("ingest", small_drop, "--db", db).returncode == 0
    assert (tmp_path / "obs.published.duckdb").is_file()
    second = tmp_path / "second"
    assert observatory("simulate", "--out", second, "--agents", "6000", "--seed", "9").returncode == 0
    shutil.rmtree(second / "truth", ignore_errors=True)
    writer = subprocess.Popen([sys.executable, "-m", "observatory.cli", "ingest", str(second), "--db", str(db)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    calls, failures = 0, []
    started = time.monotonic()
    while writer.poll() is None and time.monotonic() - started < 300:
        for args in (["sql", "SELECT count(*) FROM agents", "--csv"], ["status"]):
            result = observatory(*args, "--db", db)
            calls += 1
            if result.returncode != 0:
                failures.append(result.stderr)
    assert writer.wait(timeout=300) == 0, writer.stderr.read()
    assert calls >= 2 and failures == []
    final = observatory("sql", "SELECT count(*) AS n FROM agents", "--db", db, "--csv")
    assert int(final.stdout.split()[1]) > 3000  # the second drop is visible once it finished


def test_run_refuses_an_unknown_engine_before_touching_anything(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "agents.jsonl").write_text('{"id": "a1", "name": "x", "created_at": "2026-01-01T00:00:00Z"}\n')
    db = tmp_path / "obs.duckdb"
    result = runner.invoke(app, ["run", str(drop), "--db", str(db), "--engine", "postgres"])
    assert result.exit_code == 1
    assert "--engine must be duckdb or spark" in str(result.exception)
    assert not db.exists()


def test_run_with_spark_refuses_a_database_the_duckdb_engine_filled(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "agents.jsonl").write_text('{"id": "a1", "name": "x", "created_at": "2026-01-01T00:00:00Z"}\n')
    db = tmp_path / "obs.duckdb"
    assert runner.invoke(app, ["ingest", str(drop), "--db", str(db)]).exit_code == 0
    result = runner.invoke(app, ["run", str(drop), "--db", str(db), "--engine", "spark"])
    assert result.exit_code == 1
    assert "holds drops ingested by the duckdb engine" in str(result.exception)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM raw_agents").fetchone()[0] == 1  # untouched
    con.close()
