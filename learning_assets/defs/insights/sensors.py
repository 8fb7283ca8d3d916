"""New packages in the inbox become submission partitions and intake runs."""

import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from learning_assets.defs.insights.assets import SUBMISSIONS
from learning_assets.defs.insights.jobs import submission_intake_job
from learning_assets.insights.intake import scan_inbox
from resources.shared_insights import InsightsStore, SubmissionInbox


@sensor(name="learning_submission_sensor", job=submission_intake_job, minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Adds one `learning_submissions` partition per new package in the inbox and requests its "
                    "intake run. Unreadable, oversized and duplicate packages are logged to rejections.jsonl.")
def learning_submission_sensor(context: SensorEvaluationContext, inbox: SubmissionInbox,
                               insights_store: InsightsStore):
    try:
        cursor = json.loads(context.cursor) if context.cursor else {}
    except ValueError:
        cursor = {}
    if not inbox.root().is_dir():
        return SensorResult(skip_reason=SkipReason(f"inbox {inbox.root()} does not exist"), cursor=context.cursor)
    try:
        known = set(context.instance.get_dynamic_partitions(SUBMISSIONS.name))
        scan = scan_inbox(inbox, insights_store, cursor, known)
    except Exception as exc:  # never let one bad file or a full disk stop the sensor for good
        context.log.error(f"inbox scan failed: {type(exc).__name__}: {exc}")
        return SensorResult(skip_reason=SkipReason(f"inbox scan failed ({type(exc).__name__})"),
                            cursor=context.cursor)
    for note in scan.notes:
        context.log.info(note)
    new_cursor = json.dumps(scan.cursor, separators=(",", ":"), sort_keys=True)
    if not scan.new:
        return SensorResult(skip_reason=SkipReason("no new submissions" + (f"; {len(scan.notes)} note(s)"
                                                                          if scan.notes else "")),
                            cursor=new_cursor)
    keys = [k for k, _ in scan.new]
    return SensorResult(run_requests=[RunRequest(partition_key=k, run_key=f"submission:{k}") for k in keys],
                        dynamic_partitions_requests=[SUBMISSIONS.build_add_request(keys)], cursor=new_cursor)
