"""Keyed pseudonyms: HMAC-SHA256 under a per-installation secret key.

A plain or fixed-salt hash of `task-0001` can be reversed by hashing guesses; an HMAC cannot without
the key, and two installations with different keys produce unlinkable pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from learning_assets.privacy.keyfile import MIN_KEY_BYTES
from learning_assets.privacy.vocabulary import PSEUDONYM_KINDS

PROJECT_PSEUDONYM = re.compile(r"^project_[0-9a-f]{16}$")


class Pseudonymizer:
    """Maps (kind, value) to `<kind>_<16 hex>`; stable for one key, memoized per value."""

    def __init__(self, key: bytes):
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"anonymization key must be at least {MIN_KEY_BYTES} bytes")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)  # keyed once; each value hashes a copy
        self._cache: dict[str, dict[str, str]] = {kind: {} for kind in PSEUDONYM_KINDS}
        self._issued: set[str] = set()

    def __call__(self, kind: str, value: str) -> str:
        token = self._kind(kind).get(value)
        return self._new(kind, value) if token is None else token

    def many(self, kind: str, values: list[str]) -> list[str]:
        """The pseudonym of each of `values`: a column's ids in one call, not one call per id."""
        cache = self._kind(kind)
        for value in dict.fromkeys(values).keys() - cache.keys():
            self._new(kind, value)
        return list(map(cache.__getitem__, values))

    def _kind(self, kind: str) -> dict[str, str]:
        """The pseudonyms of `kind` made so far."""
        cache = self._cache.get(kind)
        if cache is None:
            raise ValueError(f"unknown pseudonym kind {kind!r}")
        return cache

    def _new(self, kind: str, value: str) -> str:
        mac = self._mac.copy()
        mac.update(f"{kind}\x00{value}".encode())
        token = self._cache[kind][value] = f"{kind}_{mac.hexdigest()[:16]}"
        self._issued.add(token)
        return token

    def issued(self, token: str) -> bool:
        """Whether this pseudonymizer made `token`: text shaped like a pseudonym is otherwise not one."""
        return token in self._issued
