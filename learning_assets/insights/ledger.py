"""The privacy ledger: what every release spent, as (epsilon, delta), and the instance's lifetime cap.

It fails closed. A release checks the cap, writes a reservation, computes and publishes, and then
commits what it spent, all under the ledger's lock, so two concurrent releases cannot both pass the
cap. A reservation without its commit (the process died after publishing, or before) counts at the
reserved amount, so a crash never leaves a published release unaccounted. A line that cannot be read
stops every release: skipping it would lower the recorded total.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from learning_assets.governance.consent import now_iso
from learning_assets.insights.locks import exclusive

LEDGER = "privacy_ledger.jsonl"
EVENTS = ("reserve", "commit")


class LedgerError(RuntimeError):
    """The ledger cannot be read; no release may run until it is repaired."""


class BudgetExceeded(RuntimeError):
    """The release would take the lifetime total over the instance's cap."""


@dataclass(frozen=True)
class Budget:
    """Privacy loss under basic composition: epsilons add up, and so do deltas."""

    epsilon: float
    delta: float = 0.0

    def __add__(self, other: Budget) -> Budget:
        return Budget(self.epsilon + other.epsilon, self.delta + other.delta)

    def within(self, cap: Budget) -> bool:
        return self.epsilon <= cap.epsilon * (1 + 1e-9) and self.delta <= cap.delta * (1 + 1e-9)


@dataclass
class Reservation:
    """A release in progress; set `spent` (at most `reserved`) before the commit."""

    release_id: str
    reserved: Budget
    lifetime: Budget  # every release so far, this one at its reserved amount
    spent: Budget | None = None


class Ledger:
    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_name(f".{path.name}.lock")

    def _records(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for n, line in enumerate(self.path.read_bytes().splitlines(), start=1):
            try:
                record = json.loads(line)
                ok = (isinstance(record, dict) and record.get("event") in EVENTS
                      and isinstance(record.get("release_id"), str)
                      and all(isinstance(record.get(f), (int, float)) and math.isfinite(record[f])
                              and record[f] >= 0 for f in ("epsilon", "delta")))
            except ValueError:
                ok = False
            if not ok:
                raise LedgerError(f"{self.path}: line {n} is not a ledger record; every release is refused "
                                  "until the line is restored from a backup (deleting it would understate "
                                  "what was spent)")
            out.append(record)
        return out

    def total(self) -> Budget:
        """What all releases spent: the commit of each, else its reservation."""
        per: dict[str, Budget] = {}
        for r in self._records():
            if r["event"] == "commit" or r["release_id"] not in per:
                per[r["release_id"]] = Budget(float(r["epsilon"]), float(r["delta"]))
        return sum(per.values(), Budget(0.0, 0.0))

    def _append(self, record: dict) -> None:
        line = json.dumps({"at": now_iso(), **record}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def spend(self, release_id: str, budget: Budget, cap: Budget) -> Iterator[Reservation]:
        """Check the cap and reserve `budget`; the caller computes and publishes; then commit.

        The lock is held throughout. An exception inside leaves the reservation counted.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(self.lock_path):
            after = self.total() + budget
            if not after.within(cap):
                raise BudgetExceeded(
                    f"a release of epsilon {budget.epsilon:g}, delta {budget.delta:g} would bring the lifetime "
                    f"total to epsilon {after.epsilon:g}, delta {after.delta:g}, over the instance's cap "
                    f"(epsilon {cap.epsilon:g}, delta {cap.delta:g})")
            self._append({"event": "reserve", "release_id": release_id, "epsilon": budget.epsilon,
                          "delta": budget.delta})
            reservation = Reservation(release_id, budget, after)
            yield reservation
            spent = reservation.spent or budget
            if not spent.within(budget):
                raise RuntimeError(f"release {release_id} spent more than it reserved; its reservation stands")
            self._append({"event": "commit", "release_id": release_id, "epsilon": spent.epsilon,
                          "delta": spent.delta})
