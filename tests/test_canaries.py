"""Canaries: known sensitive values planted into every text field of every source, in several
spellings (as is, lower-cased, JSON-escaped, split across fields), must not survive in any exported byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import exported_bytes, run_pipeline

USER, HOST, PROJECT = "canaryuserxq", "canaryhost-vv-91", "canaryprojzz"
CANARIES = {
    "posix_path": f"/home/{USER}/{PROJECT}/src/billing/charge_card.py",
    "windows_path": f"C:\\Users\\{USER}\\{PROJECT}\\lib\\ledger.py",
    "unc_path": f"\\\\{HOST}\\share\\{PROJECT}\\docs\\plan.md",
    "file_url": f"file:///Users/{USER}/{PROJECT}/tests/test_x.py",
    "tilde_path": f"~/{PROJECT}/notes/todo.txt",
    "email": "canary.person@canarymail-zz.example",
    "aws_key": "AKIACANARY7Q2W3E4R5T",
    "github_token": "ghp_CanaryTok3nAbCdEfGhIjKlMnOpQrStUvWx12",
    "api_key": "sk-canaryKEY0123456789abcdefGHIJ",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAcanary\n-----END PRIVATE KEY-----",
    "url_password": "https://deploy:CanaryPa55word@db.canaryhost.internal/app",
    "ip": "10.77.66.55",
    "phone": "+1 415-555-0177",
    "internal_url": f"https://wiki.{HOST}.corp.internal/pages/42",
    "code": "def canary_secret_function(amount):\n    return amount * 2",
    "task_id": "task-2099-01-01-7777",
    "workflow_id": "wf-20990101-101010-cafe",
    "pattern_id": "func_canary_helper_fn_7",
    "user_at_host": f"{USER}@{HOST}",
    "high_entropy": "Zq8xK2mP9vL4nR7tY1wE5sA3dF6gH0jC",
}
# What must never appear: the distinctive part of each canary.
NEEDLES = [USER, HOST, PROJECT, "canarymail-zz", "AKIACANARY7Q2W3E4R5T", "CanaryTok3nAbCdEfGhIjKlMnOpQrStUvWx12",
           "canaryKEY0123456789abcdefGHIJ", "eyJzdWIiOiJjYW5hcnkifQ", "MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAcanary",
           "CanaryPa55word", "10.77.66.55", "415-555-0177", "canary_secret_function", "task-2099-01-01-7777",
           "wf-20990101-101010-cafe", "canary_helper_fn", "Zq8xK2mP9vL4nR7tY1wE5sA3dF6gH0jC"]


def spellings(value: str) -> list[str]:
    return [value, value.lower(), json.dumps(value)[1:-1], f"see {value} now"]


def texts() -> list[str]:
    return [s for v in CANARIES.values() for s in spellings(v)]


def _ts(day: int) -> str:
    return f"2026-03-0{day}T10:00:00"


def build_source(root: Path) -> None:
    """Every string field of every source gets every canary spelling, one record per value."""
    (root / "capabilities").mkdir(parents=True)
    (root / "memory").mkdir()
    (root / "learning").mkdir()
    (root / "analytics" / "history").mkdir(parents=True)
    (root / "feedback").mkdir()
    (root / "metrics").mkdir()
    (root / "learned-prompts" / "system").mkdir(parents=True)
    t = texts()
    caps = [{"capability_id": f"reviewer.{x}", "agent_id": f"reviewer@{HOST}" if i % 2 else x,
             "success_rate": 0.5, "usage_count": 3, "last_improved": _ts(1),
             "refinement_history": [{"timestamp": _ts(1), "improvement_type": x, "learned_patterns": [x],
                                     "before_metric": {}, "after_metric": {},
                                     "metadata": {"file": x, "description": x, x[:20]: x}}],
             "metadata": {"description": x, "note": x}} for i, x in enumerate(t)]
    (root / "capabilities" / "capabilities.json").write_text(json.dumps({"version": "1.0", "metrics": caps}))
    memories = [{"task_id": x, "agent_id": x, "command": x, "timestamp": _ts(2), "outcome": x,
                 "key_learnings": [x, f"{USER} on {HOST}"], "patterns_used": [x], "similar_tasks": [x],
                 "context": {"file": x, "description": x, "tags": [x], "other": x}, "metadata": {"reason": x}}
                for x in t]
    (root / "memory" / "memories.json").write_text(json.dumps(memories))
    with open(root / "learning" / "patterns.jsonl", "w") as fh:
        for x in t:
            fh.write(json.dumps({"pattern_id": x, "pattern_type": x, "code_snippet": x, "context": x,
                                 "learned_from": [x], "metadata": {"description": x}, "failure_reasons": [x],
                                 "quality_score": 0.5}) + "\n")
    with open(root / "learning" / "outcomes.jsonl", "w") as fh:
        for x in t:
            fh.write(json.dumps({"workflow_id": x, "file_path": x, "initial_scores": {x: 1.0, "overall": 2.0},
                                 "final_scores": {"overall": 3.0}, "expert_consultations": [x],
                                 "timestamp": _ts(3), "agent_id": x, "prompt_hash": x}) + "\n")
    with open(root / "learning" / "expert_performance.jsonl", "w") as fh:
        for x in t:
            fh.write(json.dumps({"expert_id": x, "domain": x, "confidence": 0.5, "query": x,
                                 "timestamp": _ts(3)}) + "\n")
    (root / "confidence_metrics.json").write_text(json.dumps({"metrics": [
        {"timestamp": _ts(3), "agent_id": x, "domain": x, "confidence": 0.5, "primary_expert": x,
         "query_preview": x} for x in t]}))
    for i, x in enumerate(t):
        (root / "feedback" / f"feedback_20260303_100000_{i:06d}.json").write_text(json.dumps({
            "id": x, "agent_name": x, "command": x, "accepted": True, "feedback_text": x, "timestamp": _ts(3),
            "metadata": {"target_file": x, "other": x}, "_metadata": {"file": x}}))
        (root / "feedback" / f"feedback-{i:08d}.json").write_text(json.dumps({
            "feedback_id": x, "timestamp": "2026-03-03T10:00:00Z", "performance_ratings": {x: 1},
            "suggestions": [x], "context": {"workflow_id": x, "agent_id": x, "task_type": x},
            "metrics": {"additional": {"host": x}}, "project_id": x}))
    (root / "learned-prompts" / "system" / "system_20260303_100000.json").write_text(json.dumps({
        "prompt_type": "system", "agent_name": "debugger", "prompt": " ".join(t), "examples": [{"input": t[0]}]}))
    with open(root / "metrics" / "executions_2026-03-03.jsonl", "w") as fh:
        for x in t:
            fh.write(json.dumps({"execution_id": x, "workflow_id": x, "step_id": x, "command": x, "status": x,
                                 "started_at": _ts(3), "error_message": x, "skill": x}) + "\n")
    for day in (1, 2):
        with open(root / "analytics" / "history" / f"agents-2026-03-0{day}.jsonl", "w") as fh:
            for x in t:
                fh.write(json.dumps({"agent_id": x, "agent_name": x, "duration": 1.0, "success": True,
                                     "timestamp": _ts(day) + "+00:00"}) + "\n")
        with open(root / "analytics" / "history" / f"workflows-2026-03-0{day}.jsonl", "w") as fh:
            for x in t:
                fh.write(json.dumps({"workflow_id": x, "workflow_name": x, "duration": 1.0, "steps": 2,
                                     "success": True, "timestamp": _ts(day)}) + "\n")


@pytest.mark.parametrize("k", [1, 5])
def test_no_canary_survives_in_any_exported_byte(tmp_path, instance, k):
    source = tmp_path / PROJECT / ".tapps-agents"
    build_source(source)
    result = run_pipeline(source, tmp_path / "export", instance, k=k)
    assert result.success, "the pipeline (and its leak rescan) must pass on canary data"
    export_dir = next((tmp_path / "export" / "exports").iterdir())
    blob = exported_bytes(export_dir).lower()
    survivors = [n for n in NEEDLES if n.lower().encode() in blob or json.dumps(n)[1:-1].lower().encode() in blob]
    assert survivors == []
    if k == 1:  # nothing was suppressed away: the canaries really went through every rule
        report = json.loads((export_dir / "anonymization_report.json").read_text())
        assert report["tables"]["task_memories"]["rows_out"] == len(set(texts()))
