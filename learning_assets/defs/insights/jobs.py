"""Intake runs one submission partition, a withdrawal one request partition; a release is run deliberately
(it spends privacy budget) and purges expired projects first."""

from dagster import AssetSelection, define_asset_job

from learning_assets.defs.insights.assets import (
    SUBMISSIONS,
    WITHDRAWALS,
    best_practices,
    pool_retention,
    pooled_submission,
    shared_insights,
    submission_intake,
    submission_withdrawal,
)

submission_intake_job = define_asset_job(
    "submission_intake_job", selection=AssetSelection.assets(submission_intake, pooled_submission),
    partitions_def=SUBMISSIONS,
    description="Verify one received submission and pool its rows (one run per submission partition).")

withdrawal_job = define_asset_job(
    "withdrawal_job", selection=AssetSelection.assets(submission_withdrawal), partitions_def=WITHDRAWALS,
    description="Verify one withdrawal request and erase its project from the pool (one run per request).")

pool_retention_job = define_asset_job(
    "pool_retention_job", selection=AssetSelection.assets(pool_retention),
    description="Erase the projects whose pooled rows are older than the store's retention_days.")

shared_insights_job = define_asset_job(
    "shared_insights_job", selection=AssetSelection.assets(pool_retention, shared_insights, best_practices),
    description="Purge expired projects, then publish a differentially private release of the shared insights "
                "and its best-practice rules. Spends the configured epsilon; run it deliberately.")
