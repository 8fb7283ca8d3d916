"""The export document's JSON Schemas, one file per version, and their loader.

1.0 is the framework's own exporter; 1.1 is this project's. `learning_assets.exportfiles.versions`
validates documents against them and migrates between them.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from learning_assets.errors import UserError

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_FILES = {"1.0": "export-1.0.schema.json", "1.1": "export-1.1.schema.json"}
LATEST = "1.1"


class SchemaVersionError(UserError, ValueError):
    """The document declares no schema version, or one this exporter does not know."""


def known_versions() -> list[str]:
    return sorted(SCHEMA_FILES)


@functools.lru_cache(maxsize=None)
def load_schema(version: str) -> dict:
    if version not in SCHEMA_FILES:
        raise SchemaVersionError(f"unknown schema version {version!r}; this exporter knows "
                                 f"{', '.join(known_versions())}")
    return json.loads((SCHEMA_DIR / SCHEMA_FILES[version]).read_text())
