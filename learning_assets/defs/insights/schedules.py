"""Retention runs daily, so rows past their age go even when no release is made. Starts stopped."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from learning_assets.defs.insights.jobs import pool_retention_job

pool_retention_schedule = ScheduleDefinition(
    name="pool_retention_schedule",
    job=pool_retention_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Each day at 02:00 UTC, erase pooled projects received longer ago than the retention age.",
)
