"""Anonymization settings: the secret key behind every pseudonym, and k for k-anonymity."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from learning_assets.errors import UserError, os_words
from learning_assets.privacy.pseudonyms import MIN_KEY_BYTES


def default_key_file() -> Path:
    home = os.environ.get("DAGSTER_HOME") or os.path.join(Path.home(), ".learning-export")
    return Path(home) / "learning" / "anonymization.key"


class AnonymizationKeyError(UserError):
    """The anonymization key is missing, too short or not private; says which key and what to do."""


class Anonymization(ConfigurableResource):
    """The HMAC key (from `LEARNING_ANONYMIZATION_KEY`, else a 0600 file under the instance home) and k.

    There is deliberately no setting that turns anonymization off.
    """

    key: str | None = Field(default=None, description="Secret key (at least 32 characters).")
    key_file: str | None = Field(default=None, description="Where a generated key is kept.")
    k: int = Field(default=5, ge=1, description="Projects a group needs before the receiving side pools it "
                                                "(recorded in the report; no row of an export is suppressed).")

    def secret(self) -> bytes:
        if self.key:
            if len(self.key) < MIN_KEY_BYTES:
                raise AnonymizationKeyError(f"LEARNING_ANONYMIZATION_KEY must be at least {MIN_KEY_BYTES} "
                                            f"characters; set a longer secret")
            return self.key.encode()
        return load_or_create_key(Path(self.key_file) if self.key_file else default_key_file())


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it with owner-only permissions on first use."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            mode = stat.S_IMODE(path.stat().st_mode)
            key = path.read_bytes().strip()
        else:
            with os.fdopen(fd, "wb") as fh:
                key = secrets.token_hex(32).encode()
                fh.write(key)
            return key
    except OSError as exc:
        raise AnonymizationKeyError(f"{path}: cannot read or create the anonymization key file "
                                    f"({os_words(exc)}); give the user running the export (and only that user) "
                                    f"access to it, or set LEARNING_ANONYMIZATION_KEY") from None
    if mode & 0o077:
        raise AnonymizationKeyError(f"{path}: key file is readable by others (mode {mode:o}); chmod 600 it")
    if len(key) < MIN_KEY_BYTES:
        raise AnonymizationKeyError(f"{path}: key file holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}; "
                                    f"restore it from your backup (deleting it makes a new key, whose "
                                    f"pseudonyms do not join with earlier exports)")
    return key
