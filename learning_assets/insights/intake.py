"""Intake steps behind the Dagster sensor and assets: notice packages and withdrawal requests, verify a
package, pool it.

A submission (or a withdrawal request) is named by the first 20 hex digits of its file's SHA-256, so the
same bytes are the same submission whatever the file is called. Every decision is written to
`submissions/<submission>.json`; every refusal also to `rejections.jsonl`. None of these functions
raises for a bad package: refusals are results. Withdrawals and retention are in `erasure`.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.governance.consent import now_iso
from learning_assets.governance.withdrawal import MAX_REQUEST_BYTES
from learning_assets.insights import pool

if TYPE_CHECKING:  # the resources are passed in by the assets and the sensor
    from resources.shared_insights import InsightsStore, SubmissionInbox
from learning_assets.insights.package import (
    Limits,
    Rejected,
    environmental,
    open_package,
    sha256_file,
)

KEY_CHARS = 20
ERASURES = "erasures.jsonl"


def submission_key(sha256: str) -> str:
    return sha256[:KEY_CHARS]


def limits(inbox: SubmissionInbox) -> Limits:
    return Limits(max_package_bytes=inbox.max_package_bytes, max_member_bytes=inbox.max_member_bytes,
                  max_total_bytes=inbox.max_total_bytes, max_members=inbox.max_members)


@dataclass
class Scan:
    new: list[tuple[str, str]] = field(default_factory=list)  # (submission, file name)
    withdrawals: list[tuple[str, str]] = field(default_factory=list)  # (request, file name)
    notes: list[str] = field(default_factory=list)
    cursor: dict = field(default_factory=dict)


def scan_inbox(inbox: SubmissionInbox, store: InsightsStore, cursor: dict | None, known: set[str],
               now: float | None = None) -> Scan:
    """New, settled packages and withdrawal requests in the inbox; refusals that need no unpacking are
    logged here.

    `cursor` maps each file name to (size, mtime_ns, ctime_ns, submission) as last seen, so a file is
    looked at again only when it changes.
    """
    now = time.time() if now is None else now
    seen: dict[str, list] = dict((cursor or {}).get("files", {}))
    scan = Scan()
    present = set()
    limit = {"package": inbox.max_package_bytes, "withdrawal": MAX_REQUEST_BYTES}
    for kind, path in [*(("package", p) for p in inbox.packages()), *(("withdrawal", p) for p in inbox.withdrawals())]:
        name = path.name
        present.add(name)
        try:
            st = path.stat()
        except OSError:
            continue
        sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        prev = seen.get(name)
        if prev and prev[:3] == sig:
            continue
        if now - st.st_mtime < inbox.settle_seconds:
            scan.notes.append(f"{name}: modified {now - st.st_mtime:.0f}s ago, waiting for it to settle")
            continue
        try:
            if st.st_size > limit[kind]:
                raise Rejected("too_large", f"{kind} is {st.st_size} bytes, over the limit of {limit[kind]}")
            digest = sha256_file(path, limit[kind])
        except Rejected as exc:
            store.reject(None, exc.code, exc.reason, file=name)
            scan.notes.append(f"{name}: rejected ({exc.code})")
            seen[name] = [*sig, None]
            continue
        except OSError as exc:
            store.reject(None, "unreadable", f"cannot read the package ({type(exc).__name__})", file=name)
            scan.notes.append(f"{name}: rejected (unreadable)")
            seen[name] = [*sig, None]
            continue
        key = submission_key(digest)
        seen[name] = [*sig, key]
        if prev and len(prev) > 3 and prev[3] == key:
            continue  # touched, same bytes
        if key in known or any(key == k for k, _ in scan.new + scan.withdrawals):
            store.reject(key, "duplicate", f"same bytes as submission {key}, which is already known", file=name)
            scan.notes.append(f"{name}: duplicate of {key}")
            continue
        store.append("arrivals.jsonl", {"submission": key, "kind": kind, "file": name, "sha256": digest,
                                        "bytes": st.st_size})
        (scan.new if kind == "package" else scan.withdrawals).append((key, name))
    scan.cursor = {"files": {n: v for n, v in seen.items() if n in present}}
    return scan


# --- verdicts -------------------------------------------------------------------------------------


def verdict_path(store: InsightsStore, key: str) -> Path:
    return store.root() / "submissions" / f"{key}.json"


def read_verdict(store: InsightsStore, key: str) -> dict | None:
    return store.read_json(verdict_path(store, key))


def save_verdict(store: InsightsStore, verdict: dict) -> dict:
    verdict["updated_at"] = now_iso()
    store.write_json(verdict_path(store, verdict["submission"]), verdict)
    return verdict


def reject_verdict(store: InsightsStore, verdict: dict, code: str, reason: str) -> dict:
    verdict.update(status="rejected", code=code, reason=reason)
    store.reject(verdict["submission"], code, reason, file=verdict.get("file"))
    with contextlib.suppress(OSError):  # keep no copy of refused content; the inbox still has the original
        received_path(store, verdict["submission"]).unlink()
    return save_verdict(store, verdict)


def received_path(store: InsightsStore, key: str) -> Path:
    return store.root() / "received" / f"{key}.tar.gz"


def project_path(store: InsightsStore, project: str) -> Path:
    """The project's state: its pooled submission, when it was received, its withdrawal commitment."""
    return store.root() / "projects" / f"{project}.json"


def withdrawn_commitments(store: InsightsStore) -> set[str]:
    return {c for e in store.read_log(ERASURES) for c in e.get("commitments") or ()}


