"""Area `export`: source files -> raw tables -> anonymized tables -> a checked, published export."""

from dagster import Definitions

from learning_assets.defs.export.anonymized import ANONYMIZED_ASSETS
from learning_assets.defs.export.checks import EXPORT_CHECKS
from learning_assets.defs.export.jobs import export_job
from learning_assets.defs.export.publish import EXPORT_ASSETS
from learning_assets.defs.export.raw import RAW_ASSETS

defs = Definitions(assets=[*RAW_ASSETS, *ANONYMIZED_ASSETS, *EXPORT_ASSETS], asset_checks=EXPORT_CHECKS,
                   jobs=[export_job])
