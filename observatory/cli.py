"""The `observatory` command line: ingest drops, simulate societies, and print each analysis's summary."""

from __future__ import annotations

import json
import sys
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from observatory import db as _db
from observatory.config import (
    AdoptionConfig,
    CascadeConfig,
    CooperationConfig,
    PowerLawConfig,
    RolesConfig,
    TrendsConfig,
    default,
)
from observatory.simulate.config import SimulationConfig
from observatory.steps import build_agent_activity

app = typer.Typer(
    help="The Molt Observatory: structural roles, cascades, adoption hazards and cooperation in agent societies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True, soft_wrap=True)  # a path in an error is never broken across lines
out = Console(soft_wrap=True)


class CliError(Exception):
    """A failure the user can act on: printed as one line (what, where, what to do), exit code 1."""


_state = {"debug": False}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show the full traceback when a command fails.")):
    """The Molt Observatory: structural roles, cascades, adoption hazards and cooperation in agent societies."""
    _state["debug"] = debug


def _database_path(db: Optional[Path]) -> Path:
    return Path(db) if db is not None else _db.default_db_path()


def _connect_existing(db: Optional[Path], *, read_only: bool):
    """Open a database that must already exist (read-only commands and analyses never create one)."""
    import duckdb

    path = _database_path(db)
    if not path.is_file():
        raise CliError(f"no database at {path}: ingest a drop first (observatory ingest DROP --db {path}), "
                       "or name another with --db")
    copy = _db.published_path(path)
    if read_only and copy.is_file():
        # Readers read the copy the last finished write published: opening the database itself, even read-only,
        # would make a writer starting meanwhile fail on DuckDB's file lock.
        return _db.connect(copy, read_only=True)
    try:
        return _db.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise CliError(f"the database {path} is being written by another process; retry when it "
                           "finishes") from None
        raise CliError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """An analysis that is not estimable says so in one line, not with the source line that warned."""
    from observatory._status import NotEstimableWarning

    if issubclass(category, NotEstimableWarning):
        console.print(f"[yellow]{message}[/]")
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning
warnings.showwarning = _show_warning

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
        table.add_row(*("" if v is None or (isinstance(v, float) and v != v) else str(v) for v in row))
    out.print(table)


@app.command()
def ingest(
    drop: Path = typer.Argument(..., help="A drop folder (or one entity file) in the interaction-log contract's format."),
    db: Optional[Path] = DbOption,
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ingest a drop: good rows land in the raw tables, bad rows in quarantine; re-running changes nothing."""
    from observatory.ingest.load import IngestError, ingest_drop

    with _spinner() as progress:
        task = progress.add_task(f"ingest {drop}", total=None, status="")

        def report_progress(label: str, rows: int) -> None:
            progress.update(task, description=f"ingest {Path(label).name}", status=f"{rows:,} rows")

        _state["wrote"] = _database_path(db)
        try:
            report = ingest_drop(drop, db, progress=report_progress)
        except IngestError as exc:
            console.print(f"[bold red]ingest failed[/]: {exc}\nThe database was left as it was.")
            raise typer.Exit(code=1)
    if json_output:
        out.print_json(json.dumps(report.to_dict()))
        return
    many = len(report.files) > 20
    _print_frame(report.folder_summary if many else report.summary,
                 title=f"ingest of {drop}" + (f" ({len(report.files):,} files, by folder)" if many else ""))
    if report.drop_seq is None:
        out.print("Nothing new: every file of this drop was ingested before.")
    else:
        out.print(
            f"drop {report.drop_seq}: {report.rows_read:,} rows read, {report.rows_loaded:,} loaded, "
            f"{report.rows_quarantined:,} quarantined in {report.seconds:.1f} s"
        )
        if report.records:
            out.print("  landed: " + ", ".join(f"{n:,} {entity}" for entity, n in report.records.items())
                      + " (embedded authors and submolts included)")
    for reason, n in report.reasons.items():
        out.print(f"  quarantined {n:,} x {reason}")
    if report.ignored:
        out.print(f"ignored {len(report.ignored)} file(s) the contract does not name: {', '.join(report.ignored[:5])}")


def _spark_relational(drops, lake: Path, master: str, path: Path, progress) -> list[tuple[str, str]]:
    """`run --engine spark`: land the drops and build the clean tables and marts on Spark into `lake`, then attach
    the lake to the database at `path`, where the analyses read it."""
    import importlib.util
    import os
    import shutil

    if path.exists():
        # The lake's views would replace the tables of drops this database holds: never lose them silently.
        con = _db.connect(path)
        try:
            own = _db.table_exists(con, "ingest_drops", "table") and _db.row_count(con, "ingest_drops") > 0
        finally:
            con.close()
        if own:
            raise CliError(f"{path} holds drops ingested by the duckdb engine; give --engine spark a database of "
                           "its own (--db)")
    if importlib.util.find_spec("pyspark") is None:
        raise CliError("--engine spark needs pyspark: pip install 'molt-observatory[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise CliError("--engine spark needs Java 17 or newer (java on the PATH, or JAVA_HOME)")
    from observatory.spark import SparkEngine, attach_lake

    task = progress.add_task(f"Spark ({master}): ingest", total=None, status="")
    spark = SparkEngine(lake, master=master)
    try:
        landed = spark.ingest([str(d) for d in drops], progress=lambda m: progress.update(task, status=m[:60]))
        rows = sum(d["rows_loaded"] for d in landed)
        quarantined = sum(d["rows_quarantined"] for d in landed)
        progress.update(task, total=1, completed=1,
                        status=f"{len(landed)} drops, {rows:,} rows, {quarantined:,} quarantined")
        build = progress.add_task(f"Spark ({master}): clean tables, marts", total=None, status="")
        written = spark.build(progress=lambda m: progress.update(build, status=m[:60]))
        progress.update(build, total=1, completed=1, status=f"{len(written)} tables in {lake}")
    finally:
        spark.stop()
    con = _db.connect(path)
    try:
        attach_lake(con, lake)
    finally:
        con.close()
    return [(f"Spark ingest into {lake}", f"{len(landed)} drops, {rows:,} rows, {quarantined:,} quarantined"),
            ("Spark clean tables and marts", f"{len(written)} tables")]


@app.command()
def run(
    drops: list[Path] = typer.Argument(..., help="Drop folders (or files) in the interaction-log contract's format."),
    db: Optional[Path] = DbOption,
    out_dir: Path = typer.Option(Path("data") / "report", "--out", help="Folder for the report."),
    bootstrap: int = typer.Option(default(PowerLawConfig, "n_bootstrap"), "--bootstrap",
                                   help="Replicates of the power-law bootstrap."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random step (each analysis's own default is 0)."),
    csv: bool = typer.Option(False, "--csv", help="Also export CSV copies of tables above 100,000 rows."),
    engine: str = typer.Option("duckdb", "--engine",
                               help="Engine of the relational layer (ingest, clean tables, marts): duckdb (the "
                                    "embedded database) or spark (a Parquet lake built on Spark; needs pyspark "
                                    "and Java)."),
    spark_master: str = typer.Option("local[2]", "--spark-master",
                                     help="Spark master URL for --engine spark (local[N], spark://host:7077, yarn)."),
    lake: Optional[Path] = typer.Option(None, "--lake",
                                        help="Folder of the Parquet lake for --engine spark (default: beside the "
                                             "database, <name>.lake)."),
    window: str = typer.Option("7d", "--window",
                               help="Length of the time windows the headlines are also estimated in (7d, 36h, 2w)."),
) -> None:
    """Your own data in one command: ingest the drops, run every analysis in order, write the report.

    Every run appends its headline estimates to the database's `headline_history` (the whole observation and each
    window), so that consecutive runs show how the society changes."""
    from rich.progress import MofNCompleteColumn

    from observatory.ingest.load import IngestError, ingest_drop
    from observatory.report.findings import planted_truth
    from observatory.report.html import write_report
    from observatory.steps import ordered

    from observatory.history import record_history
    from observatory.studies.trends import parse_window

    missing = [str(d) for d in drops if not Path(d).exists()]
    if missing:
        raise CliError(f"no such drop: {', '.join(missing)}")
    try:
        window_days = parse_window(window)
    except ValueError as exc:
        raise CliError(f"--window: {exc}") from None
    run_id = f"cli-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    path = _database_path(db)
    _state["wrote"] = path
    steps = ordered()
    progress = Progress(SpinnerColumn(), TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console)
    summaries = []
    if engine not in ("duckdb", "spark"):
        raise CliError(f"--engine must be duckdb or spark, not {engine!r}")
    with progress:
        if engine == "spark":
            lake = lake or path.with_name(path.stem + ".lake")
            summaries += _spark_relational(drops, lake, spark_master, path, progress)
        for drop in drops if engine == "duckdb" else ():
            task = progress.add_task(f"ingest {Path(drop).name}", total=None, status="")
            try:
                result = ingest_drop(drop, path, progress=lambda label, rows, task=task: progress.update(
                    task, status=f"{Path(label).name}: {rows:,} rows"))
            except IngestError as exc:
                raise CliError(f"ingest of {drop} failed, the database was left as it was: {exc}") from None
            status = ("nothing new" if result.drop_seq is None else
                      f"{result.rows_loaded:,} rows, {result.rows_quarantined:,} quarantined")
            progress.update(task, total=1, completed=1, status=status)
            summaries.append((f"ingest {drop}", status))
        con = _connect_existing(path, read_only=False)
        try:
            for step in steps:
                task = progress.add_task(step.description, total=1, status="")
                # --seed seeds every step; --bootstrap is the power law's (cooperation keeps its own default).
                extra = {"powerlaw": {"n_bootstrap": bootstrap}, "trends": {"window_days": window_days}}
                config = step.configured(seed=seed, **extra.get(step.name, {}))
                summary = step.run(con, lambda message, task=task: progress.update(task, status=str(message)[:60]),
                                   config)
                progress.update(task, completed=1, status=summary)
                summaries.append((step.description, summary))
            recorded = record_history(con, run_id)
            summaries.append(("headline history", f"{recorded:,} rows recorded for run {run_id}"))
            task = progress.add_task("report", total=1, status="")
            report_path = write_report(con, out_dir, csv=csv, parameters={"run_id": run_id, "window": window})
            progress.update(task, completed=1, status="written")
            headline = (con.execute("SELECT * FROM headline ORDER BY position").df()
                        if _db.table_exists(con, "headline") else None)
            simulated = planted_truth(con)
        finally:
            con.close()
    # The steps' outcomes stay on screen after the progress bars (and are the only record when not on a terminal).
    for description, summary in summaries:
        out.print(f"  {description}: {summary}", highlight=False)
    if headline is not None and len(headline):
        print_headline(headline, (simulated or {}).get("values"))
    out.print(f"database: {path.resolve()}")
    out.print(f"report:   {report_path.resolve()}")


def print_headline(frame, planted: dict | None = None) -> None:
    """The headline view: each finding with its 95% interval, beside the number the study reported (and, for a
    simulated society, the value planted)."""
    table = Table(title="headline (the study's numbers beside ours)", show_lines=False)
    columns = ["finding", "estimate", "95% CI", "n"] + (["planted"] if planted else []) + ["study"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        interval = "" if _cell(row.ci_lower) == "" else f"{_cell(row.ci_lower)} to {_cell(row.ci_upper)}"
        cells = [str(row.finding), _cell(row.value), interval, _cell(row.n)]
        if planted:
            cells.append(_cell(planted.get(row.key)))
        table.add_row(*cells, str(row.study))
    out.print(table)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


@app.command()
def simulate(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the drop (and truth.json) into."),
    agents: int = typer.Option(default(SimulationConfig, "n_agents"), "--agents", help="Number of agents (Moltbook: 770,000)."),
    seed: int = typer.Option(default(SimulationConfig, "seed"), "--seed",
                             help="Random seed: the same seed writes the same bytes."),
    fmt: str = typer.Option(default(SimulationConfig, "fmt"), "--format", help="jsonl, parquet or csv."),
    shape: str = typer.Option(default(SimulationConfig, "shape"), "--shape", help="api (nested author/submolt objects) or flat (archive columns)."),
    bad_rate: float = typer.Option(default(SimulationConfig, "bad_rate"), "--bad-rate", help="Share of extra bad records to inject (JSONL)."),
    drops: int = typer.Option(default(SimulationConfig, "n_drops"), "--drops", help="Split the timeline into this many overlapping drops."),
    layout: str = typer.Option(default(SimulationConfig, "layout"), "--layout",
                               help="entities (a folder of files per entity) or api (the API's responses as scrapers "
                                    "save them: a post detail per post with its comment tree, profiles, submolts)."),
    days: float = typer.Option(default(SimulationConfig, "days"), "--days", help="Length of the observation window."),
    hazard_ratio: float = typer.Option(default(SimulationConfig, "adoption_hazard_ratio"), "--hazard-ratio",
                                       help="Planted adoption hazard ratio per additional exposure."),
    change_at: Optional[float] = typer.Option(None, "--change-at",
                                              help="Plant a change from this day of the window on (with "
                                                   "--hazard-ratio-after and/or --role-growth-after)."),
    hazard_ratio_after: Optional[float] = typer.Option(None, "--hazard-ratio-after",
                                                       help="The hazard ratio per exposure from --change-at on."),
    role_growth_after: Optional[str] = typer.Option(
        None, "--role-growth-after",
        help="ROLE:FACTOR: agents of ROLE join at --change-at, multiplying its active count by FACTOR "
             "(e.g. conversationalist:2)."),
    injection_campaigns: int = typer.Option(default(SimulationConfig, "injection_campaigns"), "--injection-campaigns",
                                            help="Planted prompt-injection campaigns (0-7, one per payload family)."),
    injection_hazard_ratio: float = typer.Option(default(SimulationConfig, "injection_hazard_ratio"),
                                                 "--injection-hazard-ratio",
                                                 help="The campaigns' hazard ratio per additional exposure."),
) -> None:
    """Simulate a Moltbook-like society with planted ground truth, written as a contract drop."""
    from observatory.simulate.run import simulate as run_simulation

    growth = None
    if role_growth_after is not None:
        role, _, factor = role_growth_after.partition(":")
        try:
            growth = (role.strip(), float(factor))
        except ValueError:
            raise typer.BadParameter("--role-growth-after is ROLE:FACTOR, e.g. conversationalist:2") from None
    try:
        config = SimulationConfig(n_agents=agents, seed=seed, fmt=fmt, shape=shape, bad_rate=bad_rate, n_drops=drops,
                                  layout=layout, days=days, adoption_hazard_ratio=hazard_ratio,
                                  change_at_day=change_at, hazard_ratio_after=hazard_ratio_after,
                                  role_growth_after=growth, injection_campaigns=injection_campaigns,
                                  injection_hazard_ratio=injection_hazard_ratio)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
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

    con = _connect_existing(db, read_only=True)
    try:
        if not _db.table_exists(con, "ingest_drops"):
            raise CliError(f"{_database_path(db)} holds no ingested drop: run observatory ingest DROP first")
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
    """Run a read-only SQL query against the database and print the result (statements that write are refused)."""
    import duckdb

    con = _connect_existing(db, read_only=True)
    try:
        try:
            statements = con.extract_statements(query)
        except duckdb.Error as exc:
            raise CliError(f"the query does not parse: {str(exc).splitlines()[0]}") from None
        refused = [s.type.name for s in statements if s.type.name not in READ_ONLY_STATEMENTS]
        if refused:
            raise CliError(f"sql runs read-only queries (SELECT, EXPLAIN); refused: {', '.join(refused)}. "
                           "Write files with the report's exports or your own DuckDB session")
        if len(statements) != 1:
            raise CliError(f"sql runs one statement at a time, got {len(statements)}")
        # Nothing outside the database: no files read or written, no extensions, and no SET that undoes it.
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            frame = con.execute(query).df()
        except duckdb.Error as exc:
            raise CliError(str(exc).splitlines()[0]) from None
    finally:
        con.close()
    if csv_output:
        sys.stdout.write(frame.to_csv(index=False))
        return
    _print_frame(frame.head(limit))
    if len(frame) > limit:
        out.print(f"({len(frame):,} rows, {limit} shown)")


READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


def _open(db: Optional[Path]):
    con = _connect_existing(db, read_only=False)
    _state["wrote"] = _database_path(db)
    _db.ensure_schema(con)
    return con


def _run_study(db: Optional[Path], name: str, study) -> None:
    """Run ``study(con, say)`` on the database with a spinner that shows what ``say`` is told; print its result."""
    con = _open(db)
    try:
        with _spinner() as progress:
            task = progress.add_task(name, total=None, status="")
            result = study(con, lambda message: progress.update(task, description=f"{name}: {message}"))
    finally:
        con.close()
    out.print(str(result))


@app.command()
def roles(
    db: Optional[Path] = DbOption,
    k_min: int = typer.Option(default(RolesConfig, "k_min"), help="Smallest k tried."),
    k_max: int = typer.Option(default(RolesConfig, "k_max"), help="Largest k tried."),
    min_share: float = typer.Option(default(RolesConfig, "min_share"),
                                    help="A solution with a smaller cluster is flagged degenerate."),
    betweenness_sources: int = typer.Option(default(RolesConfig, "betweenness_sources"),
                                            help="Sampled sources for the betweenness estimate."),
    seed: int = typer.Option(default(RolesConfig, "seed"), help="Seed of every random step."),
) -> None:
    """Structural roles: reply graph, agent features, k selection in the open, core-periphery."""
    from observatory.studies.roles import run_roles

    config = RolesConfig(k_min=k_min, k_max=k_max, min_share=min_share, betweenness_sources=betweenness_sources,
                         seed=seed)

    def study(con, say):
        build_agent_activity(con)
        return run_roles(con, config, progress=say)

    _run_study(db, "roles", study)


@app.command()
def cascades(
    db: Optional[Path] = DbOption,
    bootstrap: int = typer.Option(default(PowerLawConfig, "n_bootstrap"), "--bootstrap",
                                   help="Replicates of the goodness-of-fit test and the alpha CI."),
    seed: int = typer.Option(default(PowerLawConfig, "seed"), "--seed"),
    method: str = typer.Option(default(PowerLawConfig, "method"), help="powerlaw (exact MLE) or plfit (Clauset's code: alpha on a 0.01 grid)."),
    code_spans: bool = typer.Option(default(CascadeConfig, "extract_code_spans"), "--code-spans", help="Also treat code spans as items."),
    memes: bool = typer.Option(default(CascadeConfig, "extract_memes"), "--memes", help="Also treat recurring word n-grams as items."),
) -> None:
    """Cascades: items, adoptions, exposures, trees, and the power-law fit of cascade sizes."""
    from observatory.studies.cascades import build_cascades, cascade_summary
    from observatory.studies.powerlaw import fit_cascade_sizes

    con = _open(db)
    try:
        with _spinner() as progress:
            task = progress.add_task("cascades (SQL)", total=None, status="")
            counts = build_cascades(con, CascadeConfig(extract_code_spans=code_spans, extract_memes=memes))
            progress.update(task, description="power-law fit and bootstrap")
            fit = fit_cascade_sizes(con, PowerLawConfig(n_bootstrap=bootstrap, seed=seed, method=method),
                                    progress=lambda step, done, total: progress.update(
                                        task, description=f"power law: {step}", total=total, completed=done))
        _print_frame(cascade_summary(con).round(3), title="cascades by item kind")
    finally:
        con.close()
    out.print(", ".join(f"{n:,} {name}" for name, n in counts.items()))
    if fit is None:
        out.print("too few cascades to fit a power law")
    else:
        fit.print_summary()


@app.command()
def powerlaw(
    file: Path = typer.Argument(..., help="A text file of one number per line ('#' comments and blank lines ignored)."),
    discrete: bool = typer.Option(False, "--discrete", help="Integer data: fit the discrete power law."),
    xmin: Optional[float] = typer.Option(None, "--xmin", help="Fix the lower bound of the tail instead of estimating it."),
    bootstrap: int = typer.Option(default(PowerLawConfig, "n_bootstrap"), "--bootstrap",
                                   help="Goodness-of-fit replicates (0 skips the test)."),
    seed: int = typer.Option(default(PowerLawConfig, "seed"), "--seed"),
    method: str = typer.Option(default(PowerLawConfig, "method"), "--method",
                               help="powerlaw (powerlaw.Fit's procedure) or plfit (Clauset's plfit.m, alpha on a "
                                    "0.01 grid: the code behind the 2009 paper's tables)."),
    json_output: bool = typer.Option(False, "--json", help="Print the fit as JSON."),
) -> None:
    """Fit a power law to your own data: alpha, xmin, KS, bootstrap p-value, likelihood-ratio tests."""
    from observatory.estimators.powerlaw import PowerLawFit
    from observatory.studies.powerlaw import read_values

    try:
        values = read_values(file)
    except (OSError, ValueError) as exc:
        console.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(code=2)
    with _spinner() as progress:
        task = progress.add_task("fit", total=None, status="")
        if method not in ("powerlaw", "plfit"):
            raise typer.BadParameter(f"--method must be powerlaw or plfit, not {method!r}")
        fit = PowerLawFit(discrete=discrete, xmin=xmin, n_bootstrap=bootstrap, seed=seed, method=method,
                          progress=lambda step, done, total: progress.update(
                              task, description=step, total=total, completed=done)).fit(values)
    if json_output:
        sys.stdout.write(json.dumps(fit.to_dict(), indent=2) + "\n")
    else:
        fit.print_summary()


@app.command()
def adoption(
    db: Optional[Path] = DbOption,
    max_rows: int = typer.Option(default(AdoptionConfig, "max_rows"),
                                  help="Above this many panel rows, case-control sample non-events."),
    seed: int = typer.Option(default(AdoptionConfig, "seed"), "--seed"),
) -> None:
    """Adoption hazards: exposure panel, Cox models (linear and log1p exposure), exposure curve, verdict."""
    from observatory.studies.adoption import run_adoption
    from observatory.studies.cascades import build_cascades

    def study(con, say):
        build_agent_activity(con)
        if not _db.table_exists(con, "exposures"):
            say("cascade tables (SQL)")
            build_cascades(con)
        return run_adoption(con, AdoptionConfig(max_rows=max_rows, seed=seed), progress=say)

    _run_study(db, "adoption", study)


@app.command()
def cooperation(
    db: Optional[Path] = DbOption,
    caliper: float = typer.Option(default(CooperationConfig, "caliper"), help="Caliper, in standard deviations of the propensity logit."),
    exact_submolt: bool = typer.Option(default(CooperationConfig, "exact_submolt"), "--exact-submolt", help="Match only within the same submolt."),
    replace: bool = typer.Option(default(CooperationConfig, "replace"), "--replace", help="Match with replacement."),
    seed: int = typer.Option(default(CooperationConfig, "seed"), "--seed"),
) -> None:
    """Cooperation: multi-agent task threads against a matched single-agent baseline, with balance and power."""
    from observatory.studies.cooperation import run_cooperation

    con = _open(db)
    try:
        result = run_cooperation(con, CooperationConfig(caliper=caliper, exact_submolt=exact_submolt,
                                                        replace=replace, seed=seed))
        balance = con.execute("SELECT * FROM cooperation_balance").df()
    finally:
        con.close()
    out.print(str(result))
    if len(balance):
        _print_frame(balance.round(3), title="balance (standardised mean differences)")


@app.command()
def trends(
    db: Optional[Path] = DbOption,
    window: str = typer.Option("7d", "--window", help="Length of the time windows (7d, 36h, 2w)."),
    level: float = typer.Option(default(TrendsConfig, "level"), "--level",
                                help="Family-wise level at which a shift between consecutive windows is flagged."),
) -> None:
    """Every headline per time window, and the shifts between consecutive windows (after the other analyses)."""
    from observatory.studies.trends import parse_window, run_trends

    try:
        window_days = parse_window(window)
    except ValueError as exc:
        raise CliError(f"--window: {exc}") from None
    con = _open(db)
    try:
        result = run_trends(con, TrendsConfig(window_days=window_days, level=level))
    finally:
        con.close()
    out.print(str(result))


@app.command()
def report(
    db: Optional[Path] = DbOption,
    out_dir: Path = typer.Option(Path("data") / "report", "--out", help="Folder for index.html and findings.json."),
    csv: bool = typer.Option(False, "--csv", help="Also export CSV copies of tables above 100,000 rows."),
) -> None:
    """Write findings.json and the self-contained HTML report from what the database holds."""
    from observatory.report.html import write_report

    con = _open(db)
    try:
        path = write_report(con, out_dir, csv=csv)
    finally:
        con.close()
    out.print(f"report: {path.resolve()}")


def main() -> None:
    """The console script: every failure is one line on stderr and a non-zero exit; --debug shows the traceback."""
    import click

    try:
        try:
            code = app(standalone_mode=False)  # a command's typer.Exit comes back as its exit code
        finally:
            if _state.get("wrote") is not None:
                # Whatever the command left (a failed ingest leaves the database as it was), readers get a copy.
                _db.publish(_state["wrote"])
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CliError as exc:
        if _state["debug"]:
            raise
        console.print(f"[bold red]error[/]: {exc}", highlight=False)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the one place every other failure becomes one line
        if _state["debug"]:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        console.print(f"[bold red]error[/]: {message} ({type(exc).__name__}; run with --debug for the traceback)",
                      highlight=False)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
