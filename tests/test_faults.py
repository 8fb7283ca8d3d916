"""Faults: kill -9 mid-write, a full disk, a read-only export directory, two exports at once.

Each scenario starts from an export directory that already holds a published export (written by
the real writer, `write_export` + `ExportStore.publish`, from empty tables so that it costs no run)
and checks that it survives byte for byte, that nothing partial becomes visible, and that the error
says what happened. Real processes (`learning export`, a writer script) are killed with SIGKILL; the
disk is a real size-limited tmpfs (skipped where mounting is not permitted).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from benchmarks.generator import SCALES, generate
from learning_assets.defs.export.run import ExportFailed, run_export
from learning_assets.exportfiles.atomic import ExportStoreError, new_export_id
from learning_assets.exportfiles.document import build_document, export_metadata
from learning_assets.exportfiles.manifest import verify_manifest
from learning_assets.exportfiles.report import build_report
from learning_assets.exportfiles.write import write_export
from learning_assets.governance.consent import ConsentStore
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.sources.frames import empty_frame
from learning_assets.tables import ANONYMIZED
from resources.export_store import EXPORTS, LATEST, STAGING, ExportStore
from tests.conftest import TEST_KEY, tmpfs
from tests.procs import start_group, stop_group, tail

REPO = Path(__file__).resolve().parent.parent
LEARNING = [sys.executable, "-m", "learning_assets.cli"]
pytestmark = pytest.mark.slow


# --- set-up -------------------------------------------------------------------------------------

class Home:
    """A Dagster instance home (sqlite, the project's dagster.yaml) shared by in-process runs and CLI runs."""

    def __init__(self, path: Path, sources: list[Path]):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
        for source in sources:
            ConsentStore(path / "learning").grant(source)
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEARNING_")},
                    "DAGSTER_HOME": str(path), "LEARNING_ANONYMIZATION_KEY": TEST_KEY, "PYTHONWARNINGS": "ignore"}

    def export(self, source: Path, output: Path):
        """One in-process export against this home (the CLI's code path, without the process)."""
        with pytest.MonkeyPatch.context() as mp:
            for name, value in self.env.items():
                if name.startswith(("DAGSTER_HOME", "LEARNING_")):
                    mp.setenv(name, value)
            with DagsterInstance.get() as instance:
                return run_export(str(source), str(output), instance=instance)

    def cli(self, source: Path, output: Path, *, log: Path) -> subprocess.Popen:
        return start_group([*LEARNING, "export", "-q", "--source", str(source), "--output", str(output)],
                           cwd=self.path.parent, env=self.env, log=log)


@pytest.fixture(scope="module")
def other_source(tmp_path_factory):
    """A second tiny source whose days (from 2025-06-02) do not overlap the tiny source's (2026-03-01…)."""
    scale = dataclasses.replace(SCALES["tiny"], start=dt.date(2025, 6, 2))
    return generate(tmp_path_factory.mktemp("other") / ".tapps-agents", scale, seed=5)


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_source, sample_source, other_source):
    return Home(tmp_path_factory.mktemp("faults") / "home",
                [tiny_source.root, sample_source.root, other_source.root])


