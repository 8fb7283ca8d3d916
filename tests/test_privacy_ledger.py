"""The privacy ledger fails closed: concurrent releases, crashes and corrupt lines never understate the total."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest
from dagster import materialize

from learning_assets.defs.insights.assets import shared_insights
from learning_assets.insights.ledger import LEDGER, Budget, BudgetExceeded, Ledger, LedgerError
from resources.shared_insights import InsightsStore

CAP = Budget(10.0, 1e-5)


def test_two_concurrent_releases_cannot_exceed_the_cap(tmp_path):
    ledger = Ledger(tmp_path / LEDGER)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def release():
        start.wait()
        try:
            with ledger.spend(f"r{threading.get_ident()}", Budget(6.0, 1e-6), CAP) as reservation:
                time.sleep(0.3)  # computing while the other release tries to reserve
                reservation.spent = Budget(5.9, 1e-6)
            outcomes.append("released")
        except BudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=release) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "released"]
    assert ledger.total() == Budget(5.9, 1e-6)


def _crash_after_publishing(path):
    with Ledger(path).spend("crashed", Budget(4.0, 1e-6), CAP):
        (path.parent / "published").write_text("release")  # the release is out
        os._exit(9)  # killed before the commit


def test_a_crash_between_compute_and_commit_leaves_the_release_accounted(tmp_path):
    path = tmp_path / LEDGER
    child = multiprocessing.get_context("fork").Process(target=_crash_after_publishing, args=(path,))
    child.start()
    child.join()
    assert child.exitcode == 9 and (tmp_path / "published").exists()
    ledger = Ledger(path)
    assert ledger.total() == Budget(4.0, 1e-6)  # the reservation counts at its full amount
    with pytest.raises(BudgetExceeded):
        with ledger.spend("next", Budget(6.5), CAP):
            pass
    with ledger.spend("next", Budget(6.0), CAP) as reservation:  # the lock went with the dead process
        assert reservation.lifetime == Budget(10.0, 1e-6)
    # an exception inside the release leaves its reservation counted as well
    with pytest.raises(RuntimeError), Ledger(tmp_path / "other.jsonl").spend("x", Budget(1.0), CAP):
        raise RuntimeError("publishing failed")
    assert Ledger(tmp_path / "other.jsonl").total() == Budget(1.0)


@pytest.mark.parametrize("line", [b"not json", b'{"event": "commit", "release_id": "a", "epsilon": -1, "delta": 0}',
                                  b'{"release_id": "a", "epsilon_spent": 4.0}', b"[]", b'{"event": "commit"}'])
def test_a_corrupt_ledger_refuses_every_release(tmp_path, line):
    path = tmp_path / LEDGER
    ledger = Ledger(path)
    with ledger.spend("a", Budget(1.0), CAP):
        pass
    with path.open("ab") as fh:
        fh.write(line + b"\n")
    with pytest.raises(LedgerError, match=r"line 3 is not a ledger record; every release is refused"):
        with ledger.spend("b", Budget(1.0), CAP):
            pass
    assert path.read_bytes().count(b"\n") == 3  # nothing was reserved


def test_the_release_asset_refuses_with_one_line_when_the_ledger_is_corrupt(tmp_path, instance):
    store = InsightsStore(path=str(tmp_path / "store"))
    store.dir()
    (store.root() / LEDGER).write_text("{truncated\n")
    result = materialize([shared_insights], instance=instance, resources={"insights_store": store},
                         raise_on_error=False)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "privacy_ledger.jsonl: line 1 is not a ledger record; every release is refused" in message
    assert "\n" not in message.strip().removeprefix("dagster._core.definitions.events.Failure: ")
    assert not (store.root() / "releases").exists()
