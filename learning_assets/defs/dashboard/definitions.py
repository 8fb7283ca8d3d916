"""Area `dashboard`: the project owner's view of the latest export, and of it beside the pool's release."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
)

from learning_assets.defs.dashboard.assets import DASHBOARD_ASSETS, DASHBOARD_GROUP
from learning_assets.defs.dashboard.comparison import COMPARISON_ASSETS

dashboard_job = define_asset_job(
    "dashboard_job", selection=AssetSelection.groups(DASHBOARD_GROUP),
    description="The owner's dashboard of the newest published export, by the owner's names (stays local).")

# Running from the start, so the dashboard follows every export while `dagster dev` (or the daemon) runs.
dashboard_automation = AutomationConditionSensorDefinition(
    "dashboard_automation", target=AssetSelection.groups(DASHBOARD_GROUP), default_status=DefaultSensorStatus.RUNNING,
    description="Refreshes the owner's dashboard after each published export.")

defs = Definitions(assets=[*DASHBOARD_ASSETS, *COMPARISON_ASSETS], jobs=[dashboard_job], sensors=[dashboard_automation])
