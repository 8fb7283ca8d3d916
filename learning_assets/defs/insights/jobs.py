"""Intake runs one submission partition; a release is run deliberately (it spends privacy budget)."""

from dagster import AssetSelection, define_asset_job

from learning_assets.defs.insights.assets import (
    SUBMISSIONS,
    best_practices,
    pooled_submission,
    shared_insights,
    submission_intake,
)

submission_intake_job = define_asset_job(
    "submission_intake_job", selection=AssetSelection.assets(submission_intake, pooled_submission),
    partitions_def=SUBMISSIONS,
    description="Verify one received submission and pool its rows (one run per submission partition).")

shared_insights_job = define_asset_job(
    "shared_insights_job", selection=AssetSelection.assets(shared_insights, best_practices),
    description="Publish a differentially private release of the shared insights and its best-practice "
                "rules. Spends the configured epsilon; run it deliberately.")