def earlier_export(root: Path) -> Path:
    """Publish one complete (empty-tabled) export into `root` with the real writer; returns it."""
    tables = {name: empty_frame(schema) for name, schema in ANONYMIZED.items()}
    report = build_report({name: {} for name in tables}, 5)
    document = build_document(tables, export_metadata("project_" + "0" * 16, "earlier", 5), report)
    store = ExportStore(path=str(root))
    export_id = new_export_id(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    write_export(store.stage(export_id), tables, document, report)
    return store.publish(export_id)


def snapshot(export_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(export_dir).as_posix(): p.read_bytes() for p in sorted(export_dir.rglob("*"))
            if p.is_file()}


def assert_consistent(root: Path, must_contain: Path | None = None, before: dict | None = None) -> list[Path]:
    """Every visible export is complete and LATEST names one of them; returns the exports."""
    store = ExportStore(path=str(root))
    exports = store.exports()
    for export in exports:
        assert verify_manifest(export) == [], export
    if exports:
        assert store.latest() in exports
    visible = {p.name for p in root.iterdir() if not p.name.startswith(".")}
    assert visible <= {EXPORTS, LATEST, "dashboard.html"}, visible
    if must_contain is not None:
        assert must_contain in exports
        if before is not None:
            assert snapshot(must_contain) == before, "an earlier export was modified"
    return exports


# --- kill -9 --------------------------------------------------------------------------------------

def wait_for_staging(root: Path, proc: subprocess.Popen, timeout: float = 600) -> Path:
    """Poll (1 ms) until the run creates its staging directory; returns it."""
    staging = root / STAGING
    known = set(staging.iterdir()) if staging.is_dir() else set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if staging.is_dir():
            new = [p for p in staging.iterdir() if p not in known]
            if new:
                return new[0]
        if proc.poll() is not None:
            raise AssertionError(f"the export ended ({proc.returncode}) before it started writing")
        time.sleep(0.001)
    raise AssertionError("the export never started writing")


def test_kill_9_mid_write_leaves_nothing_partial_and_the_next_run_succeeds(home, sample_source, tmp_path):
    root = tmp_path / "export"
    earlier = earlier_export(root)
    before = snapshot(earlier)

    for attempt in range(3):  # on a busy machine the kill can land after the write: then try again
        proc = home.cli(sample_source.root, root, log=tmp_path / f"killed-{attempt}.log")
        try:
            staged = wait_for_staging(root, proc)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            stop_group(proc)
        assert proc.returncode == -signal.SIGKILL
        assert assert_consistent(root, earlier, before) == [earlier]  # also when the kill came late
        assert ExportStore(path=str(root)).latest() == earlier
        if not (staged / "manifest.json").exists():
            break
    # killed while writing: the staging directory is there, without the manifest that ends a write
    assert staged.is_dir() and not (staged / "manifest.json").exists(), sorted(staged.rglob("*"))

    # the next run is not blocked (the kernel dropped the dead run's lock) and publishes normally
    result = home.export(sample_source.root, root)
    exports = assert_consistent(root, earlier, before)
    assert exports == sorted([earlier, result.path]) and ExportStore(path=str(root)).latest() == result.path
    # the dead run's staging directory stays out of sight (removed after a day by later runs)
    assert staged.is_dir() and staged.name not in {p.name for p in exports}


WRITER = r"""
import json, sys, time
from pathlib import Path
import pandas as pd, pyarrow.parquet as pq
from learning_assets.exportfiles.write import write_export
from learning_assets.exportfiles.atomic import new_export_id
from resources.export_store import ExportStore

import numpy as np
source, root, rows = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(int(sys.argv[4]))
tables = {p.stem: pd.DataFrame({"id": rng.integers(0, 1 << 62, rows), "value": rng.random(rows),
                                "text": rng.integers(0, 1 << 40, rows).astype(str)})
          for p in sorted((source / "tables").glob("*.parquet"))}
document = json.loads((source / "learning_export.json").read_text())
report = json.loads((source / "anonymization_report.json").read_text())
store = ExportStore(path=root)
print("ready", flush=True)
while True:
    export_id = new_export_id()
    staged = store.stage(export_id)
    try:
        write_export(staged, tables, document, report)
    except BaseException:
        store.discard(export_id)
        raise
    store.publish(export_id)
"""


def test_kill_9_at_random_moments_of_writing_and_publishing(tmp_path):
    """Two writers publish into one directory in a loop; SIGKILL at random moments, then check it all."""
    root = tmp_path / "export"
    earlier = earlier_export(root)
    before = snapshot(earlier)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(20261123)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    published = 0
    for trial in range(3):
        procs = [start_group([sys.executable, str(script), str(earlier), str(root), "20000", str(trial * 2 + i)],
                             cwd=tmp_path, env=env, log=tmp_path / f"writer-{trial}-{i}.log") for i in range(2)]
        try:
            for proc, i in zip(procs, range(2)):
                log = tmp_path / f"writer-{trial}-{i}.log"
                deadline = time.monotonic() + 60
                while b"ready" not in log.read_bytes():
                    assert proc.poll() is None and time.monotonic() < deadline, tail(log)
                    time.sleep(0.02)
            time.sleep(rng.uniform(0.3, 2.0))
            for proc in procs:
                os.killpg(proc.pid, signal.SIGKILL)
            for proc, i in zip(procs, range(2)):
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL, tail(tmp_path / f"writer-{trial}-{i}.log")
        finally:
            for proc in procs:
                stop_group(proc)
        exports = assert_consistent(root, earlier, before)
        published = len(exports) - 1
    assert published >= 1, "no writer ever published: the kills came too early to test publishing"


# --- full disk, read-only -----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs: a real file system that fills up."""
    with tmpfs(tmp_path / "small", "2m") as mountpoint:
        yield mountpoint


def fill(directory: Path, leave: int) -> Path:
    """Fill the file system of `directory` until fewer than `leave` bytes are free."""
    filler = directory / ".filler"
    with open(filler, "wb", buffering=0) as fh:  # unbuffered: closing has nothing left to write
        try:
            while os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize > leave:
                fh.write(b"\0" * 16384)
        except OSError:
            pass
    return filler


def test_full_disk_is_a_clear_error_and_keeps_earlier_exports(home, sample_source, small_disk):
    earlier = earlier_export(small_disk)
    before = snapshot(earlier)
    filler = fill(small_disk, leave=48 * 1024)  # room to start writing, not to finish

    with pytest.raises(ExportFailed) as failed:
        home.export(sample_source.root, small_disk)
    message = str(failed.value)
    assert "no space left on device" in message and "nothing was published" in message, message
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert assert_consistent(small_disk, earlier, before) == [earlier]
    assert ExportStore(path=str(small_disk)).latest() == earlier
    assert list((small_disk / STAGING).iterdir()) == [], "the failed export was not cleaned up"

    # publishing needs no space once the files are written: LATEST is prepared before the rename
    store = ExportStore(path=str(small_disk))
    staged = store.stage("20990101T000000Z-aaaaaa")
    (staged / "manifest.json").write_text("{}")
    filler.unlink()
    fill(small_disk, leave=0)
    with pytest.raises(ExportStoreError, match="no space left on device while publishing"):
        store.publish(staged.name)
    assert staged.is_dir() and store.exports() == [earlier] and store.latest() == earlier
    assert not list(small_disk.glob(f".{LATEST}.*.tmp"))


def test_read_only_export_directory_is_a_clear_error(home, tiny_source, small_disk):
    earlier = earlier_export(small_disk)
    before = snapshot(earlier)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True, capture_output=True)
    try:
        # the CLI stops before running anything
        proc = subprocess.run([*LEARNING, "export", "-q", "--source", str(tiny_source.root), "--output",
                               str(small_disk)], env=home.env, capture_output=True, text=True, timeout=300)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "read-only file system" in lines[0] and str(small_disk) in lines[0], proc.stderr
        # a run launched any other way (UI, schedule) fails in learning_export with the same words
        with pytest.raises(ExportStoreError, match="read-only file system while creating the staging directory"):
            ExportStore(path=str(small_disk)).stage("20990101T000000Z-bbbbbb")
        assert assert_consistent(small_disk, earlier, before) == [earlier]
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], capture_output=True)


