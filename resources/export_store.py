"""The export directory: exports are staged out of sight, checked, then published by an atomic rename."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from learning_assets.exportfiles.atomic import (
    fsync_dir,
    store_error,
    write_atomic,
)

STAGING = ".staging"
EXPORTS = "exports"
LATEST = "LATEST"
STALE_STAGING_SECONDS = 24 * 3600


class ExportStore(ConfigurableResource):
    """Directory of published exports (`exports/<id>/`), with `LATEST` naming the newest."""

    path: str = Field(default="export", description="Directory that receives exports.")

    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def stage(self, export_id: str) -> Path:
        """A fresh, invisible directory to write an export into."""
        staging = self.root() / STAGING
        try:
            staging.mkdir(parents=True, exist_ok=True)
            self._remove_stale(staging)
            path = staging / export_id
            path.mkdir()
        except OSError as exc:
            raise (store_error(exc, self.root(), "creating the staging directory") or exc) from None
        return path

    def staged(self, export_id: str) -> Path:
        return self.root() / STAGING / export_id

    def publish(self, export_id: str) -> Path:
        """Move a staged export into `exports/` in one rename and point `LATEST` at it.

        `LATEST`'s new content is on disk before the rename: once the export is visible, only the
        replacement of `LATEST` is left, which needs no space.
        """
        staged = self.staged(export_id)
        if not (staged / "manifest.json").is_file():
            raise FileNotFoundError(f"{staged}: no staged export with a manifest to publish")
        final_dir = self.root() / EXPORTS
        final = final_dir / export_id

        def rename_into_place(_latest: Path) -> None:
            os.rename(staged, final)
            fsync_dir(final_dir)

        try:
            final_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self.root() / LATEST, f"{export_id}\n".encode(), before_replace=rename_into_place)
        except OSError as exc:
            raise (store_error(exc, self.root(), "publishing the export") or exc) from None
        return final

    def discard(self, export_id: str) -> None:
        shutil.rmtree(self.staged(export_id), ignore_errors=True)

    def latest(self) -> Path | None:
        pointer = self.root() / LATEST
        if not pointer.is_file():
            return None
        path = self.root() / EXPORTS / pointer.read_text().strip()
        return path if path.is_dir() else None

    def exports(self) -> list[Path]:
        """Published exports, oldest first."""
        d = self.root() / EXPORTS
        return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    def manifest(self, export_dir: Path) -> dict:
        return json.loads((export_dir / "manifest.json").read_text())

    @staticmethod
    def _remove_stale(staging: Path) -> None:
        """Staging directories (and LATEST temporaries) left by crashed runs; young ones may belong
        to a concurrent run."""
        cutoff = time.time() - STALE_STAGING_SECONDS
        for entry in [*staging.iterdir(), *staging.parent.glob(f".{LATEST}.*.tmp")]:
            try:
                if entry.stat().st_mtime < cutoff:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink()
            except FileNotFoundError:
                pass
