"""The manifest: every file of an export with its SHA-256, size and row count, and its verification."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow.parquet as pq

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def verify_manifest(directory: Path) -> list[str]:
    """Problems found comparing the files on disk with the manifest (empty when intact)."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return [f"manifest.json: {exc}"]
    problems = []
    listed = {f["path"] for f in manifest["files"]}
    for entry in manifest["files"]:
        path = directory / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: checksum mismatch")
        elif "rows" in entry and pq.ParquetFile(path).metadata.num_rows != entry["rows"]:
            problems.append(f"{entry['path']}: row count differs from manifest")
    for path in directory.rglob("*"):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel != "manifest.json" and rel not in listed:
            problems.append(f"{rel}: not listed in the manifest")
    return problems
