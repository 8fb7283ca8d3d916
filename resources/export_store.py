"""The export directory: exports are staged out of sight, checked, then published by an atomic rename."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

STAGING = ".staging"
EXPORTS = "exports"
LATEST = "LATEST"
STALE_STAGING_SECONDS = 24 * 3600


def new_export_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a small file so readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class ExportStore(ConfigurableResource):
    """Directory of published exports (`exports/<id>/`), with `LATEST` naming the newest."""

    path: str = Field(default="export", description="Directory that receives exports.")

    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def stage(self, export_id: str) -> Path:
        """A fresh, invisible directory to write an export into."""
        staging = self.root() / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        self._remove_stale(staging)
        path = staging / export_id
        path.mkdir()
        return path

    def staged(self, export_id: str) -> Path:
        return self.root() / STAGING / export_id

    def publish(self, export_id: str) -> Path:
        """Move a staged export into `exports/` in one rename and point `LATEST` at it."""
        staged = self.staged(export_id)
        if not (staged / "manifest.json").is_file():
            raise FileNotFoundError(f"{staged}: no staged export with a manifest to publish")
        final_dir = self.root() / EXPORTS
        final_dir.mkdir(parents=True, exist_ok=True)
        final = final_dir / export_id
        os.rename(staged, final)
        fsync_dir(final_dir)
        write_atomic(self.root() / LATEST, f"{export_id}\n".encode())
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
        """Staging directories left by crashed runs; young ones may belong to a concurrent run."""
        cutoff = time.time() - STALE_STAGING_SECONDS
        for entry in staging.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except FileNotFoundError:
                pass
