"""The export's JSON document (schema 1.x shape) and its metadata block."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from learning_assets import __version__
from learning_assets.privacy.vocabulary import PRIVACY_NOTICE
from learning_assets.tables import build_sections

SCHEMA_VERSION = "1.1"
EXPORT_VERSION = "1.1"


def export_metadata(project_pseudonym: str, framework_version: str, k: int,
                    now: datetime | None = None) -> dict:
    return {
        "export_timestamp": (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat(),
        "framework_version": framework_version,
        "exporter_version": __version__,
        "export_version": EXPORT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "project_hash": project_pseudonym,
        "anonymization_applied": True,
        "k_anonymity": k,
        "privacy_notice": PRIVACY_NOTICE,
    }


def build_document(tables: dict[str, pd.DataFrame], metadata: dict, report: dict) -> dict:
    """The JSON document: the framework's four sections (schema 1.0 shape), each table writing its part."""
    return {"export_metadata": metadata, **build_sections(tables), "anonymization_report": report}
