"""Area `preview`: what an export would hold, shown before anything is exported."""

from dagster import Definitions

from learning_assets.defs.preview.assets import PREVIEW_ASSETS
from learning_assets.defs.preview.jobs import preview_job

defs = Definitions(assets=PREVIEW_ASSETS, jobs=[preview_job])
