"""Export consent: nothing is exported for a project until someone granted consent for it.

Consent lives in the instance home (`$DAGSTER_HOME/learning/consent.json`, mode 0600), one record per
project keyed by the project's resolved `.tapps-agents/` directory, with who granted or revoked it and
when. The file never leaves the installation; exports carry only the project's pseudonym.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from learning_assets.errors import UserError
from learning_assets.exportfiles.atomic import write_atomic

CONSENT_FILE = "consent.json"
AUDIT_FILE = "audit.jsonl"


class ConsentRequired(UserError, PermissionError):
    """Exporting was refused: no consent, or consent was revoked."""


def learning_home(instance_root: str | os.PathLike | None = None) -> Path:
    """`<instance home>/learning`: the instance's root directory, else $DAGSTER_HOME, else ~/.learning-export."""
    root = instance_root or os.environ.get("DAGSTER_HOME") or Path.home() / ".learning-export"
    return Path(root) / "learning"


def project_key(source: str | os.PathLike) -> str:
    """The key consent is recorded under: the resolved `.tapps-agents/` (or project) directory.

    Same rule as `sources.resolve_source_root` (not imported: it pulls pandas into every CLI call).
    """
    root = Path(source).expanduser()
    if (root / ".tapps-agents").is_dir():
        root = root / ".tapps-agents"
    return str(root.resolve())


def current_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def grant_command(source: str | os.PathLike) -> str:
    return f"learning consent grant --source {project_key(source)}"


class ConsentStore:
    """Read and change `consent.json`; every change is a locked read-modify-write and an atomic replace."""

    def __init__(self, home: str | os.PathLike):
        self.home = Path(home)
        self.path = self.home / CONSENT_FILE

    # --- reading ---------------------------------------------------------------------------

    def load(self) -> dict:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {"version": 1, "projects": {}}
        except (OSError, ValueError, RecursionError) as exc:
            raise ConsentRequired(f"{self.path}: consent file is unreadable ({exc}); "
                                  f"fix or remove it and grant consent again") from exc
        if not isinstance(data, dict) or not isinstance(data.get("projects"), dict):
            raise ConsentRequired(f"{self.path}: consent file is not in the expected format")
        return data

    def record(self, source: str | os.PathLike) -> dict | None:
        return self.load()["projects"].get(project_key(source))

    def projects(self) -> dict[str, dict]:
        return self.load()["projects"]

    def is_granted(self, source: str | os.PathLike) -> bool:
        rec = self.record(source)
        return bool(rec and rec.get("granted"))

    def require(self, source: str | os.PathLike, refused: str = "nothing was exported") -> dict:
        """The consent record, or ConsentRequired with a message that says how to grant it."""
        rec = self.record(source)
        if rec and rec.get("granted"):
            return rec
        key = project_key(source)
        if rec:
            why = f"consent to export {key} was revoked by {rec.get('revoked_by')} at {rec.get('revoked_at')}"
        else:
            why = f"no consent to export {key}"
        raise ConsentRequired(f"{why}; {refused}. Grant it with: {grant_command(source)}")

    def find_by_project(self, pseudonym: str) -> tuple[str, dict] | None:
        for key, rec in self.projects().items():
            if pseudonym and rec.get("project") == pseudonym:
                return key, rec
        return None

    # --- changing --------------------------------------------------------------------------

    def grant(self, source: str | os.PathLike, *, project: str | None = None, note: str | None = None) -> dict:
        key = project_key(source)
        with self._locked() as data:
            rec = data["projects"].setdefault(key, {"source": key, "history": []})
            rec.update(granted=True, granted_by=current_user(), granted_at=now_iso(),
                       revoked_by=None, revoked_at=None)
            if project:
                rec["project"] = project
            if note:
                rec["note"] = note
            rec["history"].append({"action": "grant", "by": rec["granted_by"], "at": rec["granted_at"]})
            return dict(rec)

    def revoke(self, source: str | os.PathLike) -> dict | None:
        """Mark consent revoked (kept, with who and when); None when no consent was ever recorded."""
        key = project_key(source)
        with self._locked() as data:
            rec = data["projects"].get(key)
            if rec is None:
                return None
            rec.update(granted=False, revoked_by=current_user(), revoked_at=now_iso())
            rec.setdefault("history", []).append({"action": "revoke", "by": rec["revoked_by"],
                                                  "at": rec["revoked_at"]})
            return dict(rec)

    @contextlib.contextmanager
    def _locked(self):
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        with os.fdopen(os.open(self.home / f".{CONSENT_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self.load()
                yield data
                self._write(data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, data: dict) -> None:
        write_atomic(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(), mode=0o600)
