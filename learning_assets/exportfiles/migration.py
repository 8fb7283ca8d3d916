"""Migrating an export document between schema versions: the framework's 1.0 to this project's 1.1.

Each table's part of the 1.1 document comes from its spec (`learning_assets.tables`).
"""

from __future__ import annotations

import copy
import re
import secrets
from datetime import datetime, timezone
from typing import Any

from learning_assets import __version__
from learning_assets.exportfiles.versions import (
    ExportSchemaError,
    declared_version,
    ensure_valid,
    validate,
)
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.tables import migrate_sections
from learning_assets.tables.spec import Migration
from schemas import LATEST, SchemaVersionError

MIGRATED_NOTICE = (
    "Migrated from a schema 1.0 export written by the agent framework. Only aggregate numbers were "
    "carried over; identifiers were replaced by keyed pseudonyms (HMAC-SHA256 under a key used once and "
    "discarded), timestamps were rounded to the day, and all free text, pattern data and per-record "
    "details of the original were dropped. k-anonymity could not be applied."
)
_VERSION_TEXT = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$")


def _timestamp(value: Any, default: datetime) -> str:
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        ts = default
    ts = ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
    return ts.replace(microsecond=0).isoformat()


def migrate(doc: dict, target: str = LATEST, *, key: bytes | None = None, now: datetime | None = None) -> dict:
    """Turn a schema 1.0 document into a valid `target` (1.1) document.

    Only what can be carried over safely is kept: aggregate counts and rates, capabilities with their
    metrics (ids re-pseudonymized under `key`, or a random key used once), pattern counts by type.
    Free text, pattern records and the framework's guessable hashes are dropped; what was dropped is
    listed in the report's warnings. A document already at `target` is returned unchanged (a copy).
    """

    version = declared_version(doc)
    if version == target:
        return copy.deepcopy(doc)
    if (version, target) != ("1.0", "1.1"):
        raise SchemaVersionError(f"no migration from schema {version} to {target}")
    errors = validate(doc, "1.0")
    if errors:
        raise ExportSchemaError(f"not a valid schema 1.0 document: {errors[0]}", errors)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    pseudonym = Pseudonymizer(key or secrets.token_bytes(32))
    mig = Migration(doc, pseudonym, [])
    sections = migrate_sections(mig)
    meta = doc["export_metadata"]
    caps = sections["capability_metrics"]["capabilities"]
    migrated = {
        "export_metadata": {
            "export_timestamp": _timestamp(meta["export_timestamp"], now),
            "framework_version": str(meta["framework_version"]) if _VERSION_TEXT.match(
                str(meta["framework_version"])) else "unknown",
            "exporter_version": __version__,
            "export_version": "1.1",
            "schema_version": "1.1",
            "project_hash": pseudonym("project", str(meta.get("project_hash") or "unknown")),
            "anonymization_applied": True,
            "k_anonymity": None,
            "privacy_notice": MIGRATED_NOTICE,
            "migrated_from": {
                "schema_version": "1.0",
                "export_version": str(meta["export_version"])[:64],
                "anonymization_applied": meta.get("anonymization_applied")
                if isinstance(meta.get("anonymization_applied"), bool) else None,
                "migrated_at": now.replace(microsecond=0).isoformat(),
            },
        },
        **sections,
        "anonymization_report": {
            "k": None,
            "rules": {"ids_pseudonymized": len(caps) + 1, "paths_generalized": 0, "code_blocks_removed": 0,
                      "secrets": {}, "pii": {}, "context_keys_dropped": 0, "agent_ids_generalized": 0,
                      "values_generalized": sum(1 for c in caps if c["capability_type"] == "other")},
            "tables": {},
            "warnings": [f"migrated from schema 1.0; dropped {d}" for d in mig.dropped],
        },
    }
    ensure_valid(migrated)
    return migrated
