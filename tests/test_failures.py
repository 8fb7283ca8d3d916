"""Every failure in the user's words (issue #18), through the `learning` entry point.

Each fault or bad input gives a message that names the file, the table or the field and says what to
do; a command that could not do its job exits non-zero and publishes nothing partial; no output names a
Python exception class or shows a traceback unless `--debug` is given. A corpus of malformed files and
damaged exports goes through `validate`, `migrate`, `dashboard` and `submit`; damaged sources, a bad key,
failed checks and revoked consent go through `export`; unreadable files are tried by a process without
root's power over file modes.

Most calls run in this process (`learning`); four exports run Dagster (a few seconds each, over the tiny
source or none).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import uuid
from pathlib import Path

import pytest
from dagster import DagsterInstance

from learning_assets.defs.export.run import ExportFailed, run_export
from learning_assets.governance.consent import ConsentStore
from tests.conftest import TEST_KEY, learning, one_line_error, tmpfs

CORPUS = Path(__file__).resolve().parent / "bad_input"
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception|Invalid)\b")


def in_words(code: int, out: str, err: str, *, failed: bool = True) -> str:
    """Output that names no exception class and shows no traceback; with `failed`, a non-zero exit."""
    text = out + err
    assert "Traceback" not in text and not CLASS_NAME.search(text), text[-3000:]
    assert (code != 0) == failed, (code, text[-3000:])
    return text


def error_line(code: int, out: str, err: str, *fragments: str) -> str:
    """A command that failed with exactly one `error:` line on stderr, holding `fragments`."""
    in_words(code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- set-up: one instance home, one export of a source with whole files that cannot be used -------------

@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """DAGSTER_HOME (the key from the environment) for this module's in-process `learning` calls."""
    home = tmp_path_factory.mktemp("failures") / "home"
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("LEARNING_")]:
            mp.delenv(name)
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("LEARNING_ANONYMIZATION_KEY", TEST_KEY)
        yield home


def lines_of(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


DAMAGED_RECORDS = [("wrong_types", "learning/outcomes.jsonl"),
                   ("wrong_types", "feedback/feedback_20260301_100000_000000.json"),
                   ("wrong_types", "learned-prompts/eval/eval_20261399_999999.json"),
                   ("timestamps", "analytics/history/workflows-2026-03-01.jsonl")]


def damage(root: Path) -> dict[str, str]:
    """Damage a source: records (files of the bad-input corpus), and whole files that cannot be used;
    returns {file: the words of its warning}."""
    for case, rel in DAMAGED_RECORDS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / case / rel, root / rel)
    memories = json.loads((root / "memory" / "memories.json").read_text())
    (root / "memory" / "memories.json").write_text(json.dumps({f"m{i}": rec for i, rec in enumerate(memories)}))
    patterns, agents = root / "learning" / "patterns.jsonl", root / "analytics" / "history" / "agents-2026-03-01.jsonl"
    expected = {"learning/patterns.jsonl": f"file is UTF-16; the framework writes UTF-8: convert the file to UTF-8; "
                                           f"all {lines_of(patterns)} records dropped",
                agents.relative_to(root).as_posix(): f"file is UTF-32; the framework writes UTF-8: convert the "
                                                     f"file to UTF-8; all {lines_of(agents)} records dropped"}
    patterns.write_bytes(patterns.read_text().encode("utf-16"))  # with a byte-order mark
    agents.write_bytes(agents.read_text().encode("utf-32"))
    confidence = root / "confidence_metrics.json"
    metrics = len(json.loads(confidence.read_text())["metrics"])
    confidence.write_bytes(confidence.read_text().encode("utf-16-le"))  # without one
    (root / "capabilities" / "capabilities.json").write_text("[" * 100_000 + "]" * 100_000)
    return {**expected,
            "memory/memories.json": f"expected a list of task memories under 'memories' or 'tasks', found an object "
                                    f"with {len(memories)} entries; all {len(memories)} records dropped",
            "confidence_metrics.json": f"file is UTF-16; the framework writes UTF-8: convert the file to UTF-8; "
                                       f"all {metrics} records dropped",
            "capabilities/capabilities.json": "invalid JSON: too deeply nested; none of its records were read"}


