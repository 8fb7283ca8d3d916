"""Closing the loop, end to end through the `learning` CLI and real Dagster runs: projects submit, the
operator pools them and makes a release (`learning insights pool --release`), one project withdraws
(`learning withdraw`) and is erased from the pool and from the next release, forged withdrawals change
nothing, and pooled rows past the retention age are purged."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from learning_assets.governance.withdrawal import (
    parse_request,
    proves,
    submission_commitment,
    write_request,
)
from learning_assets.insights import pool
from tests import insights_synth as synth
from tests.conftest import TEST_KEY, learning


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    """DAGSTER_HOME for this installation and the receiver (one instance, as on a single machine), an inbox."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEARNING_ANONYMIZATION_KEY", TEST_KEY)
    monkeypatch.setenv("LEARNING_MAX_LIFETIME_EPSILON", "5000")  # near-noiseless releases: the instance allows them
    monkeypatch.setenv("LEARNING_REQUIRE_SIGNATURE", "0")  # the synthetic projects' packages are unsigned
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return inbox, tmp_path / "state"


def _deliver(path: Path, inbox: Path, name: str | None = None) -> Path:
    """Put a file in the inbox as an upload that finished a minute ago (older than the inbox's settle time)."""
    dest = inbox / (name or path.name)
    shutil.copy(path, dest)
    then = time.time() - 60
    os.utime(dest, (then, then))
    return dest


def _pool(inbox: Path, state: Path, *args) -> tuple[list[str], str]:
    code, stdout, stderr = learning("insights", "pool", "--inbox", inbox, "--state", state, *args)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    return stderr.splitlines(), stdout.strip().splitlines()[-1]


def _synth_projects(tmp_path: Path, inbox: Path, indices) -> None:
    for i in indices:
        created = synth.base_time(i)
        _deliver(synth.write_package(tmp_path / "projects" / str(i), synth.project_tables(i), synth.project_hash(i),
                                     synth.export_id(i, created), created), inbox)


def _pooled_rows(state: Path) -> dict[str, set[str]]:
    """Projects with rows in each pooled Parquet table."""
    return {t: set(df["project"]) for t, df in pool.read_pooled(state).items() if len(df)}


def _store_bytes(*roots: Path) -> bytes:
    return b"".join(p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file())


def test_projects_submit_pool_release_withdraw_and_forgeries_change_nothing(tiny_source, receiver, tmp_path):
    inbox, state = receiver
    _synth_projects(tmp_path, inbox, range(4))  # four other installations
    # one project of this installation: consent, a real export, `learning submit`
    output = tmp_path / "export"
    assert learning("consent", "grant", "--source", tiny_source.root)[0] == 0
    code, _, stderr = learning("export", "--source", tiny_source.root, "--output", output, "--quiet")
    assert code == 0, stderr
    code, stdout, stderr = learning("submit", "--output", output, "--yes")
    assert code == 0, stderr
    package = Path(stdout.strip().splitlines()[-1])
    _deliver(package, inbox)

    # the operator pools the five and releases: every published group has all five projects (k = 5)
    lines, path = _pool(inbox, state, "--release", "--epsilon", "1000")
    assert sum("accepted (project" in line for line in lines) == 5, lines
    first = json.loads(Path(path).read_text())
    assert first["insights"] and all(row["projects"] >= 5 for row in first["insights"])
    # this installation signs its package: the pool holds it under the signing key's fingerprint
    project = next(re.search(r"\(project (installation_[0-9a-f]{16})", line).group(1) for line in lines
                   if "(project installation_" in line)
    assert all(project in projects for projects in _pooled_rows(state).values())

    # `learning withdraw` writes a private request into the export directory's submissions/
    code, stdout, stderr = learning("withdraw", "--output", output)
    assert code == 0, stderr
    request_file = Path(stdout.strip().splitlines()[-1])
    assert request_file.parent == output.resolve() / "submissions"
    assert stat.S_IMODE(request_file.stat().st_mode) == 0o600
    request = json.loads(request_file.read_text())
    assert request["project"] == project and len(request["proofs"]) == 1
    secret = request["proofs"][0]["secret"]

    # forgeries: a wrong secret, and the valid request edited to name another project (and its commitment)
    other = synth.project_hash(0)
    wrong = {**request, "proofs": [{**request["proofs"][0], "secret": secrets.token_hex(32)}]}
    renamed = {**request, "project": other, "proofs": [{
        "commitment": json.loads((state / "projects" / f"{other}.json").read_text())["withdrawal_commitment"],
        "secret": secret}]}
    for name, forged in (("learning-withdrawal-wrong.json", wrong), ("learning-withdrawal-renamed.json", renamed)):
        (tmp_path / name).write_text(json.dumps(forged))
        _deliver(tmp_path / name, inbox)
    pooled_before = _store_bytes(state / "pooled", state / "received", state / "projects")
    lines, _ = _pool(inbox, state)
    refused = [line for line in lines if "refused (wrong_secret)" in line]
    assert len(refused) == 2 and all("nothing was erased" in line for line in refused), lines
    assert _store_bytes(state / "pooled", state / "received", state / "projects") == pooled_before
    assert not (state / "erasures.jsonl").exists()

    # the real request: the project's rows and received copies go, and the next release is made without it
    _deliver(request_file, inbox)
    lines, path = _pool(inbox, state, "--release", "--epsilon", "1000")
    assert any(f"erased project {project}" in line for line in lines), lines
    pooled = _pooled_rows(state)
    assert pooled and all(project not in projects and other in projects for projects in pooled.values())
    assert not (state / "projects" / f"{project}.json").exists() and len(list((state / "received").iterdir())) == 4
    second = json.loads(Path(path).read_text())
    assert second["release_id"] != first["release_id"]
    assert second["insights"] == []  # four projects left: no group reaches k = 5 any more
    ledger = [json.loads(x) for x in (state / "privacy_ledger.jsonl").read_text().splitlines()]
    # both releases accounted (reserved, then committed), and no exact pooled count in the shared ledger
    assert {(e["event"], e["release_id"]) for e in ledger} >= {("commit", first["release_id"]),
                                                               ("commit", second["release_id"])}
    assert all(set(e) <= {"at", "event", "release_id", "epsilon", "delta"} for e in ledger)
    erasure, = [json.loads(x) for x in (state / "erasures.jsonl").read_text().splitlines()]
    assert erasure["event"] == "withdrawn" and erasure["project"] == project
    assert erasure["commitments"] == [request["proofs"][0]["commitment"]]
    # the secret is kept nowhere on the receiving side, nor in the instance's runs and metadata
    assert secret.encode() not in _store_bytes(state, tmp_path / "home")

    # replayed (other bytes, same proofs): the project is no longer pooled, nothing changes
    (tmp_path / "replay.json").write_text(request_file.read_text() + "\n")
    _deliver(tmp_path / "replay.json", inbox, "learning-withdrawal-replay.json")
    lines, _ = _pool(inbox, state)
    assert any("refused (not_pooled)" in line for line in lines), lines


