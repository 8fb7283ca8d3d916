"""End to end: real materializations over generated data, exports read back and checked."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from learning_assets.exportfiles.manifest import verify_manifest
from learning_assets.tables import ANONYMIZED, TABLE_NAMES
from tests.conftest import exported_bytes, run_pipeline


@pytest.fixture
def exported(tiny_source, tmp_path, instance):
    result = run_pipeline(tiny_source.root, tmp_path / "export", instance, k=1)
    assert result.success
    exports = sorted((tmp_path / "export" / "exports").iterdir())
    assert len(exports) == 1
    return exports[0], result


def test_export_has_every_table_document_metadata_and_manifest(exported, tiny_source):
    export_dir, _ = exported
    manifest = json.loads((export_dir / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    assert {f"tables/{t}.parquet" for t in TABLE_NAMES} <= listed
    assert {"learning_export.json", "export_metadata.json", "anonymization_report.json"} <= listed
    assert verify_manifest(export_dir) == []
    for entry in manifest["files"]:
        if "rows" in entry:
            table = pq.read_table(export_dir / entry["path"])
            assert table.num_rows == entry["rows"]
            assert table.column_names == list(ANONYMIZED[entry["table"]].columns)


def test_row_counts_follow_the_source_with_k_1(exported, tiny_source):
    export_dir, _ = exported
    rows = lambda t: pq.read_table(export_dir / "tables" / f"{t}.parquet").num_rows  # noqa: E731
    assert rows("agent_executions") == tiny_source.counts["agent_events"]
    assert rows("workflow_executions") == tiny_source.counts["workflow_events"]
    assert rows("capabilities") == tiny_source.counts["capabilities"]
    assert rows("patterns") == tiny_source.counts["patterns"]
    assert rows("task_memories") == tiny_source.counts["memories"]


def test_document_is_the_framework_shape_with_honest_metadata(exported):
    export_dir, _ = exported
    doc = json.loads((export_dir / "learning_export.json").read_text())
    assert {"export_metadata", "capability_metrics", "pattern_statistics", "learning_effectiveness",
            "analytics_data"} <= set(doc)
    meta = doc["export_metadata"]
    assert meta["anonymization_applied"] is True
    assert meta["schema_version"] == "1.1"
    assert meta["project_hash"].startswith("project_")
    assert json.loads((export_dir / "export_metadata.json").read_text()) == meta
    assert doc["capability_metrics"]["total_capabilities"] == len(doc["capability_metrics"]["capabilities"])


def test_timestamps_are_days_and_ids_are_keyed_pseudonyms(exported):
    export_dir, _ = exported
    agents = pq.read_table(export_dir / "tables" / "agent_executions.parquet").to_pandas()
    assert (agents["timestamp"] == agents["timestamp"].dt.floor("D")).all()
    tasks = pq.read_table(export_dir / "tables" / "task_memories.parquet").to_pandas()
    assert tasks["task_id"].str.fullmatch(r"task_[0-9a-f]{16}").all()
    patterns = pq.read_table(export_dir / "tables" / "patterns.parquet").to_pandas()
    # joins survive: what patterns learned from points at exported task pseudonyms
    learned = {t for ts in patterns["learned_from"] for t in ts}
    assert learned & set(tasks["task_id"])


def test_no_planted_value_survives_in_any_exported_byte(exported, tiny_source):
    export_dir, _ = exported
    blob = exported_bytes(export_dir).lower()
    leaked = [(kind, v) for kind, values in tiny_source.planted.items() for v in values
              if v.lower().encode() in blob or json.dumps(v)[1:-1].lower().encode() in blob]
    assert leaked == []


def test_damaged_lines_are_skipped_and_recorded(exported, tiny_source, instance):
    _, result = exported
    from dagster import AssetKey

    skipped = sum(
        instance.get_latest_materialization_event(AssetKey(["raw", t])).asset_materialization.metadata["skipped"].value
        for t in TABLE_NAMES)
    assert skipped >= sum(tiny_source.damaged.values()) - 1  # the non-UTF-8 line may be the truncated one


def test_a_failed_blocking_check_publishes_nothing(tiny_source, tmp_path, instance, monkeypatch):
    import learning_assets.defs.export.checks as checks

    monkeypatch.setattr(checks, "scan_export", lambda directory, vocabulary: [{"file": "x", "location": "$", "rule": "test",
                                                                               "sample": "…"}])
    result = run_pipeline(tiny_source.root, tmp_path / "export", instance)
    assert not result.success
    assert not (tmp_path / "export" / "exports").exists()


def test_the_io_manager_hands_on_a_table_it_holds_and_reads_back_one_it_does_not(tmp_path):
    """Same process, file unchanged, and within the cache budget or held elsewhere: the object itself;
    otherwise the Parquet file."""
    import os

    import pandas as pd
    import pyarrow as pa
    from dagster import (
        build_init_resource_context,
        build_input_context,
        build_output_context,
    )

    from learning_assets.sources.frames import TEXT_LIST
    from resources import TableIOManager
    from resources.io_manager import ON_DEMAND, StoredTable

    big = pd.DataFrame({"a": pd.array(range(300_000), dtype="Int64")})  # 2.7 MB
    io = TableIOManager(base_dir=str(tmp_path), cache_mb=3).create_io_manager(build_init_resource_context())
    frame = pd.DataFrame({"a": pd.array([1, 2], dtype="Int64"), "b": pd.Series([["x"], []], dtype=TEXT_LIST)})
    io.handle_output(build_output_context(asset_key=["raw", "t"]), frame)
    load = lambda name: io.load_input(build_input_context(asset_key=["raw", name]))  # noqa: E731
    assert load("t") is frame
    path = tmp_path / "raw" / "t"
    os.utime(path, ns=(1, 1))  # rewritten by someone else: read back
    again = load("t")
    assert again is not frame and again.equals(frame)
    io.handle_output(build_output_context(asset_key=["raw", "t"]), frame.iloc[1:])  # not a 0..n index
    assert load("t").equals(frame.iloc[1:].reset_index(drop=True))
    io.handle_output(build_output_context(asset_key=["raw", "t"]), frame)
    io.handle_output(build_output_context(asset_key=["raw", "big"]), big.copy())
    assert load("big").equals(big) and load("t") is frame  # both fit: 3 MB
    assert load("big") is load("big")
    io.handle_output(build_output_context(asset_key=["raw", "big2"]), big.copy())
    # over budget: the least recently used table (big) is let go and read back from its file
    assert load("t") is frame
    again = load("big")
    assert again is not load("big") and again.equals(big)
    assert pa.Table.from_pandas(big).nbytes > 2 * 1024 * 1024
    # a table over the budget that something else still holds (an in-process run's result) is handed on
    io.handle_output(build_output_context(asset_key=["raw", "big3"]), big)
    io.handle_output(build_output_context(asset_key=["raw", "big4"]), big.copy())
    assert load("big3") is big
    # an input marked ON_DEMAND is a handle: nothing is read until the step asks, and it reads what load() reads
    on_demand = lambda name: io.load_input(build_input_context(asset_key=["raw", name], definition_metadata=ON_DEMAND))  # noqa: E731
    handle = on_demand("big")
    assert isinstance(handle, StoredTable) and handle.load().equals(big)
    assert on_demand("t").load() is frame
    with pytest.raises(FileNotFoundError, match="never stored"):
        on_demand("missing")


def test_one_table_can_be_materialized_alone_with_or_without_its_check(tiny_source, tmp_path, instance):
    """The multi-table steps are subsettable: one raw table, then its anonymized table without the check."""
    from dagster import AssetKey, AssetSelection, materialize

    from tests.conftest import ASSETS, resources_for

    resources = resources_for(tiny_source.root, tmp_path / "export", tmp_path / "storage")
    result = materialize(ASSETS, instance=instance, resources=resources,
                         selection=AssetSelection.assets(["raw", "agent_executions"]))
    assert [e.materialization.asset_key for e in result.get_asset_materialization_events()] == [
        AssetKey(["raw", "agent_executions"])]
    assert [e.asset_key for e in result.get_asset_check_evaluations()] == [AssetKey(["raw", "agent_executions"])]
    every_raw = AssetSelection.groups("raw") | AssetSelection.assets("anonymization_vocabulary")
    assert materialize(ASSETS, instance=instance, resources=resources, selection=every_raw).success
    only_table = AssetSelection.assets(["anonymized", "patterns"]).without_checks()
    result = materialize(ASSETS, instance=instance, resources=resources, selection=only_table)
    assert [e.materialization.asset_key for e in result.get_asset_materialization_events()] == [
        AssetKey(["anonymized", "patterns"])]
    assert result.get_asset_check_evaluations() == []
