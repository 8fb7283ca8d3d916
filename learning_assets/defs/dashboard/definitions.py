"""Area `dashboard`: the project owner's view of the latest export."""

from dagster import Definitions

from learning_assets.defs.dashboard.assets import DASHBOARD_ASSETS

defs = Definitions(assets=DASHBOARD_ASSETS)
