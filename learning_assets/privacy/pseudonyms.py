"""Keyed pseudonyms: HMAC-SHA256 under a per-installation secret key.

A plain or fixed-salt hash of `task-0001` can be reversed by hashing guesses; an HMAC cannot without
the key, and two installations with different keys produce unlinkable pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from learning_assets.privacy.vocabulary import PSEUDONYM_KINDS

MIN_KEY_BYTES = 32
PROJECT_PSEUDONYM = re.compile(r"^project_[0-9a-f]{16}$")


class Pseudonymizer:
    """Maps (kind, value) to `<kind>_<16 hex>`; stable for one key, memoized per value."""

    def __init__(self, key: bytes):
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"anonymization key must be at least {MIN_KEY_BYTES} bytes")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)  # keyed once; each value hashes a copy
        self._cache: dict[tuple[str, str], str] = {}
        self._issued: set[str] = set()

    def __call__(self, kind: str, value: str) -> str:
        if kind not in PSEUDONYM_KINDS:
            raise ValueError(f"unknown pseudonym kind {kind!r}")
        token = self._cache.get((kind, value))
        if token is None:
            mac = self._mac.copy()
            mac.update(f"{kind}\x00{value}".encode())
            token = self._cache[(kind, value)] = f"{kind}_{mac.hexdigest()[:16]}"
            self._issued.add(token)
        return token

    def issued(self, token: str) -> bool:
        """Whether this pseudonymizer made `token`: text shaped like a pseudonym is otherwise not one."""
        return token in self._issued
