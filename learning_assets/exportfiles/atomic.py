"""Files that readers see whole or not at all, and one export at a time per instance.

Every file this project replaces in place (manifests, indexes, ledgers, consent, `LATEST`, packages,
reports) goes through `write_atomic`; `exclusive` keeps two exports of one Dagster instance apart.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from learning_assets.errors import UserError

LOCK_FILE = ".learning-export.lock"


class ExportBusy(UserError, RuntimeError):
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


def durable_tmp(path: Path, data: bytes | Iterable[bytes], mode: int = 0o666) -> Path:
    """`data` (bytes, or chunks of them) in a durable temporary file next to `path`, created with `mode`
    (less the umask); removed again if writing fails."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as fh:
            for chunk in [data] if isinstance(data, bytes) else data:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def write_atomic(path: Path, data: bytes | Iterable[bytes], *, mode: int = 0o666,
                 before_replace: Callable[[Path], None] | None = None) -> None:
    """Write a file so readers see the old or the new content, never a mix.

    `before_replace(tmp)` runs once `data` is durably on disk in `tmp`, just before it replaces `path`:
    to read it back, or for a step that must not happen unless the file can follow (publishing an
    export before `LATEST` names it). If it raises, `path` is left as it was.
    """
    tmp = durable_tmp(path, data, mode)
    try:
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
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
