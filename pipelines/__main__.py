"""`python -m pipelines run`: the main job, end to end, recorded in the project's Dagster instance.

The run shows up in the Dagster UI (`make ui`) with its logs, metadata and checks, as any other run does.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import typer

from observatory.config import default
from observatory.simulate.config import SimulationConfig
from pipelines import DEMO_BAD_RATE

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Run the observatory's Dagster jobs.")


@app.callback()
def _root() -> None:
    """Run the observatory's Dagster jobs."""


@app.command()
def run(
    agents: int = typer.Option(default(SimulationConfig, "n_agents"), "--agents",
                               help="Agents in the simulated society (Moltbook: 770,000)."),
    seed: int = typer.Option(default(SimulationConfig, "seed"), "--seed", help="Simulation seed."),
    bad_rate: float = typer.Option(DEMO_BAD_RATE, "--bad-rate",
                                   help="Share of injected bad records, to exercise quarantine."),
    job: str = typer.Option("main", "--job", help="main, ingest or refresh."),
    drop: str = typer.Option("", "--drop",
                             help="A drop folder of the landing folder (the partition) for main or ingest; "
                                  "main without it simulates the default society and ingests that."),
    log_level: str = typer.Option("WARNING", "--log-level",
                                  help="Dagster's console log level (the full event log goes to data/logs/ anyway)."),
) -> None:
    """Materialise a job's assets in the instance at $DAGSTER_HOME (an ephemeral one if unset).

    The console shows one line per finished step and then the headline; Dagster's event log (DEBUG included) is
    written to data/logs/<run id>.log and kept in the instance, where the UI shows it.
    """
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.ingest.assets import DROPS, simulated_drop_name

    definitions = defs()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    logging_config: dict = {"loggers": {"console": {"config": {"log_level": log_level.upper()}}}}
    if job not in ("main", "ingest", "refresh"):
        raise typer.BadParameter(f"no job {job!r}: main, ingest or refresh", param_hint="--job")
    partition = drop or None
    if job == "main" and not drop:
        _execute(definitions, instance, "simulate", {
            **logging_config,
            "ops": {"landing__simulated_drop": {"config": {"n_agents": agents, "seed": seed, "bad_rate": bad_rate}}}})
        partition = simulated_drop_name(agents, seed)
    if job in ("main", "ingest"):
        if partition is None:
            raise typer.BadParameter("the ingest job needs the drop to ingest", param_hint="--drop")
        if not instance.has_dynamic_partition(DROPS.name, partition):
            instance.add_dynamic_partitions(DROPS.name, [partition])
    _execute(definitions, instance, job, logging_config, partition_key=partition if job != "refresh" else None)
    _print_headline()


def _execute(definitions, instance, job: str, run_config: dict, partition_key: str | None = None) -> None:
    """Run one job in this process, printing each step as it finishes; exits non-zero if the run failed."""
    job_def = definitions.resolve_job_def(job)
    run_id = str(uuid.uuid4())
    outcome: dict = {}

    def execute() -> None:
        try:
            outcome["result"] = job_def.execute_in_process(instance=instance, run_config=run_config, run_id=run_id,
                                                           partition_key=partition_key, raise_on_error=False)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=execute, daemon=True)
    worker.start()
    seen = 0
    while worker.is_alive():
        worker.join(timeout=0.5)
        seen = _print_finished_steps(instance, run_id, seen)
    _print_finished_steps(instance, run_id, seen)
    log_path = _write_event_log(instance, run_id)
    if "error" in outcome:
        raise outcome["error"]
    if not outcome["result"].success:
        typer.echo(f"{job} run {run_id} failed; the event log is in {log_path}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"{job} run {run_id} succeeded; event log: {log_path}")


def _print_finished_steps(instance, run_id: str, seen: int) -> int:
    """Print each step that finished since the last call, one line each; returns how many have been printed."""
    from dagster import DagsterEventType

    records = instance.all_logs(run_id, of_type={DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE})
    for record in records[seen:]:
        event = record.dagster_event
        status = "done" if event.event_type == DagsterEventType.STEP_SUCCESS else "FAILED"
        seconds = ""
        data = getattr(event, "event_specific_data", None)
        duration = getattr(data, "duration_ms", None)
        if duration is not None:
            seconds = f" ({duration / 1000:.1f} s)"
        typer.echo(f"  {status:<6} {event.step_key}{seconds}")
    return len(records)


def _write_event_log(instance, run_id: str) -> Path:
    from observatory import db

    folder = db.default_db_path().parent / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.log"
    lines = []
    for record in instance.all_logs(run_id):
        stamp = datetime.fromtimestamp(record.timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        kind = record.dagster_event.event_type_value if record.dagster_event else "LOG"
        lines.append(f"{stamp} {logging.getLevelName(record.level):<7} {record.step_key or '-'} {kind} "
                     f"{record.user_message}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _print_headline() -> None:
    from observatory import db
    from observatory.cli import print_headline
    from observatory.report.findings import planted_truth

    path = db.default_db_path()
    if not path.is_file():
        return
    con = db.connect(path, read_only=True)
    try:
        if db.table_exists(con, "headline"):
            simulated = planted_truth(con)
            print_headline(con.execute("SELECT * FROM headline ORDER BY position").df(),
                           (simulated or {}).get("values"))
    finally:
        con.close()


if __name__ == "__main__":
    app()
