"""Consent and audit trail, kept in the instance home (`$DAGSTER_HOME/learning/`)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource, Failure
from pydantic import Field

from learning_assets.governance.consent import (
    ConsentRequired,
    ConsentStore,
    learning_home,
)


class Governance(ConfigurableResource):
    """Where `consent.json` and `audit.jsonl` live; by default `<instance root>/learning/`.

    The assets refuse to export a project without recorded consent (`learning consent grant`), and
    every published export is appended to the audit trail.
    """

    home: str | None = Field(default=None, description="Directory holding consent.json and audit.jsonl; "
                                                       "defaults to <instance root>/learning.")

    def directory(self, instance=None) -> Path:
        if self.home:
            return Path(self.home).expanduser()
        return learning_home(getattr(instance, "root_directory", None) if instance is not None else None)

    def consent(self, instance=None) -> ConsentStore:
        return ConsentStore(self.directory(instance))

    def require_consent(self, instance, source_root: str | Path) -> dict:
        """The consent record for a source, or a Dagster Failure saying how to grant it."""
        try:
            return self.consent(instance).require(source_root, refused="nothing was published")
        except ConsentRequired as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
