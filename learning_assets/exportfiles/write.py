"""Writing a staged export: Parquet per table, the JSON document, metadata, report and manifest."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from learning_assets.exportfiles.atomic import store_error
from learning_assets.exportfiles.manifest import fsync_file, sha256_file
from learning_assets.exportfiles.parquet import write_table

DOCUMENT = "learning_export.json"


def write_export(directory: Path, tables: dict[str, pd.DataFrame], document: dict, report: dict,
                 **options) -> dict:
    """Write every file of an export into `directory` (a staging directory) and return its manifest.

    A full disk, a read-only file system or a permission problem raises one OSError naming the export
    directory (the caller discards the staging directory; published exports are never touched).
    """
    try:
        return _write_export(directory, tables, document, report, **options)
    except OSError as exc:
        err = store_error(exc, directory.parent.parent, "writing the export")
        if err is None:
            raise
        raise err from None


def _write_export(directory: Path, tables: dict[str, pd.DataFrame], document: dict, report: dict,
                  *, parquet: bool = True, json_document: bool = True, compress_json: bool = False) -> dict:
    # Validated against its declared JSON Schema version by the blocking `export_json_schema` check,
    # before anything is published.
    data = json.dumps(document, indent=1, sort_keys=False).encode()
    files: list[dict] = []

    def record(path: Path, **extra) -> None:
        fsync_file(path)
        files.append({"path": path.relative_to(directory).as_posix(), "sha256": sha256_file(path),
                      "bytes": path.stat().st_size, **extra})

    if parquet:
        (directory / "tables").mkdir()
        for name, df in tables.items():
            path = directory / "tables" / f"{name}.parquet"
            write_table(df, path)
            record(path, table=name, rows=int(len(df)))
    if json_document:
        path = directory / (DOCUMENT + (".gz" if compress_json else ""))
        path.write_bytes(gzip.compress(data, mtime=0) if compress_json else data)
        record(path)
    for name, content in (("export_metadata.json", document["export_metadata"]),
                          ("anonymization_report.json", report)):
        path = directory / name
        path.write_text(json.dumps(content, indent=1))
        record(path)
    manifest = {
        "export_id": directory.name,
        "schema_version": document["export_metadata"]["schema_version"],
        "created_at": document["export_metadata"]["export_timestamp"],
        "files": files,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    fsync_file(directory / "manifest.json")
    return manifest