@pytest.fixture(scope="module")
def damaged_run(home, tiny_source, tmp_path_factory):
    """`learning export` of a source with damaged records and five files that cannot be used: (exit, stdout,
    stderr, the expected warnings, export root)."""
    base = tmp_path_factory.mktemp("lost")
    source = base / "project" / ".tapps-agents"
    shutil.copytree(tiny_source.root, source)
    expected = damage(source)
    assert learning("consent", "grant", "--source", source)[0] == 0
    return (*learning("export", "--source", source, "--output", base / "export"), expected, base / "export")


@pytest.fixture(scope="module")
def published(damaged_run) -> Path:
    code, out, err, _, root = damaged_run
    assert code == 0, err[-3000:]
    return Path(out.strip().splitlines()[-1])


# --- whole files and tables lost ------------------------------------------------------------------------

def test_a_file_left_out_whole_says_which_why_and_how_many_records(damaged_run, published):
    code, out, err, expected, _ = damaged_run
    in_words(code, out, err, failed=False)  # a partial export is still an export
    warnings = [line.strip().removeprefix("! ") for line in err.splitlines() if line.strip().startswith("!")]
    for rel, words in expected.items():
        assert f"{rel}: {words}" in warnings, (rel, warnings)
    for table in ("code_outcomes", "feedback", "workflow_executions"):  # damaged records
        assert any(w.startswith(f"{table}: skipped ") and f"metadata of raw/{table}" in w for w in warnings), table
    report = json.loads((published / "anonymization_report.json").read_text())
    assert sum("records dropped" in w or "none of its records" in w for w in report["warnings"]) == len(expected)


# --- the submission package ---------------------------------------------------------------------------

def test_the_submission_package_validates_and_submission_json_is_known(home, published, tmp_path):
    code, out, err = learning("submit", "--output", published.parent.parent, "--export", published.name, "--yes")
    assert code == 0, err
    with tarfile.open(out.strip().splitlines()[-1]) as tar:
        tar.extractall(tmp_path, filter="data")
    package = next(tmp_path.iterdir())
    # the export warned about lost files: warnings, no errors
    code, out, err = learning("validate", package, "--allow-warnings")
    assert code == 0 and not [line for line in out.splitlines() if line.startswith("error")], out
    assert "valid (schema 1.1)" in err
    code, out, err = learning("validate", package / "SUBMISSION.json")
    assert code == 0 and out == "" and err.strip().endswith("SUBMISSION.json: valid"), (out, err)

    (package / "tables" / "patterns.parquet").write_bytes(b"PAR1")  # a tampered package
    code, out, err = learning("validate", package, "--allow-warnings")
    in_words(code, out, err)
    assert "tables/patterns.parquet: SHA-256 differs from checksums.sha256" in out
    description = json.loads((package / "SUBMISSION.json").read_text())
    (package / "SUBMISSION.json").write_text(json.dumps({**description, "schema_version": 1.1}))
    code, out, err = learning("validate", package / "SUBMISSION.json")
    assert in_words(code, out, err) and "$.schema_version: schema_version is a JSON number (1.1), not text" in out


# --- the corpus: malformed files and damaged exports through validate, migrate, dashboard, submit --------

DOC = {"export_metadata": {"schema_version": "1.0"}}  # a framework export, not a valid one
BAD_JSON = {
    "empty": b"",
    "array": b"[]",
    "object": b"{}",
    "number": b"1",
    "null": b"null",
    "text": b'"x"',
    "truncated": json.dumps(DOC).encode()[:-3],
    "deep_100000": b"[" * 100_000 + b"]" * 100_000,
    "deep_object": b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
    "nested_900": b'{"export_metadata": {"schema_version": "1.1"}, "capability_metrics": ' + b"[" * 900 + b"]" * 900
                  + b"}",
    "nul_bytes": b"\0" * 64,
    "latin1": '{"export_metadata": {"schema_version": "1.1", "note": "café"}}'.encode("latin-1"),
    "utf16": json.dumps(DOC).encode("utf-16"),
    "binary": bytes(range(256)),
    "huge_number": b'{"export_metadata": {"schema_version": ' + b"1" * 5000 + b"}}",
    "version_number": json.dumps({"export_metadata": {"schema_version": 1.1}}).encode(),
    "version_list": json.dumps({"export_metadata": {"schema_version": ["1.1"]}}).encode(),
    "manifest_files_text": json.dumps({"export_id": "x", "files": "all of them"}).encode(),
    "manifest_entries_bad": json.dumps({"export_id": "x", "files": [1, {"path": 2}]}).encode(),
    "submission_bad": json.dumps({"format": "learning-export-submission", "files": {}}).encode(),
}
EXPORT_FILES = ("learning_export.json", "export_metadata.json", "manifest.json", "anonymization_report.json",
                "SUBMISSION.json")


