"""The project's `.tapps-agents/` directory, as a resource."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import ConfigurableResource
from pydantic import Field

from learning_assets.sources.readers import resolve_source_root

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "learning_assets" / "sample_data"


class SourceDirectory(ConfigurableResource):
    """A project directory (or its `.tapps-agents/` directory) holding the framework's learning data."""

    path: str = Field(default=str(SAMPLE_DIR), description="Project or .tapps-agents directory to read.")
    naive_timezone: str = Field(default="UTC", description="Time zone in which naive timestamps are read.")

    def root(self) -> Path:
        root = resolve_source_root(self.path)
        if not root.is_dir():
            raise FileNotFoundError(f"{self.path}: source directory does not exist or is not a directory")
        return root

    def tz(self) -> tzinfo:
        return ZoneInfo(self.naive_timezone)