def _copy_verified(src: Path, dest: Path, expected_sha: str, limit: int) -> None:
    """Copy the inbox file into the store while hashing it; the copy is what gets verified."""
    digest = hashlib.sha256()

    def chunks():
        size = 0
        with open(src, "rb") as fin:
            while chunk := fin.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise Rejected("too_large", f"package grew over the limit of {limit} bytes")
                digest.update(chunk)
                yield chunk

    def unchanged(_copy: Path) -> None:
        if digest.hexdigest() != expected_sha:
            raise Rejected("changed", "the package changed after it arrived in the inbox; resubmit it")

    write_atomic(dest, chunks(), before_replace=unchanged)


def receive(key: str, inbox: SubmissionInbox, store: InsightsStore) -> dict:
    """Verify submission `key` and stage its tables; returns the verdict (`verified` or `rejected`)."""
    previous = read_verdict(store, key)
    if previous and previous.get("status") in ("accepted", "superseded"):
        return previous  # already pooled once; re-materializing is a no-op
    arrival = store.arrival(key) or {}
    verdict = {"submission": key, "file": arrival.get("file"), "package_sha256": arrival.get("sha256"),
               "received_at": now_iso()}
    work = store.root() / "intake" / key
    shutil.rmtree(work, ignore_errors=True)
    try:
        if not arrival:
            raise Rejected("package_missing", "no package arrived for this submission (packages enter through "
                                              "the inbox sensor)")
        store.dir("received")
        received = received_path(store, key)
        if not (received.is_file() and sha256_file(received) == arrival["sha256"]):
            src = inbox.root() / arrival["file"]
            if not src.is_file():
                raise Rejected("package_missing", "the package is no longer in the inbox")
            _copy_verified(src, received, arrival["sha256"], inbox.max_package_bytes)
        verified = open_package(received, work, limits(inbox), require_signature=store.require_signature,
                                min_k=store.min_export_k, accept_migrated=store.accept_migrated,
                                leak_rescan=store.leak_rescan, migration_key=store.migration_key())
    except Rejected as exc:
        shutil.rmtree(work, ignore_errors=True)
        return reject_verdict(store, verdict, exc.code, exc.reason)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        if environmental(exc):
            raise  # disk full or read-only store: a failed run to retry, not a verdict on the package
        return reject_verdict(store, verdict, "unreadable", f"cannot read the package ({type(exc).__name__})")
    staged = work / "tables"
    staged.mkdir()
    for name, df in verified.tables.items():
        if len(df):  # a table without rows leaves the project with none in the pooled table
            pool.write_table(df, name, staged / f"{name}.parquet", key, conformed=True)
    shutil.rmtree(work / "unpacked", ignore_errors=True)
    shutil.rmtree(work / "control", ignore_errors=True)
    verdict.update(status="verified", code=None, reason=None, project=verified.project,
                   export_id=verified.export_id, export_created_at=verified.export_created_at,
                   schema_version=verified.schema_version, migrated_from=verified.migrated_from,
                   k=verified.report.get("k"), achieved_k=verified.report.get("achieved_k"),
                   rows={n: int(len(df)) for n, df in verified.tables.items()},
                   warnings=verified.warnings[:20], withdrawal_commitment=verified.withdrawal_commitment)
    return save_verdict(store, verdict)


def parse_time(value) -> datetime | None:
    with contextlib.suppress(TypeError, ValueError):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return None


def commit(key: str, store: InsightsStore) -> dict:
    """Pool a verified submission, replacing its project's earlier rows; duplicates, stale and withdrawn ones
    are rejected."""
    verdict = read_verdict(store, key)
    if verdict is None:
        return {"submission": key, "status": "rejected", "code": "package_missing", "reason": "not verified"}
    if verdict["status"] != "verified":
        return verdict
    work = store.root() / "intake" / key
    with store.lock():
        commitment = verdict.get("withdrawal_commitment")
        if commitment and commitment in withdrawn_commitments(store):
            shutil.rmtree(work, ignore_errors=True)
            return reject_verdict(store, verdict, "withdrawn", "the project withdrew this submission; it is not "
                                                               "pooled again")
        project_file = project_path(store, verdict["project"])
        state = store.read_json(project_file)
        if state and state.get("submission") != key:
            if state.get("export_id") == verdict["export_id"]:
                shutil.rmtree(work, ignore_errors=True)
                return reject_verdict(store, verdict, "duplicate", f"export {verdict['export_id']} of this project was "
                                                            f"already accepted as submission {state['submission']}")
            new, old = parse_time(verdict["export_created_at"]), parse_time(state.get("export_created_at"))
            if new is not None and old is not None and new < old:
                shutil.rmtree(work, ignore_errors=True)
                return reject_verdict(store, verdict, "stale", f"the project already has a newer export (submission "
                                                        f"{state['submission']})")
        staged = {p.stem: p for p in (work / "tables").glob("*.parquet")}
        pool.replace_project(store.root(), verdict["project"], key, staged)
        replaced = state.get("submission") if state and state.get("submission") != key else None
        store.write_json(project_file, {"project": verdict["project"], "submission": key,
                                        "export_id": verdict["export_id"],
                                        "export_created_at": verdict["export_created_at"],
                                        "received_at": verdict["received_at"], "accepted_at": now_iso(),
                                        "withdrawal_commitment": commitment,
                                        "rows": verdict["rows"]})
        verdict.update(status="accepted", replaced=replaced)
        save_verdict(store, verdict)
        if replaced:
            old_verdict = read_verdict(store, replaced)
            if old_verdict:
                old_verdict.update(status="superseded", superseded_by=key)
                save_verdict(store, old_verdict)
    shutil.rmtree(work, ignore_errors=True)
    return verdict
