"""New packages in the inbox become submission partitions and intake runs; new withdrawal requests become
request partitions and withdrawal runs (requested after the packages of the same tick)."""

import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from learning_assets.defs.insights.assets import SUBMISSIONS, WITHDRAWALS
from learning_assets.defs.insights.jobs import submission_intake_job, withdrawal_job
from learning_assets.insights.intake import scan_inbox
from resources.shared_insights import InsightsStore, SubmissionInbox


@sensor(name="learning_submission_sensor", jobs=[submission_intake_job, withdrawal_job], minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Adds one `learning_submissions` partition per new package in the inbox and requests its "
                    "intake run, and one `learning_withdrawals` partition per new withdrawal request and its "
                    "withdrawal run. Unreadable, oversized and duplicate files are logged to rejections.jsonl.")
def learning_submission_sensor(context: SensorEvaluationContext, inbox: SubmissionInbox,
                               insights_store: InsightsStore):
    try:
        cursor = json.loads(context.cursor) if context.cursor else {}
    except ValueError:
        cursor = {}
    if not inbox.root().is_dir():
        return SensorResult(skip_reason=SkipReason(f"inbox {inbox.root()} does not exist"), cursor=context.cursor)
    try:
        known = {*context.instance.get_dynamic_partitions(SUBMISSIONS.name),
                 *context.instance.get_dynamic_partitions(WITHDRAWALS.name)}
        scan = scan_inbox(inbox, insights_store, cursor, known)
    except Exception as exc:  # never let one bad file or a full disk stop the sensor for good
        context.log.error(f"inbox scan failed: {type(exc).__name__}: {exc}")
        return SensorResult(skip_reason=SkipReason(f"inbox scan failed ({type(exc).__name__})"),
                            cursor=context.cursor)
    for note in scan.notes:
        context.log.info(note)
    new_cursor = json.dumps(scan.cursor, separators=(",", ":"), sort_keys=True)
    if not scan.new and not scan.withdrawals:
        more = f" and {len(scan.notes) - 3} more" if len(scan.notes) > 3 else ""
        return SensorResult(skip_reason=SkipReason("; ".join(["no new submissions", *scan.notes[:3]]) + more),
                            cursor=new_cursor)
    keys, requests = [k for k, _ in scan.new], [k for k, _ in scan.withdrawals]
    runs = [RunRequest(partition_key=k, run_key=f"submission:{k}", job_name=submission_intake_job.name)
            for k in keys]
    runs += [RunRequest(partition_key=k, run_key=f"withdrawal:{k}", job_name=withdrawal_job.name) for k in requests]
    adds = [parts.build_add_request(ks) for parts, ks in ((SUBMISSIONS, keys), (WITHDRAWALS, requests)) if ks]
    return SensorResult(run_requests=runs, dynamic_partitions_requests=adds, cursor=new_cursor)
