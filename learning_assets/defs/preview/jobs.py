"""The preview job: the preview asset alone. Never part of the export job or any schedule."""

from dagster import AssetSelection, define_asset_job

from learning_assets.defs.preview.assets import export_preview

preview_job = define_asset_job(
    "preview_job", selection=AssetSelection.assets(export_preview),
    description="Show what an export would hold, before and after anonymization; exports nothing.",
)