def test_malformed_files_through_validate_and_migrate(tmp_path):
    for name, data in BAD_JSON.items():
        for file in (tmp_path / f"{name}.json", tmp_path / name / "SUBMISSION.json"):
            file.parent.mkdir(exist_ok=True)
            file.write_bytes(data)
            code, out, err = learning("validate", file)
            in_words(code, out, err)
            assert out.startswith(f"error   {file.name}  $"), (name, out)
        code, out, err = learning("migrate", tmp_path / f"{name}.json")
        error_line(code, out, err, str(tmp_path / f"{name}.json"))
    for data, words in [(b"\x1f\x8b\x08\x00", "not a readable gzip file"), (b"not gzip", "not a readable gzip file")]:
        gz = tmp_path / "learning_export.json.gz"
        gz.write_bytes(data)
        assert words in in_words(*learning("validate", gz))
        error_line(*learning("migrate", gz), str(gz), words)

    # the words for some of them
    number = "export_metadata.schema_version is a JSON number (1.1), not text: write the version in quotes"
    checks = {"deep_100000": ["not valid JSON: too deeply nested"] * 2, "latin1": ["not valid UTF-8 text"] * 2,
              "version_number": [number] * 2, "truncated": ["not valid JSON: "] * 2,
              "array": ["not an export file: neither a document", "not an export document: top level is a JSON array"]}
    for name, (validated, migrated) in checks.items():
        assert validated in learning("validate", tmp_path / f"{name}.json")[1], name
        assert migrated in learning("migrate", tmp_path / f"{name}.json")[2], name
    code, out, err = learning("validate", tmp_path / "array" / "SUBMISSION.json")
    assert "expected a JSON object (the description of a submission package), found a JSON array" in out
    # --debug shows the traceback
    code, out, err = learning("migrate", tmp_path / "deep_100000.json", "--debug")
    assert code == 1 and "Traceback" in err


def test_damaged_exports_through_validate(published, tmp_path):
    copy = tmp_path / published.name
    shutil.copytree(published, copy)
    for file in EXPORT_FILES:
        original = (copy / file).read_bytes() if (copy / file).exists() else None
        for name, data in BAD_JSON.items():
            (copy / file).write_bytes(data)
            code, out, err = learning("validate", copy)
            in_words(code, out, err)
            assert f"{file}  $" in out, (file, name, out)
        if original is None:
            (copy / file).unlink()
        else:
            (copy / file).write_bytes(original)
    for damage in (b"", b"PAR1", b"PAR1" + b"\0" * 100 + b"PAR1", json.dumps(DOC).encode()):
        (copy / "tables" / "patterns.parquet").write_bytes(damage)
        assert "tables/patterns.parquet: checksum mismatch" in in_words(*learning("validate", copy))
    (tmp_path / "not-an-export").mkdir()
    assert "not an export directory" in in_words(*learning("validate", tmp_path / "not-an-export"))


def damaged_copy(published: Path, rel: str, data: bytes) -> str:
    """A copy of the published export, next to it, with `rel` replaced by `data`; returns its export id."""
    export_id = f"20990101T000000Z-{uuid.uuid4().hex[:6]}"
    copy = published.parent / export_id
    shutil.copytree(published, copy)
    (copy / rel).write_bytes(data)
    return export_id


