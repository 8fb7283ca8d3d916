"""The `learning` CLI through its real entry point: subprocesses with DAGSTER_HOME and dirs in tmp_path.

Few and fast: one successful export (the whole journey: consent, export with a window and a format,
audit, dashboard, submit, revoke), one export that runs out of disk, and error paths that stop before
Dagster starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from learning_assets.governance.consent import current_user
from tests.conftest import learning, one_line_error


def test_consent_export_audit_dashboard_submit_revoke(cli, sample_source, tmp_path, monkeypatch):
    source, output = sample_source.root.parent, tmp_path / "out"

    # no consent, no export; the message says how to grant it
    line = one_line_error(cli("export", "--source", source, "--output", output), "no consent")
    assert f"learning consent grant --source {sample_source.root.resolve()}" in line
    assert not (output / "exports").exists()

    cli("consent", "grant", "--source", source, check=0)
    status = json.loads(cli("consent", "status", "--json", check=0).stdout)
    assert status[str(sample_source.root.resolve())]["granted"] is True

    proc = cli("export", "--source", source, "--output", output, "--since", "2026-03-02", "--until", "2026-03-04",
               "--format", "parquet", check=0)
    export_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert export_dir.parent == output.resolve() / "exports" and export_dir.is_dir()
    # live progress per asset, then the summary
    assert "raw/agent_executions" in proc.stderr and "no_sensitive_values on learning_export passed" in proc.stderr
    assert re.search(r"checks passed (\d+)/\1\b", proc.stderr) and "Traceback" not in proc.stderr
    # --format parquet: tables only; the window applies to the time-based tables
    assert not list(export_dir.glob("learning_export.json*"))
    agents = pq.read_table(export_dir / "tables" / "agent_executions.parquet").to_pandas()
    days = set(agents["timestamp"].dt.strftime("%Y-%m-%d"))
    assert days and days <= {"2026-03-02", "2026-03-03", "2026-03-04"}
    for table in ("workflow_executions", "task_memories", "code_outcomes", "capability_refinements"):
        ts = pq.read_table(export_dir / "tables" / f"{table}.parquet").to_pandas()["timestamp"]
        assert ts.isna().sum() == 0 and (ts.dt.strftime("%Y-%m-%d") <= "2026-03-04").all()
        assert (ts.dt.strftime("%Y-%m-%d") >= "2026-03-02").all()
    assert pq.read_table(export_dir / "tables" / "capabilities.parquet").num_rows > 0  # not time-based

    # the audit trail: options, schema version, every file with its SHA-256, checks, run id
    entries = json.loads(cli("audit", "--json", check=0).stdout)
    exports = [e for e in entries if e["event"] == "export"]
    assert [e["event"] for e in entries] == ["consent_grant", "export"] and len(exports) == 1
    entry = exports[0]
    assert entry["options"] == {"parquet": True, "json_document": False, "compress_json": False,
                                "since": "2026-03-02", "until": "2026-03-04"}
    assert entry["schema_version"] == "1.1" and entry["export_id"] == export_dir.name and entry["run_id"]
    assert {"manifest_intact", "no_sensitive_values"} <= {c["check"] for c in entry["checks"]}
    assert entry["checks_passed"] is True
    for f in entry["files"]:
        assert hashlib.sha256((export_dir / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert "export" in cli("audit", check=0).stdout

    # the dashboard: terminal, HTML (self-contained), and the same content as asset metadata
    text = cli("dashboard", "--output", output, check=0).stdout
    assert "Capabilities" in text and "Top patterns" in text and "Agent executions per day" in text
    report = tmp_path / "report.html"
    cli("dashboard", "--output", output, "--html", report, check=0)
    html = report.read_text()
    assert html.count("<svg") >= 3 and "2026-03-03" in html
    assert "<script" not in html and "<link" not in html and "src=" not in html and "url(" not in html
    assert "://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no network, no CDN
    assert oct(report.stat().st_mode & 0o777) == "0o600" and "never part of an export" in html
    # the learning_dashboard asset (its own job, refreshed by its automation sensor, no step of the export
    # job) writes to the instance home, never into the export directory
    assert not (output / "dashboard.html").exists()
    from dagster import AssetKey, DagsterInstance

    from learning_assets.definitions import build_definitions

    monkeypatch.setenv("DAGSTER_HOME", str(cli.home))  # the instance's dagster.yaml reads it
    with DagsterInstance.from_config(str(cli.home)) as instance:
        job = build_definitions(source=str(source), output=str(output)).resolve_job_def("dashboard_job")
        assert job.execute_in_process(instance=instance).success
        assert oct((cli.home / "learning" / "dashboard.html").stat().st_mode & 0o777) == "0o600"
        assert not (output / "dashboard.html").exists()
        meta = instance.get_latest_materialization_event(AssetKey("learning_dashboard")).asset_materialization.metadata
        messages = [record.event_log_entry for run in instance.get_runs()
                    for record in instance.get_records_for_run(run.run_id).records
                    if record.event_log_entry.dagster_event is None]
    levels = {message.level for message in messages}
    assert logging.INFO in levels and logging.DEBUG not in levels  # dagster.yaml: python_log_level INFO
    assert {"capabilities", "top_patterns", "agents_per_day", "html_report"} <= set(meta)
    assert "|" in meta["agents_per_day"].value and "2026-03-03" in meta["agents_per_day"].value

    # submit: a summary first; without an answer (or `--yes`) nothing is packaged
    refused = cli("submit", "--output", output)
    assert "tables/agent_executions.parquet" in refused.stdout and "ids_pseudonymized" in refused.stdout
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: not confirmed; nothing was packaged")
    assert not (output / "submissions").exists()
    # with --yes: a tar.gz with manifest, checksums and the anonymization report, listed exactly
    proc = cli("submit", "--output", output, "--yes", check=0)
    package = Path(proc.stdout.strip().splitlines()[-1])
    assert package.parent == output.resolve() / "submissions" and package.name.endswith(".tar.gz")
    with tarfile.open(package) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        names = {m.name.split("/", 1)[1] for m in members}
        assert {"SUBMISSION.json", "manifest.json", "checksums.sha256", "anonymization_report.json",
                "export_metadata.json", "tables/agent_executions.parquet"} <= names
        assert all(m.uname == "" and m.gname == "" and m.uid == 0 and m.gid == 0 for m in tar.getmembers())
        top = members[0].name.split("/", 1)[0]
        data = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in members}
    for line in data["checksums.sha256"].decode().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(data[name]).hexdigest() == digest
    for name in names:  # every member is printed, with its checksum
        assert f"{name} " in proc.stdout and hashlib.sha256(data[name]).hexdigest() in proc.stdout
    assert top in proc.stdout
    assert current_user().encode() not in b"".join(data.values())  # who packaged it stays local
    # signed by the installation's key: the receiver counts the installation once, whatever it exports
    assert json.loads(data["SUBMISSION.json"])["installation"]["fingerprint"].startswith("installation_")
    # unpacked, the package validates cleanly (--format parquet: no document, no schema version to show), and
    # so does its SUBMISSION.json on its own
    with tarfile.open(package) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    for path in (tmp_path / "unpacked" / top, tmp_path / "unpacked" / top / "SUBMISSION.json"):
        code, out, err = learning("validate", path)
        assert code == 0 and out == "" and err.strip() == f"{path}: valid", (out, err)

    package_sha256 = hashlib.sha256(package.read_bytes()).hexdigest()
    assert package_sha256 in proc.stdout

    # revoking: pending packages deleted, exports refused again
    proc = cli("consent", "revoke", "--source", source, check=0)
    assert not package.exists() and str(package) in proc.stderr
    assert json.loads(cli("consent", "status", "--json", check=0).stdout)[str(sample_source.root.resolve())][
        "granted"] is False
    one_line_error(cli("export", "--source", source, "--output", output), "revoked", "learning consent grant")
    one_line_error(cli("submit", "--output", output), "revoked", "nothing was packaged")
    submitted, revoked = json.loads(cli("audit", "--json", check=0).stdout)[-2:]
    assert submitted["event"] == "submission" and submitted["package"] == str(package)
    assert submitted["sha256"] == package_sha256
    assert revoked["event"] == "consent_revoke" and revoked["packages_deleted"] == [str(package)]


def test_errors_are_one_line_and_exit_non_zero(cli, tiny_source, tmp_path, request):
    source = tiny_source.root
    one_line_error(cli("export", "--source", tmp_path / "missing"), "source directory does not exist")
    (tmp_path / "file").write_text("x")
    one_line_error(cli("export", "--source", tmp_path / "file"), "not a directory")
    assert "--format" in one_line_error(cli("export", "--source", source, "--format", "xml"), "xml")
    assert cli("export", "--format", "xml").returncode == 2
    one_line_error(cli("export", "--source", source, "--since", "2026-02-30"), "--since", "YYYY-MM-DD")
    one_line_error(cli("export", "--source", source, "--since", "2026-03-05", "--until", "2026-03-01"), "after")
    one_line_error(cli("export", "--source", source, "--format", "parquet", "--compress"), "--compress")
    one_line_error(cli("export", "--no-such-option"), "No such option")
    one_line_error(cli("dashboard", "--output", tmp_path / "nothing"), "no published export")
    one_line_error(cli("submit", "--output", tmp_path / "nothing"), "no published export")
    # --debug (before or after the command) shows the traceback
    proc = cli("export", "--source", tmp_path / "missing", "--debug")
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "does not exist" in proc.stderr

    # permission errors: root ignores modes, so these calls run without its override capabilities
    request.getfixturevalue("unprivileged_ok")
    locked = tmp_path / "locked" / ".tapps-agents"
    shutil.copytree(source, locked)
    locked.chmod(0)
    try:
        one_line_error(cli("export", "--source", locked.parent, unprivileged=True), "permission denied")
    finally:
        locked.chmod(0o755)
    cli("consent", "grant", "--source", source, check=0)
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        one_line_error(cli("export", "--source", source, "--output", readonly / "export", unprivileged=True),
                       "cannot write to the export directory", "permission denied")
    finally:
        readonly.chmod(0o755)


@pytest.fixture
def full_disk(cli):
    """The instance's storage directory on a 16 kB tmpfs: the run starts, and the first tables it writes
    fill the disk (ENOSPC inside a step, within seconds, unlike filling the export directory at the end)."""
    storage = cli.home / "storage"
    storage.mkdir(parents=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    name = f"learning-test-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", name, str(storage)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield storage
    finally:
        subprocess.run(["umount", str(storage)], check=False)


def test_a_full_disk_is_one_line_and_publishes_nothing(cli, tiny_source, full_disk, tmp_path):
    cli("consent", "grant", "--source", tiny_source.root, check=0)
    output = tmp_path / "out"
    proc = cli("export", "--source", tiny_source.root, "--output", output, "--quiet")
    one_line_error(proc, "failed: no space left on device", "nothing was published", str(output))
    assert not (output / "exports").exists()
    assert not [e for e in json.loads(cli("audit", "--json", check=0).stdout) if e["event"] == "export"]
