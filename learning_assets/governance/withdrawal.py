"""Leaving the pool: the installation's withdrawal secret, the commitment a submission carries, the request.

Each submission's secret is HMAC-SHA256(withdrawal key, project, export id), under a key that only this
installation keeps (`<instance home>/learning/withdrawal.key`, mode 0600, beside the anonymization key).
The package carries only `withdrawal_commitment = SHA-256(DOMAIN, project, secret)`. A withdrawal request
reveals the secrets of the project's submissions; the receiver erases the project only if one of them,
hashed with the project the request names, equals the commitment of the project's pooled submission.

Why a request erases nobody else: the project is inside the hash, so a request edited to name another
project or another commitment no longer verifies; each secret belongs to one submission, so replaying
a spent request cannot erase a later resubmission (its commitment is new); and the receiver refuses to
pool again a submission whose commitment was withdrawn. Only hashes reach the receiver's records.

This module alone knows how withdrawal secrets are made, so that they can later be derived from the
per-installation signing key of issue #21 instead of a key of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path

from learning_assets.exportfiles.atomic import new_export_id, write_atomic
from learning_assets.governance.consent import now_iso
from learning_assets.privacy.keyfile import SecretFile, load_or_create_key

# what the receiver pools a submission under: an installation's fingerprint (signed) or a project pseudonym
POOLED_UNIT = re.compile(r"^(?:installation|project)_[0-9a-f]{16}$")

FORMAT = "learning-export-withdrawal"
FORMAT_VERSION = 1
PREFIX = "learning-withdrawal-"
SUFFIX = ".json"
KEY_FILE = "withdrawal.key"
MAX_REQUEST_BYTES = 256 * 1024
MAX_PROOFS = 1000
DOMAIN = b"learning-export withdrawal commitment v1\x00"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
WITHDRAWAL_KEY = SecretFile("withdrawal key", "deleting it makes a new key, and submissions made before can no "
                                              "longer be withdrawn by request")


class InvalidRequest(ValueError):
    """A withdrawal request that is not well formed; the message never quotes its values."""


@dataclass(frozen=True)
class Request:
    project: str
    proofs: tuple[tuple[str, bytes], ...]  # (commitment, secret)


def _key(home: Path) -> bytes:
    return load_or_create_key(Path(home) / KEY_FILE, WITHDRAWAL_KEY)


def _secret(key: bytes, project: str, export_id: str) -> bytes:
    return hmac.new(key, f"submission\x00{project}\x00{export_id}".encode(), hashlib.sha256).digest()


def commitment_of(project: str, secret: bytes) -> str:
    return hashlib.sha256(DOMAIN + project.encode() + b"\x00" + secret).hexdigest()


def submission_commitment(home: Path, project: str, export_id: str) -> str:
    """The withdrawal commitment of a submission of export `export_id` (`home`: the instance's learning dir)."""
    return commitment_of(project, _secret(_key(home), project, export_id))


def write_request(home: Path, project: str, export_ids: list[str], directory: Path) -> Path:
    """Write a request proving the secrets of the given submissions into `directory` (mode 0600)."""
    key = _key(home)
    proofs = []
    for export_id in sorted(set(export_ids)):
        secret = _secret(key, project, export_id)
        proofs.append({"commitment": commitment_of(project, secret), "secret": secret.hex()})
    request = {"format": FORMAT, "format_version": FORMAT_VERSION, "project": project, "requested_at": now_iso(),
               "proofs": proofs}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{PREFIX}{new_export_id()}{SUFFIX}"
    write_atomic(path, json.dumps(request, indent=1).encode(), mode=0o600)
    return path


def parse_request(data: bytes) -> Request:
    """A request's project and proofs; raises InvalidRequest."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidRequest("not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
        raise InvalidRequest(f"not a {FORMAT} of version {FORMAT_VERSION}")
    project, proofs = doc.get("project"), doc.get("proofs")
    if not isinstance(project, str) or not POOLED_UNIT.match(project):
        raise InvalidRequest("project is neither a project pseudonym nor an installation's fingerprint")
    if not isinstance(proofs, list) or not 0 < len(proofs) <= MAX_PROOFS:
        raise InvalidRequest(f"needs 1 to {MAX_PROOFS} proofs")
    parsed = []
    for proof in proofs:
        if not isinstance(proof, dict) or not all(isinstance(proof.get(k), str) and HEX64.match(proof[k])
                                                  for k in ("commitment", "secret")):
            raise InvalidRequest("a proof is not a pair of 64 hex digits (commitment, secret)")
        parsed.append((proof["commitment"], bytes.fromhex(proof["secret"])))
    return Request(project=project, proofs=tuple(parsed))


def proves(request: Request, commitment: str) -> bool:
    """Whether the request reveals the secret behind `commitment`, for the project it names."""
    return any(hmac.compare_digest(c, commitment) and hmac.compare_digest(commitment_of(request.project, s), commitment)
               for c, s in request.proofs)
