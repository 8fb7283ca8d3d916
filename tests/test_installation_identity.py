"""The receiver's privacy unit is the installation's signing key: one installation counts once."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from learning_assets.definitions import build_resources
from learning_assets.governance.identity import sign, signing_key
from learning_assets.governance.submit import build_package
from learning_assets.insights import pool
from learning_assets.insights.intake import commit, receive, scan_inbox
from learning_assets.privacy.keyfile import SecretKeyError
from resources.shared_insights import InsightsStore, SubmissionInbox
from tests import insights_synth as synth


def _pool(tmp_path: Path, packages: list[Path], require_signature: bool = True) -> tuple[InsightsStore, list[dict]]:
    inbox = SubmissionInbox(path=str(tmp_path / "inbox"), settle_seconds=0)
    store = InsightsStore(path=str(tmp_path / "store"), require_signature=require_signature)
    inbox.root().mkdir(parents=True)
    for i, package in enumerate(packages):
        shutil.copy(package, inbox.root() / f"{i}-{package.name}")
    verdicts = []
    for key, _ in scan_inbox(inbox, store, None, set()).new:
        verdict = receive(key, inbox, store)
        verdicts.append(commit(key, store) if verdict["status"] == "verified" else verdict)
    return store, verdicts


def _two_exports(tmp_path: Path, key) -> list[Path]:
    """A framework 1.0 export and, a week later, this project's 1.1 export, packaged by one installation."""
    old = build_package(synth.framework_1_0_export(tmp_path / "old"), tmp_path / "old", tmp_path / "home", key).path
    new_dir = synth.write_package(tmp_path / "new", synth.project_tables(1), synth.project_hash(1),
                                  synth.export_id(1, synth.base_time()), synth.base_time()).parent.parent
    new = build_package(next((new_dir / "exports").iterdir()), tmp_path / "new-signed", tmp_path / "home", key).path
    return [old, new]


def test_one_installation_submitting_a_1_0_and_a_1_1_export_counts_once(tmp_path):
    key = signing_key(tmp_path / "home")
    store, verdicts = _pool(tmp_path / "signed", _two_exports(tmp_path, key))
    assert [v["status"] for v in verdicts] == ["accepted", "accepted"]
    assert verdicts[0]["project"] == verdicts[1]["project"] and verdicts[0]["project"].startswith("installation_")
    assert verdicts[1]["replaced"] == verdicts[0]["submission"]  # the newer export replaced the older one
    pooled = pool.read_pooled(store.root(), ("capabilities",))["capabilities"]
    assert set(pooled["project"]) == {verdicts[0]["project"]}
    # the same key again from the instance home; unsigned, the two exports were two projects
    assert signing_key(tmp_path / "home").private_bytes_raw() == key.private_bytes_raw()
    _, unsigned = _pool(tmp_path / "unsigned", _two_exports(tmp_path / "u", None), require_signature=False)
    assert len({v["project"] for v in unsigned}) == 2


def test_a_receiver_that_requires_signatures_rejects_unsigned_packages_with_one_line(tmp_path):
    """The default: unsigned packages (a 1.0 and a 1.1 export) are rejected and logged like any rejection;
    `learning submit` signs both kinds, so the same exports signed are pooled."""
    store, verdicts = _pool(tmp_path / "strict", _two_exports(tmp_path / "u", None))
    assert InsightsStore().require_signature
    assert [(v["status"], v["code"]) for v in verdicts] == [("rejected", "unsigned")] * 2
    assert all("\n" not in v["reason"] and "not signed" in v["reason"] for v in verdicts)
    logged = store.read_log("rejections.jsonl")
    assert [r["code"] for r in logged] == ["unsigned", "unsigned"]
    assert not pool.read_pooled(store.root(), ("capabilities",))["capabilities"].size
    _, signed = _pool(tmp_path / "signed", _two_exports(tmp_path / "s", signing_key(tmp_path / "home")))
    assert [v["status"] for v in signed] == ["accepted", "accepted"]


@pytest.mark.parametrize("value, required", [(None, True), ("0", False), ("false", False), ("1", True)])
def test_the_instance_sets_whether_the_receiver_requires_signatures(monkeypatch, value, required):
    if value is None:
        monkeypatch.delenv("LEARNING_REQUIRE_SIGNATURE", raising=False)
    else:
        monkeypatch.setenv("LEARNING_REQUIRE_SIGNATURE", value)
    assert build_resources()["insights_store"].require_signature is required


def test_a_package_signed_by_another_key_than_it_names_is_rejected(tmp_path):
    """SUBMISSION.json names another installation's public key (checksums made to match): refused."""
    package = _two_exports(tmp_path, signing_key(tmp_path / "home"))[1]
    with tarfile.open(package, "r:gz") as tar:
        name = next(m.name for m in tar.getmembers() if m.name.endswith("/SUBMISSION.json"))
        description = json.loads(tar.extractfile(name).read())
    description["installation"]["public_key"] = sign(signing_key(tmp_path / "other"), "x", [])["public_key"]
    submission = json.dumps(description).encode()

    def forge(member: str, data: bytes) -> bytes:
        if member == name:
            return submission
        if member.endswith("/checksums.sha256"):
            lines = [f"{hashlib.sha256(submission).hexdigest()}  SUBMISSION.json" if line.endswith(
                "  SUBMISSION.json") else line for line in data.decode().splitlines()]
            return ("\n".join(lines) + "\n").encode()
        return data

    forged = tmp_path / "forged.tar.gz"
    forged.write_bytes(synth.repack(package, forge))
    _, (verdict,) = _pool(tmp_path / "store", [forged])
    assert (verdict["status"], verdict["code"]) == ("rejected", "signature")


def test_a_signing_key_readable_by_others_is_refused(tmp_path):
    signing_key(tmp_path)
    (tmp_path / "signing.key").chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        signing_key(tmp_path)
    assert stat.S_IMODE((tmp_path / "signing.key").stat().st_mode) == 0o644
