"""Incremental exports: daily partitions (single-run backfills), snapshots, schedule, sensor, CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_schedule_context,
    build_sensor_context,
)

from benchmarks.generator import SCALES, generate
from learning_assets.defs.export.run import ExportFailed
from learning_assets.defs.incremental.run import run_backfill, run_snapshot
from learning_assets.exportfiles import incremental as inc
from learning_assets.exportfiles.manifest import sha256_file
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.tables import read_table
from resources import SourceDirectory
from tests.conftest import TEST_KEY, exported_bytes, resources_for

# Recent days, so that they are partitions (complete UTC days) whatever the date the tests run on.
START = datetime.now(timezone.utc).date() - timedelta(days=12)
TINY = dataclasses.replace(SCALES["tiny"], days=4, start=START)
DAYS = [(START + timedelta(days=i)).isoformat() for i in range(TINY.days)]


@pytest.fixture
def source(tmp_path):
    return generate(tmp_path / "project" / ".tapps-agents", TINY, seed=11)


def backfill(src, tmp_path, instance, *, k: int = 1, start: str | None = None, end: str | None = None):
    resources = resources_for(src.root, tmp_path / "export", tmp_path / "storage", k=k)
    return run_backfill(start or DAYS[0], end or DAYS[-1], instance=instance, resources=resources)


def snapshot(src, tmp_path, instance, as_of: str, k: int = 1):
    resources = resources_for(src.root, tmp_path / "export", tmp_path / "storage", k=k)
    return run_snapshot(as_of=as_of, instance=instance, resources=resources)


def file_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != inc.INDEX_NAME}


def rows_per_day(read) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in read.rows:
        if (day := inc.day_of(row["timestamp"])) is not None:
            counts[day] = counts.get(day, 0) + 1
    return counts


def agent_line(day: str, n: int) -> str:
    return json.dumps({"agent_id": "reviewer", "agent_name": "Reviewer Agent", "duration": 3.0 + n,
                       "success": True, "timestamp": f"{day}T12:00:{n:02d}+00:00"}) + "\n"


# --- backfills -------------------------------------------------------------------------------------

def test_backfill_is_one_run_writing_one_file_set_per_day_with_the_sources_row_counts(source, tmp_path, instance):
    result = backfill(source, tmp_path, instance, k=1)
    export = tmp_path / "export"

    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].run_id == result.run_id  # a range is a single run
    assert runs[0].tags["dagster/asset_partition_range_start"] == DAYS[0]
    assert runs[0].tags["dagster/asset_partition_range_end"] == DAYS[-1]
    assert result.statuses == {d: "published" for d in DAYS}

    memories = rows_per_day(read_table("task_memories", source.root))
    outcomes = rows_per_day(read_table("code_outcomes", source.root))
    expected = {"agent_executions": source.agent_events_per_day, "workflow_executions": source.workflow_events_per_day,
                "task_memories": memories, "code_outcomes": outcomes}
    for table in inc.DAY_TABLES:
        assert sorted(p.name for p in (export / "daily" / table).iterdir()) == [f"{d}.parquet" for d in DAYS]
        for day in DAYS:
            df = pq.read_table(export / "daily" / table / f"{day}.parquet").to_pandas()
            assert len(df) == expected[table].get(day, 0), (table, day)
            assert set(df["timestamp"].dt.strftime("%Y-%m-%d")) <= {day}  # partitions never overlap
    assert sum(source.agent_events_per_day.values()) == sum(
        pq.read_metadata(export / "daily" / "agent_executions" / f"{d}.parquet").num_rows for d in DAYS)

    index = json.loads((export / "daily" / "index.json").read_text())
    assert list(index["days"]) == DAYS and index["sequence"] == 1
    for day, entry in index["days"].items():
        assert {f["table"] for f in entry["files"]} == set(inc.DAY_TABLES)
        for f in entry["files"]:
            assert sha256_file(export / f["path"]) == f["sha256"]
            assert pq.read_metadata(export / f["path"]).num_rows == f["rows"]
        assert sha256_file(export / entry["manifest"]) == entry["manifest_sha256"]
        assert json.loads((export / entry["manifest"]).read_text())["files"] == entry["files"]
    assert not list((export / ".staging").iterdir())  # staging cleaned up

    # the cumulative vocabulary lives in the instance home (0600), never in the export
    vocab_file = Path(instance.root_directory) / "learning" / "vocabulary.json"
    assert stat.S_IMODE(vocab_file.stat().st_mode) == 0o600
    assert "zorblatt" in json.loads(vocab_file.read_text())["users"]
    blob = exported_bytes(export).lower()
    leaked = [(kind, v) for kind, values in source.planted.items() for v in values
              if v.lower().encode() in blob or json.dumps(v)[1:-1].lower().encode() in blob]
    assert leaked == []


def test_adding_events_to_one_day_and_rerunning_changes_only_that_days_files(source, tmp_path, instance):
    backfill(source, tmp_path, instance)
    daily = tmp_path / "export" / "daily"
    before = file_hashes(daily)
    target = DAYS[1]
    with open(source.root / "analytics" / "history" / f"agents-{target}.jsonl", "a") as fh:
        fh.writelines(agent_line(target, n) for n in range(3))

    result = backfill(source, tmp_path, instance)  # the whole range again, as one run
    after = file_hashes(daily)
    assert result.statuses == {d: ("replaced" if d == target else "unchanged") for d in DAYS}
    assert {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)} == {
        f"agent_executions/{target}.parquet", f"manifests/{target}.json"}
    rows = pq.read_metadata(daily / "agent_executions" / f"{target}.parquet").num_rows
    assert rows == source.agent_events_per_day[target] + 3

    # rerunning the one partition is idempotent: same bytes, files not even rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in daily.rglob("*.parquet")}
    again = backfill(source, tmp_path, instance, start=target, end=target)
    assert again.statuses == {target: "unchanged"}
    assert file_hashes(daily) == after
    assert {p: p.stat().st_mtime_ns for p in daily.rglob("*.parquet")} == mtimes
    index = json.loads((daily / "index.json").read_text())
    assert index["sequence"] == 2 and index["days"][target]["rows"]["agent_executions"] == rows


def test_daily_files_keep_every_dated_row_with_the_default_k(tmp_path, instance):
    """k counts projects where submissions are pooled; inside one project's daily files no row is dropped."""
    scale = dataclasses.replace(SCALES["sample"], days=3, start=START)
    src = generate(tmp_path / "sample" / ".tapps-agents", scale, seed=7)
    backfill(src, tmp_path, instance, k=5, end=DAYS[2])
    daily = tmp_path / "export" / "daily"
    agent_rows = sum(len(pq.read_table(daily / "agent_executions" / f"{day}.parquet")) for day in DAYS[:3])
    assert agent_rows == sum(src.agent_events_per_day[d] for d in DAYS[:3] if d in src.agent_events_per_day)
    manifest = json.loads((daily / "manifests" / f"{DAYS[0]}.json").read_text())
    assert manifest["k"] == 5
    assert all(a["rows"] == a["rows_in"] for a in manifest["anonymization"].values())


