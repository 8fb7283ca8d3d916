"""Secret files only their owner may read: made once with mode 0600, refused once others can read them.

Used for the anonymization key, the receiver's migration key, the withdrawal secret and the signing key; `SecretFile`
says what a file is for, so a message can say what losing it means.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from learning_assets.errors import UserError, os_words

MIN_KEY_BYTES = 32  # shorter keys (and key files) are refused


class SecretKeyError(UserError):
    """A secret key is missing, too short or not private; says which key and what to do."""


@dataclass(frozen=True)
class SecretFile:
    what: str        # "anonymization key"
    if_lost: str     # what deleting the file means
    instead: str = ""  # another way to supply the secret, as a clause


ANONYMIZATION_KEY = SecretFile("anonymization key", "deleting it makes a new key, whose pseudonyms do not join "
                                                    "with earlier exports", ", or set LEARNING_ANONYMIZATION_KEY")


def load_or_create_key(path: Path, kind: SecretFile = ANONYMIZATION_KEY) -> bytes:
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
        raise SecretKeyError(f"{path}: cannot read or create the {kind.what} file ({os_words(exc)}); give the "
                             f"user running the export (and only that user) access to it{kind.instead}") from None
    if mode & 0o077:
        raise SecretKeyError(f"{path}: key file is readable by others (mode {mode:o}); chmod 600 it")
    if len(key) < MIN_KEY_BYTES:
        raise SecretKeyError(f"{path}: key file holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}; "
                             f"restore it from your backup ({kind.if_lost})")
    return key
