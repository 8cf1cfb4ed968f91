"""`python -m pipelines run`: the main job, end to end, recorded in the project's Dagster instance.

The run shows up in the Dagster UI (`make ui`) with its logs, metadata and checks, as any other run does.
"""

from __future__ import annotations

import os

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Run the observatory's Dagster jobs.")


@app.callback()
def _root() -> None:
    """Run the observatory's Dagster jobs."""


@app.command()
def run(
    agents: int = typer.Option(20_000, "--agents", help="Agents in the simulated society (Moltbook: 770,000)."),
    seed: int = typer.Option(7, "--seed", help="Simulation seed."),
    bad_rate: float = typer.Option(0.001, "--bad-rate", help="Share of injected bad records, to exercise quarantine."),
    job: str = typer.Option("main", "--job", help="main, ingest or refresh."),
) -> None:
    """Materialise a job's assets in the instance at $DAGSTER_HOME (an ephemeral one if unset)."""
    import dagster as dg

    from pipelines.definitions import defs

    definitions = defs()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    run_config = {}
    if job == "main":
        run_config = {"ops": {"landing__simulated_drop": {"config": {"agents": agents, "seed": seed, "bad_rate": bad_rate}}}}
    result = definitions.resolve_job_def(job).execute_in_process(instance=instance, run_config=run_config)
    if not result.success:
        raise typer.Exit(code=1)
    typer.echo(f"run {result.run_id} succeeded")


if __name__ == "__main__":
    app()