def test_a_failed_leak_rescan_publishes_nothing(source, tmp_path, instance, monkeypatch):
    import learning_assets.defs.incremental.assets as assets

    monkeypatch.setattr(assets, "scan_export", lambda directory, vocabulary: [
        {"file": "x", "location": "$", "rule": "test", "sample": "…"}])
    with pytest.raises(ExportFailed, match="daily_no_sensitive_values"):
        backfill(source, tmp_path, instance)
    daily = tmp_path / "export" / "daily"
    assert not daily.exists() or not list(daily.rglob("*.parquet"))
    assert not (daily / "index.json").exists()


def test_backfill_rejects_ranges_that_are_not_complete_days(source, tmp_path, instance):
    today = datetime.now(timezone.utc).date().isoformat()
    with pytest.raises(ValueError, match="last complete UTC day"):
        backfill(source, tmp_path, instance, start=DAYS[0], end=today)
    with pytest.raises(ValueError, match="after"):
        backfill(source, tmp_path, instance, start=DAYS[2], end=DAYS[0])
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        backfill(source, tmp_path, instance, start="2026-3-1", end=DAYS[0])


# --- snapshots ---------------------------------------------------------------------------------------

def _bump_first_pattern(root: Path) -> str:
    path = root / "learning" / "patterns.jsonl"
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("usage_count"), int):
            rec["usage_count"] += 1000
            lines[i] = json.dumps(rec)
            path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
            return rec["pattern_id"]
    raise AssertionError("no pattern to change")


