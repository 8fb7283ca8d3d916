"""The `learning_export` code location."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from learning_assets.assets.anonymized import ANONYMIZED_ASSETS
from learning_assets.assets.dashboard import DASHBOARD_ASSETS
from learning_assets.assets.export import EXPORT_ASSETS
from learning_assets.assets.raw import RAW_ASSETS
from learning_assets.checks import EXPORT_CHECKS
from learning_assets.quality_checks import QUALITY_CHECKS
from learning_assets.jobs import export_job
from learning_assets.assets.incremental import INCREMENTAL_ASSETS, INCREMENTAL_CHECKS
from learning_assets.jobs import INCREMENTAL_JOBS
from learning_assets.schedules import SCHEDULES
from learning_assets.sensors import SENSORS
from learning_assets.assets.shared_insights import SHARED, shared_resources  # group `shared_insights`
from resources import Anonymization, ExportStore, Governance, SourceDirectory, TableIOManager

ASSETS = [*RAW_ASSETS, *ANONYMIZED_ASSETS, *EXPORT_ASSETS, *DASHBOARD_ASSETS]
CHECKS = [*EXPORT_CHECKS, *QUALITY_CHECKS]
# The incremental path (groups `daily` and `snapshots`): its own jobs, schedules and sensor.
INCREMENTAL = {"assets": INCREMENTAL_ASSETS, "asset_checks": INCREMENTAL_CHECKS, "jobs": INCREMENTAL_JOBS,
               "schedules": SCHEDULES, "sensors": SENSORS}


def _from_env(field: str, name: str) -> dict:
    """Bind a resource field to an environment variable when it is set, else keep the default."""
    return {field: EnvVar(name)} if os.environ.get(name) else {}


def build_resources(source: str | None = None, output: str | None = None) -> dict:
    """Resources from explicit paths, else from LEARNING_* environment variables, else defaults."""
    return {
        "source": SourceDirectory(path=source) if source else SourceDirectory(**_from_env("path", "LEARNING_SOURCE_DIR")),
        "export_store": ExportStore(path=output) if output else ExportStore(**_from_env("path", "LEARNING_EXPORT_DIR")),
        "anonymization": Anonymization(**_from_env("key", "LEARNING_ANONYMIZATION_KEY")),
        "io_manager": TableIOManager(),
        "governance": Governance(),  # consent and audit trail under $DAGSTER_HOME/learning
    }


def build_definitions(**resource_args) -> Definitions:
    return Definitions(assets=[*ASSETS, *INCREMENTAL["assets"], *SHARED["assets"]],
                       asset_checks=[*CHECKS, *INCREMENTAL["asset_checks"], *SHARED["asset_checks"]],
                       jobs=[export_job, *INCREMENTAL["jobs"], *SHARED["jobs"]], schedules=INCREMENTAL["schedules"],
                       sensors=[*INCREMENTAL["sensors"], *SHARED["sensors"]],
                       resources={**build_resources(**resource_args), **shared_resources()})


defs = build_definitions()
