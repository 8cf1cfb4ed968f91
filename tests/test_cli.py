"""The command line: every command has --help, and the commands researchers run on their own files behave."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from observatory.cli import app

runner = CliRunner()
COMMANDS = ["ingest", "simulate", "status", "sql", "roles", "cascades", "powerlaw", "adoption", "cooperation", "report"]


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
    from observatory.powerlaw import PowerLawFit

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
