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

ASSETS = [*RAW_ASSETS, *ANONYMIZED_ASSETS, *EXPORT_ASSETS]
CHECKS = [*EXPORT_CHECKS]


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
    }


def build_definitions(**resource_args) -> Definitions:
    return Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=[export_job],
                       resources=build_resources(**resource_args))


defs = build_definitions()
