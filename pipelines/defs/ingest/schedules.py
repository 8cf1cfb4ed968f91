"""Every day: ingest whatever landed, then refresh every analysis and the report."""

import dagster as dg

from pipelines.defs.jobs import refresh_job

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
