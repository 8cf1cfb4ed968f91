"""Every day: rebuild every table and analysis and the report from the drops ingested so far, a backstop to the
automation that does so whenever a drop lands."""

import dagster as dg

from pipelines.defs.jobs import refresh_job

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