def test_damaged_exports_through_dashboard_and_submit(home, published):
    root = published.parent.parent
    damages = [("tables/patterns.parquet", data) for data in (b"", b"PAR1", b"garbage" * 100, BAD_JSON["utf16"])]
    damages += [("manifest.json", BAD_JSON[name]) for name in ("array", "deep_100000", "truncated", "utf16", "empty",
                                                                "manifest_entries_bad")]
    damages += [("export_metadata.json", BAD_JSON[name]) for name in ("array", "deep_100000", "binary")]
    for rel, data in damages:
        export_id = damaged_copy(published, rel, data)
        code, out, err = learning("dashboard", "--output", root, "--export", export_id)
        if rel.endswith(".parquet"):  # the dashboard shows the tables: it names the one it cannot read
            error_line(code, out, err, f"{export_id}/{rel}: cannot read this table", "learning validate")
        else:  # it needs only the tables; the manifest and metadata are for validate and submit
            in_words(code, out, err, failed=False)
        code, out, err = learning("submit", "--output", root, "--export", export_id, "--yes")
        line = error_line(code, out, err)
        assert "not packaged" in line or "not in this instance's audit trail" in line, line
    assert not list((root / "submissions").glob("*2099*"))  # nothing damaged was packaged

    (root / "LATEST").write_bytes(b"\xff\xfe../../etc")
    error_line(*learning("dashboard", "--output", root), "LATEST names no published export", "--export")
    error_line(*learning("submit", "--output", root, "--yes"), "LATEST names no published export")


# --- export: bad arguments, bad keys, failed checks, consent revoked, a full disk ----------------------------

def test_bad_export_arguments(home, tiny_source, tmp_path):
    (tmp_path / "file").write_text("x")
    assert learning("consent", "grant", "--source", tiny_source.root)[0] == 0
    cases = [(["--source", tmp_path / "missing"], "source directory does not exist"),
             (["--source", tmp_path / "file"], "source is not a directory"),
             (["--source", tiny_source.root, "--output", tmp_path / "file"], "cannot write to the export directory"),
             (["--source", tiny_source.root, "--since", "2026-02-30"], "expected a date as YYYY-MM-DD"),
             (["--source", tiny_source.root, "--format", "xml"], "--format"),
             (["--source", tiny_source.root, "--format", "parquet", "--compress"], "--compress")]
    for args, words in cases:
        error_line(*learning("export", *args), words)
    assert not (tmp_path / "export").exists()


# --- export: bad keys, failed checks, consent revoked, a full disk --------------------------------------

@pytest.fixture
def empty_source(home, tmp_path) -> Path:
    """A project with an empty `.tapps-agents/` (an export of it runs in seconds), with consent."""
    source = tmp_path / "empty" / ".tapps-agents"
    source.mkdir(parents=True)
    assert learning("consent", "grant", "--source", source)[0] == 0
    return source


def test_a_bad_key_stops_the_export_before_it_runs(home, empty_source, tmp_path, monkeypatch):
    monkeypatch.delenv("LEARNING_ANONYMIZATION_KEY")
    key = home / "learning" / "anonymization.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    output = tmp_path / "export"
    cases = [(0o644, "k" * 64, f"{key}: key file is readable by others (mode 644); chmod 600 it"),
             (0o600, "short", f"{key}: key file holds 5 bytes, fewer than 32; restore it from your backup")]
    for mode, text, words in cases:
        key.write_text(text)
        key.chmod(mode)
        error_line(*learning("export", "--source", empty_source, "--output", output, "--quiet"), words)
    monkeypatch.setenv("LEARNING_ANONYMIZATION_KEY", "short")
    error_line(*learning("export", "--source", empty_source, "--output", output, "--quiet"),
               "LEARNING_ANONYMIZATION_KEY must be at least 32 characters")
    assert not (output / "exports").exists()

    # a run started another way (the UI, a schedule) fails in its step with the same words
    monkeypatch.delenv("LEARNING_ANONYMIZATION_KEY")
    key.write_text("k" * 64)
    key.chmod(0o644)
    with DagsterInstance.get() as instance, pytest.raises(ExportFailed) as failed:
        run_export(str(empty_source), str(output), instance=instance)
    assert str(failed.value) == (f"step anonymized_tables failed: {key}: key file is readable by others (mode 644); "
                                 f"chmod 600 it; nothing was published")
    key.unlink()


