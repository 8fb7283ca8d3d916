"""Shared fixtures: generated sources, real in-process Dagster runs against a temporary instance, and the
`learning` CLI (in this process, or as a subprocess, optionally without root's power over file modes)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from benchmarks.generator import SCALES, generate
from learning_assets.cli import main
from learning_assets.defs.dashboard.assets import DASHBOARD_ASSETS
from learning_assets.defs.export import definitions as export_area
from learning_assets.governance.consent import ConsentStore
from resources import (
    Anonymization,
    ExportStore,
    Governance,
    SourceDirectory,
    TableIOManager,
)
from tests.procs import without_file_privileges

warnings.filterwarnings("ignore")
# What `learning_export_job` runs: the export area and the owner's dashboard.
ASSETS = [*export_area.defs.assets, *DASHBOARD_ASSETS]
CHECKS = list(export_area.defs.asset_checks)
TEST_KEY = "test-key-" + "0" * 40


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster_home")) as inst:
        yield inst


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory):
    """A small generated `.tapps-agents/` directory, with planted sensitive values and damaged lines."""
    return generate(tmp_path_factory.mktemp("tiny") / ".tapps-agents", SCALES["tiny"], seed=11)


@pytest.fixture(scope="session")
def sample_source(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("sample") / ".tapps-agents", SCALES["sample"], seed=7)


def resources_for(source: Path, output: Path, storage: Path, key: str = TEST_KEY, k: int = 5,
                  consent: bool = True) -> dict:
    """Resources over temporary dirs; consent (and the audit trail) live in `<storage>_home`.

    `consent=True` grants export consent for `source` there first, as `learning consent grant` would.
    """
    home = Path(storage).parent / f"{Path(storage).name}_home"
    if consent:
        ConsentStore(home).grant(source)
    return {
        "source": SourceDirectory(path=str(source)),
        "export_store": ExportStore(path=str(output)),
        "anonymization": Anonymization(key=key, k=k),
        "io_manager": TableIOManager(base_dir=str(storage)),
        "governance": Governance(home=str(home)),
    }


def run_pipeline(source: Path, output: Path, instance: DagsterInstance, **kw):
    """Materialize every asset and check once; returns the Dagster result."""
    return materialize([*ASSETS, *CHECKS], instance=instance, raise_on_error=False,
                       resources=resources_for(source, output, output.parent / f"{output.name}_storage", **kw))


def exported_bytes(export_dir: Path) -> bytes:
    """Every byte of an export, with Parquet also decoded to text so compressed pages hide nothing."""
    blob = bytearray()
    for path in sorted(export_dir.rglob("*")):
        if path.is_file():
            blob += path.read_bytes()
            if path.suffix == ".parquet":
                blob += json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
                blob += json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False).encode()
    return bytes(blob)


# --- the `learning` CLI ----------------------------------------------------------------------------

CLI = [sys.executable, "-m", "learning_assets.cli"]


def learning(*args) -> tuple[int, str, str]:
    """`learning ARGS` in this process, through its entry point: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exit_:
            code = exit_.code
        else:
            code = 0
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli(tmp_path):
    """`learning` as a subprocess with DAGSTER_HOME and the working directory in tmp_path; `unprivileged`
    runs it without root's power over file modes (see `procs.without_file_privileges`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNING_")}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), LEARNING_ANONYMIZATION_KEY="cli-test-key-" + "7" * 40,
               PYTHONWARNINGS="ignore")

    def run(*args, unprivileged=False, check=None, timeout=300):
        proc = subprocess.run([*CLI, *map(str, args)], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=timeout, preexec_fn=without_file_privileges if unprivileged else None)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        return proc
    run.home = tmp_path / "home"
    run.env = env
    return run


@pytest.fixture(scope="session")
def unprivileged_ok(tmp_path_factory) -> None:
    """Skip unless a process started with `unprivileged=True` really cannot read a `chmod 000` file."""
    secret = tmp_path_factory.mktemp("modes") / "secret"
    secret.write_text("x")
    secret.chmod(0)
    try:
        proc = subprocess.run([sys.executable, "-c", f"open({str(secret)!r}).read()"], capture_output=True,
                              preexec_fn=without_file_privileges)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot drop root's file privileges here: {exc}")
    if proc.returncode == 0:
        pytest.skip("a process without root's file privileges still reads a chmod 000 file here")


def one_line_error(proc, *fragments) -> str:
    """A failed command: non-zero exit, exactly one line on stderr, no traceback, the expected words."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str):
    """A size-limited tmpfs at `mountpoint` (a real file system that fills up); skips the test where mounting
    is not permitted."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a size-limited tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755",
                           f"learning-test-{uuid.uuid4().hex[:8]}", str(mountpoint)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
