"""Jobs of the incremental path: daily partitions and dated snapshots."""

from dagster import AssetSelection, define_asset_job

from learning_assets.defs.incremental.assets import (
    DAILY_GROUP,
    DAILY_PARTITIONS,
    SNAPSHOT_GROUP,
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