def test_failed_blocking_checks_name_their_tables(home, tmp_path):
    source = tmp_path / "out_of_range" / ".tapps-agents"
    shutil.copytree(CORPUS / "out_of_range", source)
    assert learning("consent", "grant", "--source", source)[0] == 0
    line = error_line(*learning("export", "--source", source, "--output", tmp_path / "export", "--quiet"),
                      "blocking check(s) failed: ", "pandera_schema on anonymized/code_outcomes (",
                      "pandera_schema on anonymized/patterns (", "iterations", "success_rate",
                      "; nothing was published (see run ")
    assert "raw/" not in line  # the raw tables' checks only warn
    assert not (tmp_path / "export" / "exports").exists()


def test_consent_revoked_during_the_run_is_said_once(home, empty_source, tmp_path, monkeypatch):
    class RevokedMeanwhile(ConsentStore):
        def require(self, source, refused="nothing was exported"):
            record = super().require(source, refused)
            self.revoke(source)  # right after the CLI checked: the run's own check refuses
            return record

    monkeypatch.setattr("learning_assets.cli.export.ConsentStore", RevokedMeanwhile)
    line = error_line(*learning("export", "--source", empty_source, "--output", tmp_path / "export", "--quiet"),
                      f"step learning_export failed: consent to export {empty_source} was revoked by",
                      f"Grant it with: learning consent grant --source {empty_source}")
    assert line.count("nothing was published") == 1 and "nothing was exported" not in line
    assert not (tmp_path / "export" / "exports").exists()


@pytest.fixture
def small_disk(tmp_path):
    with tmpfs(tmp_path / "small", "64k") as mountpoint:
        yield mountpoint


def test_a_full_export_directory_is_refused_and_left_clean(home, empty_source, small_disk):
    output = small_disk / "export"
    output.mkdir()
    with open(small_disk / "filler", "wb", buffering=0) as fh:  # fill it up
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    error_line(*learning("export", "--source", empty_source, "--output", output, "--quiet"),
               f"{output}: cannot write to the export directory (no space left on device)")
    assert list(output.iterdir()) == []  # no stray write probe


# --- unreadable files, for a user who is not root ---------------------------------------------------------

def test_unreadable_files_for_an_unprivileged_user(cli, tiny_source, tmp_path, unprivileged_ok):
    source = tmp_path / "project" / ".tapps-agents"
    shutil.copytree(tiny_source.root, source)
    ConsentStore(cli.home / "learning").grant(source)
    locked = {source / "memory" / "memories.json": 0, source / "analytics" / "history": 0,
              source / "learning": 0o644}  # a directory without x: its files cannot be reached
    for path, mode in locked.items():
        path.chmod(mode)
    try:
        proc = cli("export", "--source", source, "--output", tmp_path / "export", unprivileged=True)
    finally:
        for path in locked:
            path.chmod(0o755 if path.is_dir() else 0o644)
    in_words(proc.returncode, proc.stdout, proc.stderr, failed=False)
    warnings = {line.strip().removeprefix("! ") for line in proc.stderr.splitlines()}
    for warning in ["memory/memories.json: unreadable: permission denied; none of its records were read",
                    "analytics/history: cannot list the directory (permission denied); none of its records were read",
                    "learning/patterns.jsonl: unreadable: permission denied; none of its records were read"]:
        assert warning in warnings, (warning, proc.stderr)
    export = Path(proc.stdout.strip().splitlines()[-1])

    (export / "manifest.json").chmod(0)
    (export / "tables" / "patterns.parquet").chmod(0)
    try:
        proc = cli("validate", export, unprivileged=True)
        assert "manifest.json  $: cannot read it (permission denied)" in in_words(proc.returncode, proc.stdout,
                                                                                 proc.stderr)
        one_line_error(cli("dashboard", "--output", tmp_path / "export", unprivileged=True),
                       f"{export / 'tables' / 'patterns.parquet'}: cannot read this table (permission denied)")
    finally:
        (export / "manifest.json").chmod(0o644)
        (export / "tables" / "patterns.parquet").chmod(0o644)
