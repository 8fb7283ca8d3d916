"""Schedules: yesterday's daily partition, and a daily snapshot. Both start stopped (turn on in the UI)."""

from dagster import (
    DefaultScheduleStatus,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
)

from learning_assets.defs.incremental.jobs import daily_export_job, snapshot_export_job

# Fires at 01:15 in the partitions' time zone (UTC: DailyPartitionsDefinition(timezone="UTC") sets the
# schedule's execution_timezone) and requests the partition of the day that has just ended.
daily_export_schedule = build_schedule_from_partitioned_job(
    daily_export_job,
    name="daily_export_schedule",
    description="Each day at 01:15 UTC, export yesterday's partition.",
    hour_of_day=1,
    minute_of_hour=15,
    default_status=DefaultScheduleStatus.STOPPED,
)

snapshot_export_schedule = ScheduleDefinition(
    name="snapshot_export_schedule",
    job=snapshot_export_job,
    cron_schedule="30 1 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Each day at 01:30 UTC, snapshot capabilities, refinements and patterns (written only if changed).",
)

SCHEDULES = [daily_export_schedule, snapshot_export_schedule]
