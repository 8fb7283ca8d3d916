"""A sensor that notices new or changed source files and requests the affected exports.

The cursor holds, per source file, (size, mtime, content digest) and, for the files holding many days
(memories, outcomes), a digest per day; see `learning_assets.exportfiles.incremental.detect_changes`.
"""


import hashlib
import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from learning_assets.defs.incremental.assets import DAILY_PARTITIONS
from learning_assets.defs.incremental.jobs import daily_export_job, snapshot_export_job
from learning_assets.exportfiles.incremental import detect_changes
from resources import SourceDirectory


@sensor(
    name="learning_source_sensor",
    jobs=[daily_export_job, snapshot_export_job],
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Requests the daily partitions whose source records changed (and a snapshot when "
                "capabilities or patterns changed). The first tick records the current state only.",
)
def learning_source_sensor(context: SensorEvaluationContext, source: SourceDirectory):
    previous = json.loads(context.cursor) if context.cursor else None
    changes = detect_changes(source.root(), source.tz(), previous, DAILY_PARTITIONS.get_first_partition_key(),
                             DAILY_PARTITIONS.get_last_partition_key())
    cursor = json.dumps(changes.cursor, separators=(",", ":"), sort_keys=True)
    token = hashlib.sha256(cursor.encode()).hexdigest()[:12]
    requests = [RunRequest(job_name=daily_export_job.name, partition_key=day, run_key=f"daily:{day}:{token}")
                for day in changes.days]
    if changes.snapshot:
        requests.append(RunRequest(job_name=snapshot_export_job.name, run_key=f"snapshot:{token}"))
    if requests:
        return SensorResult(run_requests=requests, cursor=cursor)
    files = len(changes.cursor["files"])
    reason = (f"recorded the current state of {files} source file(s); changes from now on are exported"
              if changes.baseline else f"no source changes in {files} file(s)")
    return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)


SENSORS = [learning_source_sensor]
