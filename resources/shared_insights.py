"""Resources of the receiving side: the inbox that submission packages land in, and the insights store.

The inbox is only read (it may be a shared upload folder); everything the receiver writes goes to the
store: received copies, pooled tables, verdicts, the rejections log, releases and the privacy ledger.
Both are local directories today; the paths are plain strings so an fsspec/UPath location can replace
them later without changing the assets.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

from dagster import ConfigurableResource
from pydantic import Field

from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.governance import withdrawal
from learning_assets.governance.consent import now_iso
from learning_assets.insights.engine import EngineSettings
from learning_assets.insights.ledger import LEDGER, Budget, Ledger
from learning_assets.insights.locks import exclusive
from learning_assets.privacy.keyfile import load_or_create_key

MiB = 1 << 20
PACKAGE_SUFFIXES = (".tar.gz", ".tgz")


class SubmissionInbox(ConfigurableResource):
    """Directory where `learning submit` packages (`learning-submission-*.tar.gz`) and `learning withdraw`
    requests (`learning-withdrawal-*.json`) are dropped.

    Hidden files and names ending in `.part`/`.tmp` are uploads in progress and are ignored; so is a
    package modified less than `settle_seconds` ago. The limits bound what one package may cost to
    unpack: anything over them is rejected without being extracted.
    """

    path: str = Field(default="inbox", description="Directory that receives submission packages.")
    settle_seconds: float = Field(default=10.0, ge=0, description="Ignore packages modified more recently.")
    max_package_bytes: int = Field(default=256 * MiB, gt=0, description="Largest package file accepted.")
    max_member_bytes: int = Field(default=128 * MiB, gt=0, description="Largest single file inside a package.")
    max_total_bytes: int = Field(default=512 * MiB, gt=0, description="Largest unpacked size of a package.")
    max_members: int = Field(default=64, gt=0, description="Most entries one package may hold.")

    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def _files(self, suffixes: tuple[str, ...], prefix: str = "") -> list[Path]:
        """Visible files with one of `suffixes`, by name; never raises (a missing inbox has none)."""
        try:
            entries = sorted(self.root().iterdir())
        except OSError:
            return []
        return [p for p in entries if p.name.endswith(suffixes) and p.name.startswith(prefix)
                and not p.name.startswith(".")]

    def packages(self) -> list[Path]:
        return self._files(PACKAGE_SUFFIXES)

    def withdrawals(self) -> list[Path]:
        return self._files((withdrawal.SUFFIX,), withdrawal.PREFIX)


class InsightsStore(ConfigurableResource):
    """Where the receiver keeps its state (default `./shared_insights`).

    Layout: `received/<submission>.tar.gz` (the copy that was verified), `intake/<submission>/`
    (verified tables waiting to be pooled), `submissions/<submission>.json` (each verdict),
    `projects/<project>.json` (the accepted submission of every project), `pooled/<table>/project=<p>/`
    (cross-project Parquet tables), `rejections.jsonl`, `arrivals.jsonl`, `erasures.jsonl` (withdrawn
    and expired projects), `releases/<id>/`, `releases/LATEST`, `best_practices.json` and
    `privacy_ledger.jsonl`; `spill/` while DuckDB aggregates more than its memory limit holds.
    """

    path: str = Field(default="shared_insights", description="Directory of the receiver's state and releases.")
    min_export_k: int = Field(default=5, ge=1, description="Reject exports made with a smaller k-anonymity k.")
    require_signature: bool = Field(default=True, description="Reject packages no installation signed (`learning "
                                    "submit` signs every package, migrated 1.0 exports included). An unsigned "
                                    "package names its own privacy unit, so one project could count as several.")
    accept_migrated: bool = Field(default=True, description="Accept schema 1.0 documents (migrated to 1.1; "
                                                            "only their capability aggregates are pooled).")
    leak_rescan: bool = Field(default=True, description="Rescan every submitted value for secrets and personal "
                                                        "data; any finding rejects the submission.")
    duckdb_memory_limit: str = Field(default="1GB", description="Memory DuckDB may use to aggregate the pooled "
                                                                "tables (e.g. 1GB, 500MB); beyond it, it spills "
                                                                "to <store>/spill/.")
    duckdb_threads: int = Field(default=2, ge=1, description="Threads DuckDB uses to aggregate the pooled tables.")
    retention_days: int = Field(default=365, ge=1, description="Purge a project's pooled rows this many days "
                                "after its submission was received (the receiver's clock, recorded at intake).")
    max_lifetime_epsilon: float = Field(default=20.0, gt=0, description="Lifetime cap on the epsilon of all "
                                        "releases together (the ledger refuses a release that would pass it).")
    max_lifetime_delta: float = Field(default=1e-5, ge=0, lt=1, description="Lifetime cap on the delta of all "
                                      "releases together.")

    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def ledger(self) -> Ledger:
        return Ledger(self.root() / LEDGER)

    def lifetime_cap(self) -> Budget:
        return Budget(self.max_lifetime_epsilon, self.max_lifetime_delta)

    def engine(self) -> EngineSettings:
        return EngineSettings(memory_limit=self.duckdb_memory_limit, threads=self.duckdb_threads)

    def dir(self, *parts: str) -> Path:
        path = self.root().joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- logs and small state files ---------------------------------------------------------------

    def append(self, name: str, record: dict) -> None:
        """Append one JSON line to a log in the store (one write call, so lines never interleave)."""
        line = json.dumps({"at": now_iso(), **record}, sort_keys=False) + "\n"
        fd = os.open(self.dir() / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def read_log(self, name: str) -> list[dict]:
        path = self.root() / name
        if not path.is_file():
            return []
        out = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def reject(self, submission: str | None, code: str, reason: str, **extra) -> dict:
        record = {"submission": submission, "code": code, "reason": reason, **extra}
        self.append("rejections.jsonl", record)
        return record

    def write_json(self, path: Path, obj) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(obj, indent=1, default=str).encode())

    def read_json(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def arrival(self, submission: str) -> dict | None:
        """The newest arrival record of a submission (which inbox file it came from)."""
        found = [a for a in self.read_log("arrivals.jsonl") if a.get("submission") == submission]
        return found[-1] if found else None

    def migration_key(self) -> bytes:
        """The receiver's own key for re-pseudonymizing schema 1.0 documents (0600 file, made once)."""

        return load_or_create_key(self.root() / "migration.key")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock over the pooled tables and project states (writers and release readers)."""
        with exclusive(self.dir() / ".lock"):
            yield