# --- two at once ----------------------------------------------------------------------------------

def days_in(export_dir: Path, table: str) -> set[str]:
    df = pq.read_table(export_dir / "tables" / f"{table}.parquet").to_pandas()
    return set(df["timestamp"].dropna().dt.strftime("%Y-%m-%d"))


def test_two_exports_at_once_give_two_complete_exports_or_one_clear_refusal(home, tiny_source, other_source,
                                                                           tmp_path):
    """Two `learning export`s of different sources, same instance and export directory, same moment.

    Without the instance lock this published an export holding the other source's tables (runs of one
    instance share its intermediate-table storage) and failed the other run's checks.
    """
    root = tmp_path / "export"
    earlier = earlier_export(root)
    before = snapshot(earlier)
    sources = {"tiny": tiny_source, "other": other_source}
    procs = {name: home.cli(src.root, root, log=tmp_path / f"{name}.log") for name, src in sources.items()}
    try:
        for proc in procs.values():
            proc.wait(timeout=900)
    finally:
        for proc in procs.values():
            stop_group(proc)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
    succeeded = {name for name, proc in procs.items() if proc.returncode == 0}
    assert succeeded, logs
    for name in set(procs) - succeeded:
        lines = logs[name].strip().splitlines()
        assert len(lines) == 1 and "another export is already running" in lines[0], logs[name]

    exports = assert_consistent(root, earlier, before)
    assert len(exports) == 1 + len(succeeded)
    pseudonym = Pseudonymizer(TEST_KEY.encode())
    for name in succeeded:
        path, source = Path(logs[name].strip().splitlines()[-1]), sources[name]
        assert path in exports
        # all of it from its own source: the project, and the days of the day-level rows
        meta = json.loads((path / "export_metadata.json").read_text())
        assert meta["project_hash"] == pseudonym("project", str(source.root.resolve()))
        own_days = set(source.agent_events_per_day)
        exported = days_in(path, "agent_executions")
        assert exported, "nothing exported to compare"
        assert exported <= own_days, f"the {name} export holds another source's rows: {exported - own_days}"
