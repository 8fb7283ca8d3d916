"""The `learning_export` code location."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from learning_assets.assets.anonymized import ANONYMIZED_ASSETS
from learning_assets.assets.export import EXPORT_ASSETS
from learning_assets.assets.raw import RAW_ASSETS
from learning_assets.checks import EXPORT_CHECKS
from learning_assets.jobs import export_job
from resources import Anonymization, ExportStore, SourceDirectory, TableIOManager


def _env(name: str, **fallback) -> dict:
    """Bind a field to an environment variable when it is set, else keep the resource's default."""
    return {next(iter(fallback)): EnvVar(name)} if os.environ.get(name) else {}


def build_resources() -> dict:
    return {
        "source": SourceDirectory(**_env("LEARNING_SOURCE_DIR", path=None)),
        "export_store": ExportStore(**_env("LEARNING_EXPORT_DIR", path=None)),
        "anonymization": Anonymization(**_env("LEARNING_ANONYMIZATION_KEY", key=None)),
        "io_manager": TableIOManager(),
    }


defs = Definitions(
    assets=[*RAW_ASSETS, *ANONYMIZED_ASSETS, *EXPORT_ASSETS],
    asset_checks=EXPORT_CHECKS,
    jobs=[export_job],
    resources=build_resources(),
)
