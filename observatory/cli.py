"""The `observatory` command line: ingest drops, simulate societies, and print each analysis's summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import _db

app = typer.Typer(
    help="The Molt Observatory: structural roles, cascades, adoption hazards and cooperation in agent societies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)
out = Console()

DbOption = typer.Option(
    None, "--db", help="DuckDB database file (default: $OBSERVATORY_DB or data/observatory.duckdb).", show_default=False
)


def _spinner() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(), console=console, transient=True,
    )


def _print_frame(frame, title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


@app.command()
def ingest(
    drop: Path = typer.Argument(..., help="A drop folder (or one entity file) in the interaction-log contract's format."),
    db: Optional[Path] = DbOption,
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ingest a drop: good rows land in the raw tables, bad rows in quarantine; re-running changes nothing."""
    from .ingest import IngestError, ingest_drop

    with _spinner() as progress:
        task = progress.add_task(f"ingest {drop}", total=None, status="")

        def report_progress(label: str, rows: int) -> None:
            progress.update(task, description=f"ingest {Path(label).name}", status=f"{rows:,} rows")

        try:
            report = ingest_drop(drop, db, progress=report_progress)
        except IngestError as exc:
            console.print(f"[bold red]ingest failed[/]: {exc}\nThe database was left as it was.")
            raise typer.Exit(code=1)
    if json_output:
        out.print_json(json.dumps(report.to_dict()))
        return
    _print_frame(report.summary, title=f"ingest of {drop}")
    if report.drop_seq is None:
        out.print("Nothing new: every file of this drop was ingested before.")
    else:
        out.print(
            f"drop {report.drop_seq}: {report.rows_read:,} rows read, {report.rows_loaded:,} loaded, "
            f"{report.rows_quarantined:,} quarantined in {report.seconds:.1f} s"
        )
    for reason, n in report.reasons.items():
        out.print(f"  quarantined {n:,} x {reason}")
    if report.ignored:
        out.print(f"ignored {len(report.ignored)} file(s) the contract does not name: {', '.join(report.ignored[:5])}")


@app.command()
def simulate(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the drop (and truth.json) into."),
    agents: int = typer.Option(20_000, "--agents", help="Number of agents (Moltbook: 770,000)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed writes the same bytes."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl, parquet or csv."),
    shape: str = typer.Option("api", "--shape", help="api (nested author/submolt objects) or flat (archive columns)."),
    bad_rate: float = typer.Option(0.0, "--bad-rate", help="Share of extra bad records to inject (JSONL)."),
    drops: int = typer.Option(1, "--drops", help="Split the timeline into this many overlapping drops."),
) -> None:
    """Simulate a Moltbook-like society with planted ground truth, written as a contract drop."""
    from .simulate import SimulationConfig
    from .simulate import simulate as run_simulation

    config = SimulationConfig(n_agents=agents, seed=seed, fmt=fmt, shape=shape, bad_rate=bad_rate, n_drops=drops)
    with _spinner() as progress:
        task = progress.add_task("simulate", total=None, status="")

        def report_progress(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"simulate: {step}", total=total or None, completed=done, status="")

        result = run_simulation(out_dir, config, progress=report_progress)
    counts = getattr(result, "counts", {})
    out.print(f"wrote {out_dir}: " + ", ".join(f"{n:,} {entity}" for entity, n in counts.items()))


@app.command()
def status(db: Optional[Path] = DbOption) -> None:
    """Row counts of the clean views, the quarantine by reason, and the drops ingested so far."""
    import pandas as pd

    con = _db.connect(db)
    try:
        _db.ensure_schema(con)
        counts = pd.DataFrame(
            [(name, con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
             for name in ("agents", "submolts", "posts", "comments", "votes", "tasks")],
            columns=["view", "rows"],
        )
        _print_frame(counts, title="clean views")
        _print_frame(con.execute(
            "SELECT entity, reason, count(*) AS rows FROM quarantine GROUP BY ALL ORDER BY entity, reason").df(),
            title="quarantine")
        _print_frame(con.execute("SELECT * FROM ingest_drops ORDER BY drop_seq").df(), title="drops")
    finally:
        con.close()


@app.command()
def sql(
    query: str = typer.Argument(..., help="A SQL query, e.g. \"SELECT count(*) FROM comments\"."),
    db: Optional[Path] = DbOption,
    limit: int = typer.Option(50, "--limit", help="Rows to print (the query itself is not changed)."),
    csv_output: bool = typer.Option(False, "--csv", help="Print all rows as CSV instead of a table."),
) -> None:
    """Run a read-only SQL query against the database and print the result."""
    con = _db.connect(db, read_only=True)
    try:
        frame = con.execute(query).df()
    finally:
        con.close()
    if csv_output:
        sys.stdout.write(frame.to_csv(index=False))
        return
    _print_frame(frame.head(limit))
    if len(frame) > limit:
        out.print(f"({len(frame):,} rows, {limit} shown)")


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
