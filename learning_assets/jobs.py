"""Jobs that users launch from the UI, the CLI and schedules."""

from dagster import AssetSelection, define_asset_job

from learning_assets.assets.incremental import DAILY_GROUP, DAILY_PARTITIONS, SNAPSHOT_GROUP
from learning_assets.assets.shared_insights import SHARED_GROUP

export_job = define_asset_job(
    "learning_export_job",
    # everything except the incremental path and the receiving side, which have their own jobs
    selection=AssetSelection.all() - AssetSelection.groups(DAILY_GROUP, SNAPSHOT_GROUP, SHARED_GROUP),
    description="Read, anonymize, validate and publish a full export of the learning data.",
)

daily_export_job = define_asset_job(
    "daily_export_job",
    selection=AssetSelection.groups(DAILY_GROUP),
    partitions_def=DAILY_PARTITIONS,
    description="Export UTC days of agent/workflow executions, task memories and code outcomes to "
                "export/daily/<table>/<day>.parquet (a partition range runs as one run).",
)

snapshot_export_job = define_asset_job(
    "snapshot_export_job",
    selection=AssetSelection.groups(SNAPSHOT_GROUP),
    description="Export a dated snapshot of capabilities, refinements and patterns, marking what changed.",
)

INCREMENTAL_JOBS = [daily_export_job, snapshot_export_job]