def test_snapshots_mark_only_what_changed_since_the_previous_one(source, tmp_path, instance):
    first = snapshot(source, tmp_path, instance, DAYS[0])
    assert first.status == "published" and first.path == tmp_path / "export" / "snapshots" / DAYS[0]
    changes = json.loads((first.path / "changes.json").read_text())
    assert changes["since"] is None and all(t["added"] and not t["changed"] for t in changes["tables"].values())

    pattern_id = _bump_first_pattern(source.root)
    second = snapshot(source, tmp_path, instance, DAYS[1])
    assert second.status == "published"
    changes = json.loads((second.path / "changes.json").read_text())["tables"]
    assert changes["patterns"]["changed"] == [Pseudonymizer(TEST_KEY.encode())("pat", pattern_id)]
    assert changes["patterns"]["added"] == changes["patterns"]["removed"] == []
    assert changes["patterns"]["table_changed"] is True
    assert changes["capabilities"]["table_changed"] is False and changes["capabilities"]["changed"] == []

    third = snapshot(source, tmp_path, instance, DAYS[2])  # nothing changed: nothing written
    assert third.status == "unchanged" and third.path is None
    assert not (tmp_path / "export" / "snapshots" / DAYS[2]).exists()
    index = json.loads((tmp_path / "export" / "daily" / "index.json").read_text())
    assert list(index["snapshots"]) == DAYS[:2] and index["latest_snapshot"] == DAYS[1]
    for entry in index["snapshots"].values():
        assert all(sha256_file(tmp_path / "export" / f["path"]) == f["sha256"] for f in entry["files"])


# --- schedule, sensor, definitions ------------------------------------------------------------------------

def test_the_schedule_requests_yesterdays_partition():
    from learning_assets.defs.incremental.schedules import (
        daily_export_schedule,
        snapshot_export_schedule,
    )

    assert daily_export_schedule.execution_timezone == "UTC"
    assert daily_export_schedule.default_status == DefaultScheduleStatus.STOPPED
    assert snapshot_export_schedule.default_status == DefaultScheduleStatus.STOPPED
    assert daily_export_schedule.cron_schedule == "15 1 * * *"
    for when, expected in ((datetime(2026, 3, 5, 1, 15, tzinfo=timezone.utc), "2026-03-04"),
                           (datetime(2026, 1, 1, 1, 15, tzinfo=timezone.utc), "2025-12-31")):
        data = daily_export_schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=when))
        assert [r.partition_key for r in data.run_requests] == [expected]


def _tick(sensor, cursor, root):
    from learning_assets.definitions import build_definitions

    ctx = build_sensor_context(cursor=cursor, definitions=build_definitions(),
                               resources={"source": SourceDirectory(path=str(root))})
    data = sensor.evaluate_tick(ctx)
    return data, data.cursor


