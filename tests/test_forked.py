"""The forked child that takes a share of a step's work: its value, its failures, and the same export either way."""

from __future__ import annotations

import os
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from learning_assets.forked import (
    ENV,
    MAX_ROWS,
    MAX_SOURCE_BYTES,
    Forked,
    may_fork,
    processes,
    split_work,
)
from learning_assets.sources.readers import source_bytes
from learning_assets.tables import TABLE_NAMES
from tests.conftest import run_pipeline

PARENT = os.getpid()


def test_the_value_is_computed_in_the_child(monkeypatch):
    monkeypatch.setenv(ENV, "2")
    frame = pd.DataFrame({"a": range(100_000), "b": ["x"] * 100_000})
    job = Forked(lambda: (os.getpid(), frame.assign(c=frame["a"] * 2)), fork=True)
    pid, out = job.result()
    assert job.in_child and pid != PARENT
    assert out["c"].sum() == 2 * frame["a"].sum()


@pytest.mark.parametrize("fail", ["raise", "exit", "kill"])
def test_a_failed_child_leaves_the_work_to_the_parent(monkeypatch, fail):
    monkeypatch.setenv(ENV, "2")

    def work():
        if os.getpid() != PARENT:
            if fail == "raise":
                raise RuntimeError("only in the child")
            if fail == "exit":
                os._exit(3)
            os.kill(os.getpid(), 9)
        return "done here"

    job = Forked(work, fork=True)
    assert job.result() == "done here" and not job.in_child


def test_a_stuck_child_is_killed_and_its_share_done_here(monkeypatch):
    monkeypatch.setenv(ENV, "2")

    def work():
        if os.getpid() != PARENT:
            time.sleep(600)
        return "done here"

    started = time.monotonic()
    job = Forked(work, fork=True, patience=0.5)
    assert job.result() == "done here" and not job.in_child
    assert time.monotonic() - started < 30


def test_an_error_of_the_work_itself_reaches_the_caller(monkeypatch):
    monkeypatch.setenv(ENV, "2")
    job = Forked(lambda: 1 / 0, fork=True)
    with pytest.raises(ZeroDivisionError):
        job.result()


def test_one_process_or_too_much_data_means_no_fork(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, "2")
    assert may_fork(rows=MAX_ROWS, source_bytes=MAX_SOURCE_BYTES)
    assert not may_fork(rows=MAX_ROWS + 1) and not may_fork(source_bytes=MAX_SOURCE_BYTES + 1)
    assert Forked(os.getpid, fork=True).result() != PARENT
    assert Forked(os.getpid, fork=False).result() == PARENT
    monkeypatch.setenv(ENV, "1")
    assert not may_fork()
    monkeypatch.setenv(ENV, "two")
    with pytest.raises(ValueError, match=ENV):
        processes()


def test_work_is_split_in_two_shares_of_about_equal_cost():
    costs = {"a": 9.0, "b": 1.0, "c": 4.0, "d": 4.0, "e": 2.5, "f": 0.5}
    theirs, ours = split_work(costs, costs.get)
    assert theirs and ours and sorted(theirs + ours) == sorted(costs)
    assert abs(sum(map(costs.get, theirs)) - sum(map(costs.get, ours))) <= max(costs.values())
    assert split_work(["x"], lambda _: 1.0) == (["x"], []) and split_work([], len) == ([], [])


def test_source_bytes_counts_regular_files_only(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jsonl").write_bytes(b"1" * 300)
    (tmp_path / "y.json").write_bytes(b"2" * 20)
    (tmp_path / "link").symlink_to(tmp_path / "a" / "x.jsonl")
    assert source_bytes(tmp_path) == 320


def _tables(export_root):
    (export,) = (export_root / "exports").iterdir()
    return {t: pq.read_table(export / "tables" / f"{t}.parquet") for t in TABLE_NAMES}


def _accounts(result) -> dict:
    """Per table: what the raw and anonymized steps report of it (its time and storage path aside)."""
    out = {}
    for node in ("raw_tables", "anonymized_tables"):
        for m in result.asset_materializations_for_node(node):
            out[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()
                                                  if k not in ("seconds", "path")}
    return out


def test_the_export_is_the_same_with_one_process_or_two(tiny_source, tmp_path, instance, monkeypatch):
    tables, accounts = {}, {}
    for n in ("1", "2"):
        monkeypatch.setenv(ENV, n)
        result = run_pipeline(tiny_source.root, tmp_path / f"export{n}", instance, k=2)
        assert result.success
        tables[n], accounts[n] = _tables(tmp_path / f"export{n}"), _accounts(result)
    assert len(accounts["2"]) == 2 * len(TABLE_NAMES)
    assert accounts["1"] == accounts["2"]
    assert any(a.get("anonymization_stats") for a in accounts["2"].values())
    for table in TABLE_NAMES:
        assert tables["1"][table].equals(tables["2"][table]), table

