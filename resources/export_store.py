"""The export directory: exports are staged out of sight, checked, then published by an atomic rename."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

STAGING = ".staging"
EXPORTS = "exports"
LATEST = "LATEST"
STALE_STAGING_SECONDS = 24 * 3600
LOCK_FILE = ".learning-export.lock"


class ExportBusy(RuntimeError):
    """Another export holds the lock (same Dagster instance storage); nothing was started."""


class ExportStoreError(OSError):
    """The export directory cannot take an export (read-only, full, no permission); says which and where."""


def new_export_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_tmp(path: Path, data: bytes) -> Path:
    """`data` in a durable temporary file next to `path` (removed again if writing fails)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def write_atomic(path: Path, data: bytes) -> None:
    """Write a small file so readers see the old or the new content, never a mix."""
    os.replace(_write_tmp(path, data), path)
    fsync_dir(path.parent)


def store_error(exc: OSError, root: Path, doing: str) -> OSError | None:
    """A one-line, actionable error for the OS errors an export directory can raise (None: keep `exc`)."""
    words = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
             errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
             errno.EPERM: "operation not permitted"}.get(exc.errno)
    if words is None or isinstance(exc, ExportStoreError):
        return None
    return ExportStoreError(exc.errno, f"{words} while {doing}; earlier exports are untouched", str(root))


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str):
    """Hold an exclusive, non-blocking lock on `lock_path` for the block, or raise ExportBusy.

    A kernel lock (flock): released when the holder exits, however it dies, so it never goes stale.
    The file keeps who holds it, for the refusal message; it is never deleted.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
                who = f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
            except (ValueError, KeyError, TypeError, OSError):
                who = "holder unknown"
            raise ExportBusy(f"another export is already running {what} ({who}); nothing was started, "
                             f"try again when it has finished (lock: {lock_path})") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(timezone.utc).replace(microsecond=0).isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


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
        """Move a staged export into `exports/` in one rename and point `LATEST` at it."""
        staged = self.staged(export_id)
        if not (staged / "manifest.json").is_file():
            raise FileNotFoundError(f"{staged}: no staged export with a manifest to publish")
        final_dir = self.root() / EXPORTS
        final = final_dir / export_id
        # Everything that can run out of space happens before the rename: once the export is
        # visible, only a rename of the prepared LATEST is left.
        try:
            final_dir.mkdir(parents=True, exist_ok=True)
            latest_tmp = _write_tmp(self.root() / LATEST, f"{export_id}\n".encode())
        except OSError as exc:
            raise (store_error(exc, self.root(), "publishing the export") or exc) from None
        try:
            os.rename(staged, final)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                latest_tmp.unlink()
            if isinstance(exc, OSError) and (err := store_error(exc, self.root(), "publishing the export")):
                raise err from None
            raise
        fsync_dir(final_dir)
        os.replace(latest_tmp, self.root() / LATEST)
        fsync_dir(self.root())
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