def test_the_sensor_requests_the_partitions_whose_source_changed(source):
    from learning_assets.defs.incremental.sensors import (
        learning_source_sensor as sensor,
    )

    assert sensor.default_status == DefaultSensorStatus.STOPPED
    root = source.root
    data, cursor = _tick(sensor, None, root)  # first tick: baseline only
    assert data.run_requests == [] and cursor and "recorded" in data.skip_message
    data, cursor = _tick(sensor, cursor, root)
    assert data.run_requests == []  # unchanged source: nothing

    day_file = root / "analytics" / "history" / f"agents-{DAYS[2]}.jsonl"
    os.utime(day_file, ns=(day_file.stat().st_atime_ns, day_file.stat().st_mtime_ns + 10**9))
    data, cursor = _tick(sensor, cursor, root)
    assert data.run_requests == []  # touched but the same content

    with open(day_file, "a") as fh:
        fh.write(agent_line(DAYS[2], 1))
    data, cursor = _tick(sensor, cursor, root)
    assert [(r.job_name, r.partition_key) for r in data.run_requests] == [("daily_export_job", DAYS[2])]
    data, cursor = _tick(sensor, cursor, root)
    assert data.run_requests == []

    # a rewritten memories.json: only the day whose records changed
    mem = root / "memory" / "memories.json"
    records = json.loads(mem.read_text())
    changed = next(r for r in records if r["timestamp"].startswith(DAYS[1]))
    changed["quality_score"] = 0.123
    mem.write_text(json.dumps(records))
    data, cursor = _tick(sensor, cursor, root)
    assert [r.partition_key for r in data.run_requests] == [DAYS[1]]

    # today's file is not a partition yet; a changed pattern file asks for a snapshot
    today = datetime.now(timezone.utc).date().isoformat()
    (root / "analytics" / "history" / f"agents-{today}.jsonl").write_text(agent_line(today, 1))
    _bump_first_pattern(root)
    data, cursor = _tick(sensor, cursor, root)
    assert [(r.job_name, r.partition_key) for r in data.run_requests] == [("snapshot_export_job", None)]


def test_the_full_export_job_is_unchanged_and_the_incremental_jobs_are_separate():
    from learning_assets.definitions import build_definitions

    defs = build_definitions()
    full = {n for n in defs.resolve_job_def("learning_export_job").graph.node_dict}
    assert not {n for n in full if n.startswith(("daily", "snapshot"))}
    assert {"learning_export", "published_export"} <= full
    daily = defs.resolve_job_def("daily_export_job")
    assert daily.partitions_def is not None
    assert {"daily_tables", "daily__staged_export", "daily__published_export",
            "daily__staged_export_daily_no_sensitive_values"} <= set(daily.graph.node_dict)
    assert defs.resolve_schedule_def("daily_export_schedule") and defs.resolve_sensor_def("learning_source_sensor")


