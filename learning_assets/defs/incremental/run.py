"""Running the incremental jobs in-process (for the `learning backfill` / `learning snapshot` commands and tests).

A backfill of a date range is one run of `daily_export_job` over the partition key range (the same
thing `BackfillPolicy.single_run()` makes a UI backfill launch); it still writes one file set per day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance

from learning_assets.definitions import build_definitions
from learning_assets.defs.export.run import ExportFailed, _failure_message
from learning_assets.defs.incremental.assets import (
    DAILY_PARTITIONS,
    DAILY_PUBLISHED,
    DAILY_STAGED,
    SNAPSHOT_PUBLISHED,
)
from learning_assets.exportfiles import incremental as inc

DAILY_JOB = "daily_export_job"
# The run tags that make one run cover a range of partitions (dagster-io/dagster#10441, "single-run backfills").
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
SNAPSHOT_JOB = "snapshot_export_job"


@dataclass
class BackfillResult:
    run_id: str
    days: list[str]
    index: Path
    statuses: dict[str, str] = field(default_factory=dict)  # day -> published | replaced | unchanged
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> table -> rows


@dataclass
class SnapshotResult:
    run_id: str
    as_of: str
    status: str  # published | replaced | unchanged | withdrawn
    index: Path
    path: Path | None


def partition_bounds() -> tuple[str, str | None]:
    """First and last exportable day (the last is yesterday, UTC: only complete days are partitions)."""

    return DAILY_PARTITIONS.get_first_partition_key(), DAILY_PARTITIONS.get_last_partition_key()


def validate_range(start: str, end: str) -> list[str]:
    """The days of [start, end], or ValueError saying what is wrong with the range."""
    inc.parse_day(start, "--from")
    inc.parse_day(end, "--to")
    if start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    days = inc.day_range(start, end)
    first, last = partition_bounds()
    if days[0] < first:
        raise ValueError(f"--from {start} is before the first partition {first} (set LEARNING_DAILY_START)")
    if last is None or days[-1] > last:
        raise ValueError(f"--to {end} is after the last complete UTC day {last}")
    return days


def _definitions(source: str | None, output: str | None):

    return build_definitions(source=source, output=output)


def _run(job_name: str, source, output, instance, resources, log_level: str, run_config=None, tags=None):
    defs = _definitions(str(source) if source else None, str(output) if output else None)
    job = defs.resolve_job_def(job_name)
    run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}
    result = job.execute_in_process(instance=instance or DagsterInstance.get(), run_config=run_config,
                                    tags=tags, resources=resources, raise_on_error=False)
    if not result.success:
        raise ExportFailed(_failure_message(result))
    export_root = (resources or {}).get("export_store") or defs.resources["export_store"]
    return result, Path(export_root.root())


def _partition_metadata(result, key) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key == key and mat.partition:
            out[mat.partition] = {k: v.value for k, v in mat.metadata.items()}
    return out


def run_backfill(start: str, end: str, source: str | None = None, output: str | None = None, *,
                 instance: DagsterInstance | None = None, resources: dict | None = None,
                 log_level: str = "WARNING") -> BackfillResult:
    """Export every UTC day from `start` to `end` (inclusive, YYYY-MM-DD) in one run.

    Days already exported are replaced atomically if their data changed and left untouched otherwise.
    `resources` overrides the code location's resources (tests).
    """

    days = validate_range(start, end)
    tags = {PARTITION_RANGE_START_TAG: days[0], PARTITION_RANGE_END_TAG: days[-1]}
    result, root = _run(DAILY_JOB, source, output, instance, resources, log_level, tags=tags)
    published = _partition_metadata(result, DAILY_PUBLISHED)
    staged = _partition_metadata(result, DAILY_STAGED)
    return BackfillResult(run_id=result.run_id, days=days, index=inc.index_path(root),
                          statuses={d: published.get(d, {}).get("status", "") for d in days},
                          rows={d: staged.get(d, {}).get("rows", {}) for d in days})


def run_snapshot(source: str | None = None, output: str | None = None, *, as_of: str | None = None,
                 instance: DagsterInstance | None = None, resources: dict | None = None,
                 log_level: str = "WARNING") -> SnapshotResult:
    """Export a dated snapshot of capabilities, refinements and patterns (only if something changed)."""

    if as_of is not None:
        inc.parse_day(as_of, "--as-of")
    run_config = {"ops": {"snapshot_tables": {"config": {"as_of": as_of}}}} if as_of else None
    result, root = _run(SNAPSHOT_JOB, source, output, instance, resources, log_level, run_config=run_config)
    meta = {}
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key == SNAPSHOT_PUBLISHED:
            meta = {k: v.value for k, v in event.materialization.metadata.items()}
    day = meta.get("as_of", as_of or "")
    entry = inc.load_index(root)["snapshots"].get(day)
    return SnapshotResult(run_id=result.run_id, as_of=day, status=meta.get("status", ""), index=inc.index_path(root),
                          path=root / inc.SNAPSHOTS_DIR / day if entry else None)
