"""The `learning_export` code location: what it defines, and that it loads the way a fresh clone runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from learning_assets.definitions import defs

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The graph as reviewed: a change to any of these lists is a change to what the UI, the schedules and
# the CLI see, so it has to show up in the diff.
TABLES = ["agent_executions", "capabilities", "capability_refinements", "code_outcomes", "confidence_metrics",
          "expert_performance", "feedback", "learned_prompts", "patterns", "step_executions", "task_memories",
          "workflow_executions"]
DAILY_TABLES = ["agent_executions", "code_outcomes", "task_memories", "workflow_executions"]
SNAPSHOT_TABLES = ["capabilities", "capability_refinements", "patterns"]
EXPECTED = {
    "assets": sorted([
        "anonymization_report", "anonymization_vocabulary", "best_practices", "export_preview", "learning_dashboard",
        "learning_export", "pool_retention", "pooled_submission", "published_export", "shared_insights",
        "submission_intake", "submission_withdrawal",
        "insights_comparison",  # project side, run by hand with a release's path: in no job, schedule or sensor
        *(f"raw/{t}" for t in TABLES), *(f"anonymized/{t}" for t in TABLES),
        *(f"daily/{t}" for t in DAILY_TABLES), "daily/staged_export", "daily/published_export",
        *(f"snapshots/{t}" for t in SNAPSHOT_TABLES), "snapshots/staged_export", "snapshots/published_export",
    ]),
    "asset_checks": sorted([
        *(f"raw/{t}:pandera_schema" for t in TABLES), *(f"anonymized/{t}:pandera_schema" for t in TABLES),
        "learning_export:export_json_schema", "learning_export:gx_no_sensitive_text",
        "learning_export:gx_row_counts", "learning_export:gx_tables", "learning_export:manifest_intact",
        "learning_export:no_sensitive_values",
        "daily/staged_export:daily_manifest_intact", "daily/staged_export:daily_no_sensitive_values",
        "snapshots/staged_export:snapshot_manifest_intact", "snapshots/staged_export:snapshot_no_sensitive_values",
        "shared_insights:privacy_budget_accounted", "shared_insights:release_respects_k",
    ]),
    "jobs": ["daily_export_job", "dashboard_job", "learning_export_job", "pool_retention_job", "preview_job",
             "shared_insights_job", "snapshot_export_job", "submission_intake_job", "withdrawal_job"],
    "schedules": ["daily_export_schedule", "pool_retention_schedule", "snapshot_export_schedule"],
    "sensors": ["dashboard_automation", "learning_source_sensor", "learning_submission_sensor"],
    "resources": ["anonymization", "export_store", "governance", "inbox", "insights_store", "io_manager",
                  "source"],
}


def test_definitions_snapshot():
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    actual = {
        "assets": sorted(key.to_user_string() for key in graph.get_all_asset_keys()),
        "asset_checks": sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys),
        "jobs": sorted(job.name for job in repo.get_all_jobs() if not job.name.startswith("__")),
        "schedules": sorted(schedule.name for schedule in repo.schedule_defs),
        "sensors": sorted(sensor.name for sensor in repo.sensor_defs),
        "resources": sorted(repo.get_top_level_resources()),
    }
    assert actual == EXPECTED


def test_the_preview_is_in_no_export_job_and_no_schedule():
    """The preview's metadata holds raw values: only its own job runs it, and nothing runs that on a timer."""
    repo = defs.get_repository_def()
    preview = {key.to_user_string() for key in repo.get_job("preview_job").asset_layer.executable_asset_keys}
    assert preview == {"export_preview"}
    for job in repo.get_all_jobs():
        if job.name != "preview_job" and not job.name.startswith("__"):  # not the implicit job of all assets
            assert "export_preview" not in {k.to_user_string() for k in job.asset_layer.executable_asset_keys}, job.name
    assert all(schedule.job_name != "preview_job" for schedule in repo.schedule_defs)
    assert all("preview_job" not in [t.job_name for t in sensor.targets] for sensor in repo.sensor_defs)


def test_the_dashboard_is_no_step_of_the_export_and_follows_it():
    """The owner's dashboard is no part of an export: its own job, refreshed by a sensor that runs from the start."""
    repo = defs.get_repository_def()
    export = {key.to_user_string() for key in repo.get_job("learning_export_job").asset_layer.executable_asset_keys}
    assert "learning_dashboard" not in export and "published_export" in export
    sensor = repo.get_sensor_def("dashboard_automation")
    assert sensor.default_status.value == "RUNNING"
    assert {key.to_user_string() for key in sensor.asset_selection.resolve(repo.asset_graph)} == {"learning_dashboard"}


@pytest.mark.slow
@pytest.mark.parametrize("command, success", [
    (["dagster", "definitions", "validate"], "Validation successful for code location learning_export"),
    (["dg", "check", "defs"], "All definitions loaded successfully"),
])
def test_definitions_validate_from_a_fresh_checkout_without_environment(command, success, tmp_path):
    """`dagster definitions validate` and `dg check defs` from the repository root, with no DAGSTER_HOME
    and no LEARNING_*: Dagster makes a temporary instance in `.tmp_dagster_home_*/` there (git-ignored),
    configured by the root's dagster.yaml, and removes it on exit."""
    root = tmp_path / "clone"
    root.mkdir()
    for name in ("dagster.yaml", "workspace.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    for package in ("learning_assets", "resources", "schemas"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("LEARNING_")}
    # HOME too: with no DAGSTER_HOME, dg keeps its telemetry files in ~/.dagster.
    env.update(PYTHONPATH=str(root), PYTHONWARNINGS="ignore", HOME=str(tmp_path))

    proc = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert success in proc.stdout + proc.stderr
    assert not list(root.glob(".tmp_dagster_home_*")) and not (root / ".dagster_home").exists()