def test_the_cli_reports_a_bad_range_in_one_line(capsys):
    from learning_assets.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["backfill", "--from", "2026-03-05", "--to", "2026-03-01"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "--from 2026-03-05 is after --to 2026-03-01" in err and "Traceback" not in err


# --- plain functions ---------------------------------------------------------------------------------------

def test_the_vocabulary_store_is_cumulative_private_and_counts_what_it_adds(tmp_path):
    from learning_assets.privacy.scrub import Vocabulary

    store = inc.VocabularyStore.for_instance(tmp_path)
    assert store.load().as_dict() == {"users": [], "hosts": [], "projects": []}
    store.merge(Vocabulary(users={"zorblatt"}), sources={"learning/patterns.jsonl": [1, 2]})
    assert store.added == 1
    merged = store.merge(Vocabulary(users={"zorblatt"}, hosts={"qx-devbox-77"}))
    assert store.added == 1 and merged.users == {"zorblatt"} and merged.hosts == {"qx-devbox-77"}
    assert store.sources() == {"learning/patterns.jsonl": [1, 2]}
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert inc.VocabularyStore(store.path).load().as_dict() == merged.as_dict()


def test_a_deleted_day_file_requests_its_day_and_neighbours(source):
    root = source.root
    state = inc.detect_changes(root, timezone.utc, None, DAYS[0], DAYS[-1])
    assert state.baseline and state.days == []
    (root / "analytics" / "history" / f"workflows-{DAYS[1]}.jsonl").unlink()
    changes = inc.detect_changes(root, timezone.utc, state.cursor, DAYS[0], DAYS[-1])
    assert changes.days == DAYS[:3] and not changes.snapshot
    # a day that becomes a partition later (the cursor's last day moves on) is picked up then
    later = inc.detect_changes(root, timezone.utc, changes.cursor, DAYS[0], DAYS[-2])
    assert later.days == []
    assert inc.detect_changes(root, timezone.utc, later.cursor, DAYS[0], DAYS[-1]).days == [DAYS[-1]]


def test_a_day_is_indexed_only_once_all_its_files_are_in_place(tmp_path):
    import pandas as pd

    from learning_assets.sources.frames import empty_frame
    from learning_assets.tables import ANONYMIZED

    staged, export = tmp_path / "staged", tmp_path / "export"
    empty = {t: empty_frame(ANONYMIZED[t]) for t in inc.DAY_TABLES}
    info = {t: {"rows_in": 0, "rows": 0} for t in inc.DAY_TABLES}
    for day in DAYS[:2]:
        inc.write_day(staged / day, day, empty, info, 5)
    (staged / DAYS[1] / "task_memories.parquet").unlink()  # a crash left the second day incomplete
    with pytest.raises(FileNotFoundError):
        inc.publish_days(export, staged, DAYS[:2])
    assert not inc.index_path(export).exists()
    inc.write_day(staged / DAYS[1], DAYS[1], empty, info, 5)
    inc.write_day(staged / DAYS[0], DAYS[0], empty, info, 5)
    assert inc.publish_days(export, staged, DAYS[:2]) == {DAYS[0]: "published", DAYS[1]: "published"}
    assert list(inc.load_index(export)["days"]) == DAYS[:2]
    assert isinstance(pd.read_parquet(export / "daily" / "code_outcomes" / f"{DAYS[0]}.parquet"), pd.DataFrame)


def test_a_days_read_parses_only_those_days_records_and_still_reports_damaged_times(tmp_path):
    """`days` rules records of other days out before parsing, by their time (naive times in the
    source's zone); undated records are kept for counting and damaged times are still skipped."""
    from zoneinfo import ZoneInfo

    root = tmp_path / ".tapps-agents"
    (root / "memory").mkdir(parents=True)
    memories = [
        {"task_id": "t-1", "timestamp": "2026-05-02T10:00:00+00:00"},
        {"task_id": "t-2", "timestamp": "2026-05-01T22:30:00"},  # naive, Los Angeles: 05:30 UTC on the 2nd
        {"task_id": "t-3", "timestamp": "2026-05-03T10:00:00Z", "quality_score": "not a number"},  # other day
        {"task_id": "t-4", "timestamp": "2026-05-02T99:00:00"},  # damaged: recorded, whatever the day
        {"task_id": "t-5"},  # undated
        {"task_id": "t-6", "timestamp": "2026-04-20T10:00:00Z"},
    ]
    (root / "memory" / "memories.json").write_text(json.dumps(memories))
    tz = ZoneInfo("America/Los_Angeles")
    read = read_table("task_memories", root, tz, days={"2026-05-02"})
    assert [r["task_id"] for r in read.rows] == ["t-1", "t-2", "t-5"]
    assert [s.reason.split(":")[0] for s in read.skipped] == ["[3]"]
    full = read_table("task_memories", root, tz)
    assert {r["task_id"] for r in full.rows} == {"t-1", "t-2", "t-5", "t-6"}
    assert len(full.skipped) == 2  # t-3's score and t-4's time
