"""Anonymization settings: the secret key behind every pseudonym, and k for k-anonymity."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from learning_assets.privacy.keyfile import MIN_KEY_BYTES, SecretKeyError, load_or_create_key


def default_key_file() -> Path:
    home = os.environ.get("DAGSTER_HOME") or os.path.join(Path.home(), ".learning-export")
    return Path(home) / "learning" / "anonymization.key"


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
                raise SecretKeyError(f"LEARNING_ANONYMIZATION_KEY must be at least {MIN_KEY_BYTES} "
                                     f"characters; set a longer secret")
            return self.key.encode()
        return load_or_create_key(Path(self.key_file) if self.key_file else default_key_file())
