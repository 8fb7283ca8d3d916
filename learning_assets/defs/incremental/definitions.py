"""Area `incremental`: daily partitions and dated snapshots, with their jobs, schedules and sensor."""

from dagster import Definitions

from learning_assets.defs.incremental.assets import (
                   INCREMENTAL_ASSETS,
                   INCREMENTAL_CHECKS,
)
from learning_assets.defs.incremental.jobs import INCREMENTAL_JOBS
from learning_assets.defs.incremental.schedules import SCHEDULES
from learning_assets.defs.incremental.sensors import SENSORS

defs = Definitions(assets=INCREMENTAL_ASSETS, asset_checks=INCREMENTAL_CHECKS, jobs=INCREMENTAL_JOBS,
                   schedules=SCHEDULES, sensors=SENSORS)
