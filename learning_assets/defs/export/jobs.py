"""The full export job that the UI, the CLI (`learning export`) and tests run."""

from dagster import AssetSelection, define_asset_job

from learning_assets.defs.export.anonymized import ANONYMIZED_GROUP
from learning_assets.defs.export.publish import EXPORT_GROUP
from learning_assets.defs.export.raw import RAW_GROUP

export_job = define_asset_job(
    "learning_export_job",
    selection=AssetSelection.groups(RAW_GROUP, ANONYMIZED_GROUP, EXPORT_GROUP),
    description="Read, anonymize, validate and publish a full export of the learning data.",
)