def test_pooled_rows_older_than_the_retention_age_are_purged(receiver, tmp_path):
    inbox, state = receiver
    _synth_projects(tmp_path, inbox, range(2))
    _pool(inbox, state)
    old, kept = synth.project_hash(0), synth.project_hash(1)
    # the time recorded at intake decides; make project 0's a little over the default 365 days ago
    state_file = state / "projects" / f"{old}.json"
    record = json.loads(state_file.read_text())
    assert datetime.fromisoformat(record["received_at"]) > datetime.now(timezone.utc) - timedelta(minutes=10)
    record["received_at"] = (datetime.now(timezone.utc) - timedelta(days=366)).isoformat()
    state_file.write_text(json.dumps(record))

    lines, _ = _pool(inbox, state)
    assert "1 project(s) erased: received longer ago than the retention age" in lines
    assert all(projects == {kept} for projects in _pooled_rows(state).values())
    erasure, = [json.loads(x) for x in (state / "erasures.jsonl").read_text().splitlines()]
    assert erasure["event"] == "expired" and erasure["project"] == old and erasure["retention_days"] == 365


def test_a_withdrawal_proof_binds_the_project_and_the_commitment(tmp_path):
    home, project, other = tmp_path / "learning", synth.project_hash(1), synth.project_hash(2)
    mine, later = submission_commitment(home, project, "e1"), submission_commitment(home, project, "e2")
    path = write_request(home, project, ["e1"], tmp_path / "submissions")
    request = parse_request(path.read_bytes())
    assert proves(request, mine)
    assert not proves(request, later)  # a resubmission's commitment is new: a replay cannot erase it
    assert not proves(request, submission_commitment(home, other, "e1"))
    doc = json.loads(path.read_text())
    theirs = submission_commitment(home, other, "e1")
    renamed = parse_request(json.dumps({**doc, "project": other, "proofs": [
        {**doc["proofs"][0], "commitment": theirs}]}).encode())
    assert not proves(renamed, theirs)  # the hash covers the project
    assert stat.S_IMODE((home / "withdrawal.key").stat().st_mode) == 0o600


def test_withdraw_and_pool_errors_are_one_line(receiver, tmp_path):
    inbox, state = receiver
    for args, words in ((["withdraw", "--output", tmp_path / "none"], "no published export yet"),
                        (["insights", "pool", "--inbox", tmp_path / "nowhere", "--state", state],
                         "inbox directory does not exist")):
        code, _, stderr = learning(*args)
        assert code == 1 and stderr.count("\n") == 1 and stderr.startswith("error: ") and words in stderr, stderr
