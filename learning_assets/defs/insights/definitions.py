"""Area `insights`: the receiving side, where many projects' submissions become a private release."""

from dagster import Definitions

from learning_assets.defs.insights.assets import SHARED_ASSETS
from learning_assets.defs.insights.checks import SHARED_CHECKS
from learning_assets.defs.insights.jobs import (
    pool_retention_job,
    shared_insights_job,
    submission_intake_job,
    withdrawal_job,
)
from learning_assets.defs.insights.schedules import pool_retention_schedule
from learning_assets.defs.insights.sensors import learning_submission_sensor

defs = Definitions(assets=SHARED_ASSETS, asset_checks=SHARED_CHECKS,
                   jobs=[submission_intake_job, withdrawal_job, pool_retention_job, shared_insights_job],
                   schedules=[pool_retention_schedule], sensors=[learning_submission_sensor])
