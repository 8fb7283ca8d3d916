"""Running the receiving side in-process against the configured instance, for `learning insights pool`.

The inbox is scanned by `learning_submission_sensor` itself (its cursor kept in the store as
`pool_cursor.json`), and every run it requests is executed as the daemon would launch it: intake runs
first, then withdrawal runs, then retention, or a release (`shared_insights_job`, which purges expired
projects first). Partitions of this store that have no decision yet (a run that failed or never ran)
are run again, so nothing that arrived is left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import DagsterInstance, RunRequest, SensorResult, build_sensor_context

from learning_assets.definitions import build_definitions
from learning_assets.defs.export.run import ExportFailed, _failure_message
from learning_assets.defs.insights.assets import SUBMISSIONS, WITHDRAWALS
from learning_assets.defs.insights.jobs import (
    pool_retention_job,
    shared_insights_job,
    submission_intake_job,
    withdrawal_job,
)
from learning_assets.defs.insights.sensors import learning_submission_sensor
from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.insights.intake import read_verdict

CURSOR = "pool_cursor.json"
DECIDED = {submission_intake_job.name: "pooled_submission", withdrawal_job.name: "submission_withdrawal"}


@dataclass
class PoolResult:
    decisions: list[dict] = field(default_factory=list)  # one per package or request: its verdict metadata
    skipped: str | None = None  # the sensor's skip reason when it found nothing new (names files left for later)
    projects_expired: int = 0
    release: dict | None = None  # the shared_insights metadata of the release made, if any


def _metadata(result, node: str) -> dict:
    materializations = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in materializations[-1].metadata.items()} if materializations else {}


def _pending(instance: DagsterInstance, store) -> list[RunRequest]:
    """Partitions whose file arrived in this store but that have no final decision."""
    arrived = {a.get("submission") for a in store.read_log("arrivals.jsonl")}
    out = []
    for parts, job in ((SUBMISSIONS, submission_intake_job), (WITHDRAWALS, withdrawal_job)):
        for key in instance.get_dynamic_partitions(parts.name):
            verdict = read_verdict(store, key)
            if key in arrived and (verdict is None or verdict.get("status") == "verified"):
                out.append(RunRequest(partition_key=key, job_name=job.name))
    return out


def run_pool(inbox: str, state: str, *, release: bool = False, epsilon: float | None = None,
             instance: DagsterInstance | None = None, log_level: str = "CRITICAL",
             on_decision: Callable[[dict], None] | None = None) -> PoolResult:
    """Take in every new package and withdrawal request in `inbox`, then purge expired rows or release."""
    defs = build_definitions(inbox=inbox, state=state)
    instance = instance or DagsterInstance.get()
    resources = {name: defs.resources[name] for name in ("inbox", "insights_store")}
    store = resources["insights_store"]
    config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    out = PoolResult()

    cursor_file = store.dir() / CURSOR
    tick = learning_submission_sensor(build_sensor_context(
        instance=instance, resources=resources, cursor=cursor_file.read_text() if cursor_file.is_file() else None))
    requests = _pending(instance, store)
    if isinstance(tick, SensorResult):
        for add in tick.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
        requests += [r for r in tick.run_requests or [] if r.partition_key not in {p.partition_key for p in requests}]
        if tick.cursor:
            write_atomic(cursor_file, tick.cursor.encode())
        out.skipped = tick.skip_reason.skip_message if tick.skip_reason else None

    for request in sorted(requests, key=lambda r: r.job_name != submission_intake_job.name):  # packages first
        result = defs.resolve_job_def(request.job_name).execute_in_process(
            instance=instance, partition_key=request.partition_key, run_config=config, raise_on_error=False)
        if not result.success:
            raise ExportFailed(_failure_message(result, published=True))
        decision = {"kind": "package" if request.job_name == submission_intake_job.name else "withdrawal",
                    **_metadata(result, DECIDED[request.job_name])}
        out.decisions.append(decision)
        if on_decision is not None:
            on_decision(decision)

    job = shared_insights_job if release else pool_retention_job
    ops = {"ops": {"shared_insights": {"config": {"epsilon": epsilon}}}} if release and epsilon is not None else {}
    result = defs.resolve_job_def(job.name).execute_in_process(instance=instance, run_config={**config, **ops},
                                                              raise_on_error=False)
    if not result.success:
        raise ExportFailed(_failure_message(result))
    retention = _metadata(result, "pool_retention")
    out.projects_expired = int(retention.get("projects_expired", 0))
    if release:
        out.release = _metadata(result, "shared_insights")
    return out
