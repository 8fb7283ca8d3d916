"""Jobs that users launch from the UI, the CLI and schedules."""

from dagster import AssetSelection, define_asset_job

export_job = define_asset_job(
    "learning_export_job",
    selection=AssetSelection.all(),
    description="Read, anonymize, validate and publish a full export of the learning data.",
)
