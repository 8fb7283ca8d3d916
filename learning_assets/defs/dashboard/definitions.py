"""Area `dashboard`: the project owner's view of the latest export, and of it beside the pool's release."""

from dagster import Definitions

from learning_assets.defs.dashboard.assets import DASHBOARD_ASSETS
from learning_assets.defs.dashboard.comparison import COMPARISON_ASSETS

defs = Definitions(assets=[*DASHBOARD_ASSETS, *COMPARISON_ASSETS])
