"""The manifest: every file of an export with its SHA-256, size and row count, and its verification."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from learning_assets.errors import os_words
from learning_assets.jsontext import json_error

CHUNK = 1 << 20
# A submission package (`governance.submit`) is an export directory plus these two files of its own.
SUBMISSION = "SUBMISSION.json"
PACKAGE_FILES = (SUBMISSION, "checksums.sha256")
SUBMISSION_FORMAT = "learning-export-submission"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def verify_manifest(directory: Path, besides: Iterable[str] = ()) -> list[str]:
    """Problems found comparing the files on disk with the manifest (empty when intact). `besides`: files
    that may sit beside the export's own without being listed (a submission package's `PACKAGE_FILES`)."""
    try:
        manifest = json.loads((directory / "manifest.json").read_bytes())
    except OSError as exc:
        return [f"manifest.json: cannot read it ({os_words(exc)})"]
    except (ValueError, RecursionError) as exc:
        return [f"manifest.json: not valid JSON ({json_error(exc, where=True)})"]
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str)
            for e in entries):
        return ["manifest.json: not a manifest (expected an object whose 'files' lists each file's path and sha256)"]
    problems = []
    listed = {f["path"] for f in entries}
    for entry in entries:
        path = directory / entry["path"]
        try:
            if not path.is_file():
                problems.append(f"{entry['path']}: missing")
            elif sha256_file(path) != entry["sha256"]:
                problems.append(f"{entry['path']}: checksum mismatch")
            elif "rows" in entry and pq.ParquetFile(path).metadata.num_rows != entry["rows"]:
                problems.append(f"{entry['path']}: row count differs from manifest")
        except OSError as exc:
            problems.append(f"{entry['path']}: cannot read it ({os_words(exc)})")
        except pa.ArrowException:
            problems.append(f"{entry['path']}: not a readable Parquet file")
    for path in directory.rglob("*"):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel != "manifest.json" and rel not in listed and rel not in besides:
            problems.append(f"{rel}: not listed in the manifest")
    return problems
