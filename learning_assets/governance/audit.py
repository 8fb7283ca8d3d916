"""The audit trail: an append-only JSON Lines log of every export, submission and consent change.

`$DAGSTER_HOME/learning/audit.jsonl` (mode 0600). Each entry is one line written with a single
`write` on an `O_APPEND` descriptor, so concurrent writers never interleave and earlier lines are
never rewritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from learning_assets.governance.consent import AUDIT_FILE, current_user, now_iso

AUDIT_VERSION = 1


def audit_path(home: str | os.PathLike) -> Path:
    return Path(home) / AUDIT_FILE


def append(home: str | os.PathLike, event: str, **fields) -> dict:
    """Append one entry and return it."""
    entry = {"time": now_iso(), "event": event, "user": current_user(), "audit_version": AUDIT_VERSION,
             **fields}
    line = (json.dumps(entry, sort_keys=False, default=str) + "\n").encode()
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(audit_path(home), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line stays alone on its line
            line = b"\n" + line
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"{audit_path(home)}: short write to the audit log")
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def read(home: str | os.PathLike) -> list[dict]:
    """Every entry, oldest first; a damaged line (e.g. a crash mid-write) is reported, not fatal."""
    path = audit_path(home)
    if not path.is_file():
        return []
    entries = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
            except ValueError:
                entry = {"event": "damaged", "line": lineno}
            entries.append(entry)
    return entries


def file_entries(manifest: dict) -> list[dict]:
    return [{"path": f["path"], "sha256": f["sha256"], "bytes": f["bytes"],
             **({"rows": f["rows"]} if "rows" in f else {})} for f in manifest.get("files", [])]


def record_export(home: str | os.PathLike, *, checks: list[dict], run_id: str, export: dict,
                  path: str | os.PathLike, source: str) -> dict:
    """The audit entry `published_export` writes once an export is public, with the run's check outcomes."""
    manifest = export["manifest"]
    return append(home, "export", run_id=run_id, export_id=export["export_id"], path=str(path),
                  source=source, project=export.get("project"), options=export.get("options") or {},
                  schema_version=manifest.get("schema_version"), files=file_entries(manifest),
                  checks=checks, checks_passed=all(c["passed"] for c in checks) if checks else None)


def find_export(home: str | os.PathLike, export_id: str) -> dict | None:
    for entry in reversed(read(home)):
        if entry.get("event") == "export" and entry.get("export_id") == export_id:
            return entry
    return None
