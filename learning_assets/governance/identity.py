"""The installation's signing identity: an Ed25519 key that signs its submission packages.

The receiver counts an installation by its key's fingerprint instead of the project pseudonym a
package declares, so every export one installation submits (a framework 1.0 export migrated under
the receiver's key, a 1.1 export, exports before and after the anonymization key was rotated) is
one privacy unit. Keys cost nothing to make, so this de-duplicates honest installations; it does not
stop someone from posing as many (docs/privacy.md, "Shared insights").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from learning_assets.privacy.keyfile import SecretFile, SecretKeyError, load_or_create_key

SIGNING_KEY = "signing.key"
ALGORITHM = "Ed25519"
FINGERPRINT = "installation_"


class BadSignature(ValueError):
    """A package's signature does not verify."""


SIGNING_KEY_FILE = SecretFile("signing key", "deleting it makes a new installation to the receiver, whose "
                                              "submissions count apart from this one's")


def signing_key(home: Path) -> Ed25519PrivateKey:
    """The installation's key in `home/signing.key` (a 32-byte seed as hex, mode 0600), created on first use."""
    path = Path(home) / SIGNING_KEY
    seed = load_or_create_key(path, SIGNING_KEY_FILE)
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed.decode()))
    except ValueError:
        raise SecretKeyError(f"{path}: not a signing key (64 hex digits); restore it from your backup") from None


def fingerprint(public_key: bytes) -> str:
    """The receiver's privacy unit: `installation_<16 hex>` of the raw public key."""
    return FINGERPRINT + hashlib.sha256(public_key).hexdigest()[:16]


def installation(key: Ed25519PrivateKey) -> str:
    """The fingerprint the receiver pools this installation's signed packages under."""
    return fingerprint(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _message(export_id: str, files: list[dict]) -> bytes:
    """What is signed: the export id and every file's path and SHA-256 (which the receiver checks)."""
    listed = sorted((str(f["path"]), str(f["sha256"])) for f in files)
    return json.dumps({"algorithm": ALGORITHM, "export_id": export_id, "files": listed},
                      separators=(",", ":")).encode()


def sign(key: Ed25519PrivateKey, export_id: str, files: list[dict]) -> dict:
    """The `installation` entry of SUBMISSION.json."""
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"algorithm": ALGORITHM, "public_key": public.hex(), "fingerprint": installation(key),
            "signature": key.sign(_message(export_id, files)).hex()}


def verify(entry: dict, export_id: str, files: list[dict]) -> str:
    """The fingerprint of a valid `installation` entry; raises BadSignature."""
    try:
        public = bytes.fromhex(entry["public_key"])
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(entry["signature"]),
                                                          _message(export_id, files))
    except (KeyError, TypeError, ValueError, InvalidSignature):
        raise BadSignature("the package's signature does not verify") from None
    return fingerprint(public)
