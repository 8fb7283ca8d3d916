"""Erasure from the pool: a project that withdraws by request, and projects past the retention age.

Either way the project's pooled rows, its received packages, staged tables and `projects/` record are
deleted, its verdicts are marked `withdrawn` or `expired`, and one line goes to `erasures.jsonl`: the
project pseudonym, the submissions, the row count and the withdrawn commitments (hashes), never a
value of its data and never the secret a request revealed. Later releases read the pool and so are
computed without the project; releases already published stay.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from learning_assets.governance.consent import now_iso
from learning_assets.governance.withdrawal import (
    MAX_REQUEST_BYTES,
    InvalidRequest,
    commitment_of,
    parse_request,
    proves,
)
from learning_assets.insights import pool
from learning_assets.insights.intake import (
    ERASURES,
    parse_time,
    project_path,
    read_verdict,
    received_path,
    reject_verdict,
    save_verdict,
)
from learning_assets.insights.package import Rejected, environmental

if TYPE_CHECKING:  # the resources are passed in by the assets
    from resources.shared_insights import InsightsStore, SubmissionInbox


def _request_bytes(path: Path, sha256: str) -> bytes:
    """The request as it arrived (its hash was taken by the inbox scan), read once and bounded."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_REQUEST_BYTES + 1)
    except FileNotFoundError:
        raise Rejected("request_missing", "the request is no longer in the inbox") from None
    except OSError as exc:
        if environmental(exc):
            raise
        raise Rejected("unreadable", f"cannot read the request ({type(exc).__name__})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise Rejected("changed", "the request changed after it arrived in the inbox; deliver it again")
    return data


def withdraw(key: str, inbox: SubmissionInbox, store: InsightsStore) -> dict:
    """Verify withdrawal request `key` and erase its project; returns the decision (`erased` or `rejected`)."""
    previous = read_verdict(store, key)
    if previous and previous.get("status") == "erased":
        return previous
    arrival = store.arrival(key) or {}
    decision = {"submission": key, "kind": "withdrawal", "file": arrival.get("file"), "received_at": now_iso()}
    try:
        if not arrival:
            raise Rejected("request_missing", "no withdrawal request arrived under this key (requests enter "
                                              "through the inbox)")
        try:
            request = parse_request(_request_bytes(inbox.root() / arrival["file"], arrival["sha256"]))
        except InvalidRequest as exc:
            raise Rejected("malformed", f"not a valid withdrawal request ({exc})") from None
        decision["project"] = request.project
        with store.lock():
            state = store.read_json(project_path(store, request.project))
            if state is None:
                raise Rejected("not_pooled", f"project {request.project} has no rows in the pool; nothing was "
                                             f"erased")
            commitment = state.get("withdrawal_commitment")
            if not commitment:
                raise Rejected("no_commitment", f"the pooled submission of project {request.project} carries no "
                                                f"withdrawal commitment; nothing was erased")
            if not proves(request, commitment):
                raise Rejected("wrong_secret", f"the request does not prove the withdrawal secret of project "
                                               f"{request.project}'s pooled submission; nothing was erased")
            # every submission the request proves is withdrawn, also one still on its way to the pool
            proven = sorted({c for c, secret in request.proofs if commitment_of(request.project, secret) == c})
            erased = _erase(store, request.project, "withdrawn", commitments=proven, request=key)
    except Rejected as exc:
        return reject_verdict(store, decision, exc.code, exc.reason)
    decision.update(status="erased", code=None, reason=None, **erased)
    return save_verdict(store, decision)


def purge_expired(store: InsightsStore, now: datetime | None = None) -> list[str]:
    """Erase every project whose pooled submission was received over `store.retention_days` ago."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=store.retention_days)
    expired = []
    with store.lock():
        for path in sorted((store.root() / "projects").glob("*.json")):
            state = store.read_json(path) or {}
            received = parse_time(state.get("received_at") or state.get("accepted_at"))
            if state.get("project") and received is not None and received < cutoff:
                _erase(store, state["project"], "expired", received_at=received.isoformat(),
                       retention_days=store.retention_days)
                expired.append(state["project"])
    return expired


def _erase(store: InsightsStore, project: str, event: str, **record) -> dict:
    """Delete everything the store holds of `project` and log it; call with the store's lock held."""
    state_file = project_path(store, project)
    state = store.read_json(state_file) or {}
    rows = int(sum((state.get("rows") or {}).values()))
    pool.remove_project(store.root(), project)
    # a withdrawal also stops a verified submission on its way to the pool; expiry concerns pooled ones only
    statuses = ("verified", "accepted", "superseded") if event == "withdrawn" else ("accepted", "superseded")
    submissions = []
    for path in sorted((store.root() / "submissions").glob("*.json")):
        verdict = store.read_json(path)
        if not verdict or verdict.get("project") != project or verdict.get("status") not in statuses:
            continue
        key = verdict["submission"]
        with contextlib.suppress(OSError):
            received_path(store, key).unlink()
        shutil.rmtree(store.root() / "intake" / key, ignore_errors=True)
        verdict.update(status=event, warnings=None)
        save_verdict(store, verdict)
        submissions.append(key)
    state_file.unlink(missing_ok=True)
    store.append(ERASURES, {"event": event, "project": project, "submissions": submissions, "rows": rows,
                            **record})
    return {"erased_submissions": submissions, "erased_rows": rows}
