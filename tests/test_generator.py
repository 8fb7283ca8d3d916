"""Tests of the synthetic `.tapps-agents/` generator (tiny scale; fast)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import re
from pathlib import Path

import pytest

from benchmarks.generator import ROLES, SCALES, GeneratedData, Scale, generate, main

TINY = SCALES["tiny"]
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "learning_assets" / "sample_data"

CONTRACT_FILES = (
    "capabilities/capabilities.json",
    "memory/memories.json",
    "learning/patterns.jsonl",
    "learning/outcomes.jsonl",
    "analytics/metrics.json",
    "learning/expert_performance.jsonl",
    "confidence_metrics.json",
)
CONTRACT_GLOBS = (
    "analytics/history/agents-*.jsonl",
    "analytics/history/workflows-*.jsonl",
    "feedback/feedback_*.json",
    "feedback/feedback-*.json",
    "learned-prompts/eval/eval_*.json",
    "learned-prompts/system/system_*.json",
    "learned-prompts/instructions/instructions_*.json",
    "metrics/executions_*.jsonl",
)
REQUIRED_KINDS = {
    "user", "host", "project", "path", "email", "aws_key", "github_token", "api_key", "jwt",
    "private_key", "url_password", "ip", "phone", "internal_url", "code", "task_id", "workflow_id",
    "pattern_id", "capability_id", "prompt_hash", "function_name",
}
AWARE = re.compile(r"(Z|[+-]\d\d:\d\d)$")


# --- helpers ----------------------------------------------------------------------------------

def _jsonl(path: Path) -> tuple[list[dict], int]:
    """(good objects, bad lines) of a JSON Lines file."""
    good, bad = [], 0
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            bad += 1
            continue
        if isinstance(obj, dict):
            good.append(obj)
        else:
            bad += 1
    return good, bad


def _doc(path: Path):
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return json.loads(data.decode("utf-8"))


def _strings(obj, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.append(k)
            _strings(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _strings(v, out)


def _decoded_text(path: Path) -> str:
    """All strings of a file's JSON values (decoded), one per line; damaged lines skipped."""
    out: list[str] = []
    if path.name.endswith(".jsonl"):
        for obj in _jsonl(path)[0]:
            _strings(obj, out)
    else:
        _strings(_doc(path), out)
    return "\n".join(out)


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in _all_files(root)}


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> GeneratedData:
    return generate(tmp_path_factory.mktemp("gen") / ".tapps-agents", TINY, seed=7)


# --- API --------------------------------------------------------------------------------------

def test_scales():
    assert Scale() == SCALES["sample"]
    assert Scale().start == dt.date(2026, 3, 1)
    typical, large = SCALES["typical"], SCALES["large"]
    assert (typical.capabilities, typical.patterns, typical.memories, typical.days) == (1_000, 10_000, 10_000, 90)
    assert (large.capabilities, large.patterns, large.memories, large.days) == (10_000, 100_000, 100_000, 90)
    assert abs(typical.agent_events_per_day * typical.days - 100_000) < 100
    assert abs(large.agent_events_per_day * large.days - 1_000_000) < 1_000
    assert (TINY.capabilities, TINY.patterns, TINY.memories, TINY.days, TINY.agent_events_per_day) == (8, 15, 20, 3, 12)


def test_deterministic(tmp_path, tiny):
    again = generate(tmp_path / "a" / ".tapps-agents", TINY, seed=7)
    assert _snapshot(again.root) == _snapshot(tiny.root)
    assert again.planted == tiny.planted and again.counts == tiny.counts and again.damaged == tiny.damaged
    other = generate(tmp_path / "b" / ".tapps-agents", TINY, seed=8)
    assert _snapshot(other.root) != _snapshot(tiny.root)


def test_second_process_gives_identical_output(tmp_path, tiny, monkeypatch):
    import benchmarks.generator as generator

    monkeypatch.setattr(generator, "PARALLEL_MIN_AGENT_EVENTS", 0)  # as at large scales
    data = generate(tmp_path / ".tapps-agents", TINY, seed=7)
    assert _snapshot(data.root) == _snapshot(tiny.root)
    assert (data.planted, data.counts, data.damaged) == (tiny.planted, tiny.counts, tiny.damaged)


def test_regenerating_in_place_replaces_files(tmp_path):
    root = tmp_path / ".tapps-agents"
    generate(root, dataclasses.replace(TINY, days=5), seed=1)
    data = generate(root, TINY, seed=1)
    assert sorted(p.name for p in (root / "analytics" / "history").glob("agents-*")) == [
        f"agents-{d}.jsonl" for d in sorted(data.agent_events_per_day)]
    assert _snapshot(root) == _snapshot(generate(tmp_path / "fresh", TINY, seed=1).root)


# --- files and shapes -------------------------------------------------------------------------

def test_contract_files_present(tiny):
    for rel in CONTRACT_FILES:
        assert (tiny.root / rel).is_file(), rel
    for pattern in CONTRACT_GLOBS:
        assert list(tiny.root.glob(pattern)), pattern
    for p in tiny.root.glob("feedback/feedback_*.json"):
        assert re.fullmatch(r"feedback_\d{8}_\d{6}_\d{6}\.json", p.name)
    for p in tiny.root.glob("feedback/feedback-*.json"):
        assert re.fullmatch(r"feedback-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json", p.name)
    for p in tiny.root.glob("learned-prompts/*/*.json"):
        assert re.fullmatch(rf"{p.parent.name}_\d{{8}}_\d{{6}}\.json", p.name)


def test_capabilities_shape(tiny):
    doc = _doc(tiny.root / "capabilities" / "capabilities.json")
    assert doc["version"] == "1.0" and doc["hardware_profile"] == "workstation"
    metrics = doc["metrics"]
    assert len(metrics) == tiny.counts["capabilities"]
    assert len({m["capability_id"] for m in metrics}) == len(metrics)
    n_ref, identical = 0, 0
    for m in metrics:
        assert isinstance(m["capability_id"], str) and m["agent_id"] in ROLES
        for k in ("success_rate", "average_duration", "quality_score"):
            assert isinstance(m[k], float)
        assert isinstance(m["usage_count"], int) and isinstance(m["metadata"], dict)
        assert AWARE.search(m["last_improved"])
        for ref in m["refinement_history"]:
            n_ref += 1
            assert ref["improvement_type"] in ("prompt_optimization", "pattern_learning", "feedback_loop")
            assert AWARE.search(ref["timestamp"])
            assert set(ref["before_metric"]) == {"success_rate", "average_duration", "quality_score", "usage_count"}
            assert set(ref["after_metric"]) == set(ref["before_metric"])
            identical += ref["after_metric"] == ref["before_metric"]
            assert isinstance(ref["improvement_percent"], float)
            assert isinstance(ref["learned_patterns"], list) and isinstance(ref["metadata"], dict)
    assert n_ref == tiny.counts["refinements"] and identical >= 1


def test_memories_shape(tiny):
    mems = _doc(tiny.root / "memory" / "memories.json")
    assert isinstance(mems, list) and len(mems) == tiny.counts["memories"]
    for m in mems:
        assert re.fullmatch(r"task-\d{4}-\d{2}-\d{2}-\d{4}", m["task_id"])
        assert m["timestamp"].startswith(m["task_id"][5:15])
        assert _ts(m["timestamp"]).tzinfo is None
        assert m["outcome"] in ("success", "failure", "partial", "timeout", "error")
        assert isinstance(m["quality_score"], float) and isinstance(m["command"], str)
        for k in ("key_learnings", "patterns_used", "similar_tasks"):
            assert isinstance(m[k], list) and all(isinstance(x, str) for x in m[k])
        assert isinstance(m["context"], dict) and isinstance(m["metadata"], dict)


def test_patterns_and_outcomes_shape(tiny):
    pats, bad = _jsonl(tiny.root / "learning" / "patterns.jsonl")
    assert len(pats) == tiny.counts["patterns"]
    for p in pats:
        assert p["pattern_type"] in ("function", "class", "import", "structure")
        assert re.fullmatch(r"(func|class|import|struct)_\w+_\d+", p["pattern_id"])
        assert isinstance(p["code_snippet"], str) and isinstance(p["context"], str)
        assert isinstance(p["is_anti_pattern"], bool) and isinstance(p["rejection_count"], int)
        assert isinstance(p["security_score"], float) and isinstance(p["failure_reasons"], list)
        if p["is_anti_pattern"]:
            assert p["failure_reasons"]
    outs, _ = _jsonl(tiny.root / "learning" / "outcomes.jsonl")
    assert len(outs) == tiny.counts["outcomes"]
    for o in outs:
        assert re.fullmatch(r"[0-9a-f]{16}", o["prompt_hash"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}", o["timestamp"])  # naive, microseconds
        assert isinstance(o["initial_scores"], dict) and isinstance(o["final_scores"], dict)
        assert isinstance(o["iterations"], int) and isinstance(o["first_pass_success"], bool)
        assert isinstance(o["time_to_correctness"], float) and isinstance(o["expert_consultations"], list)


def test_analytics_per_day(tiny):
    days = [(TINY.start + dt.timedelta(days=i)).isoformat() for i in range(TINY.days)]
    assert sorted(tiny.agent_events_per_day) == days == sorted(tiny.workflow_events_per_day)
    assert sum(tiny.agent_events_per_day.values()) == tiny.counts["agent_events"] == TINY.agent_events_per_day * TINY.days
    assert sum(tiny.workflow_events_per_day.values()) == tiny.counts["workflow_events"]
    zulu = offset = 0
    for day in days:
        agents, _ = _jsonl(tiny.root / "analytics" / "history" / f"agents-{day}.jsonl")
        assert len(agents) == tiny.agent_events_per_day[day]
        for a in agents:
            assert set(a) >= {"agent_id", "agent_name", "duration", "success", "timestamp"}
            assert a["timestamp"][:10] == day and AWARE.search(a["timestamp"])
            zulu += a["timestamp"].endswith("Z")
            offset += a["timestamp"].endswith("+00:00")
            assert isinstance(a["duration"], float) and isinstance(a["success"], bool)
        wfs, _ = _jsonl(tiny.root / "analytics" / "history" / f"workflows-{day}.jsonl")
        good = [w for w in wfs if isinstance(w["duration"], float)]
        assert len(good) == tiny.workflow_events_per_day[day]
        for w in good:
            assert w["timestamp"][:10] == day and _ts(w["timestamp"]).tzinfo is None
            assert re.fullmatch(rf"wf-{day.replace('-', '')}-\d{{6}}-[0-9a-f]{{4}}", w["workflow_id"])
            assert isinstance(w["steps"], int) and isinstance(w["success"], bool)
    assert zulu and offset
    steps = 0
    for p in tiny.root.glob("metrics/executions_*.jsonl"):
        recs, bad = _jsonl(p)
        assert bad == 0
        steps += len(recs)
        for rec in recs:
            assert set(rec) == {"execution_id", "workflow_id", "step_id", "command", "status", "duration_ms",
                                "started_at", "completed_at", "retry_count", "error_message", "skill", "gate_pass"}
            assert rec["started_at"][:10] == rec["completed_at"][:10] == p.stem.split("_", 1)[1]
    assert steps == tiny.counts["step_executions"]
    snap = _doc(tiny.root / "analytics" / "metrics.json")
    assert sum(a["total_executions"] for a in snap["agents"].values()) == tiny.counts["agent_events"]


def test_agent_ids_embed_user_or_host_in_a_minority(tmp_path):
    data = generate(tmp_path / "s", SCALES["sample"], seed=7)
    ids = []
    for p in data.root.glob("analytics/history/agents-*.jsonl"):
        ids += [a["agent_id"] for a in _jsonl(p)[0]]
    plain = sum(i in ROLES for i in ids)
    assert 0 < len(ids) - plain < 0.2 * len(ids)
    # most (role, day) groups reach k = 5
    groups: dict[tuple[str, str], int] = {}
    for p in data.root.glob("analytics/history/agents-*.jsonl"):
        for a in _jsonl(p)[0]:
            if a["agent_id"] in ROLES:
                key = (a["agent_id"], p.name)
                groups[key] = groups.get(key, 0) + 1
    assert sum(n >= 5 for n in groups.values()) > 0.6 * len(groups)
    assert any(n < 5 for n in groups.values())


def test_other_sources_shape(tiny):
    exp, bad = _jsonl(tiny.root / "learning" / "expert_performance.jsonl")
    assert bad == 0 and len(exp) == tiny.counts["expert_performance"]
    assert all(set(e) == {"expert_id", "domain", "confidence", "query", "timestamp"} for e in exp)
    conf = _doc(tiny.root / "confidence_metrics.json")["metrics"]
    assert len(conf) == tiny.counts["confidence_metrics"]
    assert all(set(c) == {"timestamp", "agent_id", "domain", "confidence", "threshold", "meets_threshold",
                          "agreement_level", "num_experts", "primary_expert", "query_preview"} for c in conf)
    n_fb = 0
    for p in tiny.root.glob("feedback/feedback_*.json"):
        fb = _doc(p)
        n_fb += 1
        assert set(fb) == {"id", "agent_name", "command", "prompt_version_id", "accepted", "feedback_text",
                           "timestamp", "metadata", "_metadata"}
        assert "target_file" in fb["metadata"] and set(fb["_metadata"]) == {"saved_at", "file"}
        assert fb["_metadata"]["file"].endswith(p.name)
    for p in tiny.root.glob("feedback/feedback-*.json"):
        fb = _doc(p)
        n_fb += 1
        assert p.name == f"feedback-{fb['feedback_id']}.json" and fb["timestamp"].endswith("Z")
        assert set(fb["context"]) == {"workflow_id", "agent_id", "task_type", "timestamp"}
        assert set(fb["metrics"]) == {"execution_time_seconds", "quality_score", "code_lines_processed", "additional"}
        assert isinstance(fb["suggestions"], list) and isinstance(fb["project_id"], str)
    assert n_fb == tiny.counts["feedback"]
    prompts = list(tiny.root.glob("learned-prompts/*/*.json"))
    assert len(prompts) == tiny.counts["learned_prompts"]
    for p in prompts:
        meta = _doc(p)["_metadata"]
        assert meta["prompt_type"] == p.parent.name and p.name == f"{p.parent.name}_{meta['version']}.json"


def test_joins_are_meaningful(tiny):
    mems = _doc(tiny.root / "memory" / "memories.json")
    task_ids = [m["task_id"] for m in mems]
    assert len(set(task_ids)) == len(task_ids)
    pats = _jsonl(tiny.root / "learning" / "patterns.jsonl")[0]
    pattern_ids = {p["pattern_id"] for p in pats}
    assert len(pattern_ids) == len(pats)
    for m in mems:
        assert set(m["patterns_used"]) <= pattern_ids
        assert all(t < m["task_id"] for t in m["similar_tasks"]) and set(m["similar_tasks"]) <= set(task_ids)
    assert all(set(p["learned_from"]) <= set(task_ids) and p["learned_from"] for p in pats)
    for m in _doc(tiny.root / "capabilities" / "capabilities.json")["metrics"]:
        for ref in m["refinement_history"]:
            assert set(ref["learned_patterns"]) <= pattern_ids
    wf_ids = set()
    for p in tiny.root.glob("analytics/history/workflows-*.jsonl"):
        wf_ids |= {w["workflow_id"] for w in _jsonl(p)[0] if isinstance(w["duration"], float)}
    assert {o["workflow_id"] for o in _jsonl(tiny.root / "learning" / "outcomes.jsonl")[0]} <= wf_ids
    for p in tiny.root.glob("metrics/executions_*.jsonl"):
        assert {r["workflow_id"] for r in _jsonl(p)[0]} <= wf_ids
    versions = {p.stem for p in tiny.root.glob("learned-prompts/*/*.json")}
    for p in tiny.root.glob("feedback/feedback_*.json"):
        fb = _doc(p)
        assert fb["metadata"]["workflow_id"] in wf_ids
        assert fb["prompt_version_id"] is None or fb["prompt_version_id"] in versions
    for p in tiny.root.glob("feedback/feedback-*.json"):
        assert _doc(p)["context"]["workflow_id"] in wf_ids
    for e in _jsonl(tiny.root / "learning" / "expert_performance.jsonl")[0]:
        assert re.match(r"\[(task-[\d-]+)\] ", e["query"]).group(1) in task_ids


# --- damage -----------------------------------------------------------------------------------

def test_damaged_lines(tiny):
    d = tiny.damaged
    assert d["learning/patterns.jsonl"] == 1 and d["learning/outcomes.jsonl"] == 1
    raw = (tiny.root / "learning" / "patterns.jsonl").read_bytes()
    assert not raw.endswith(b"\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.rsplit(b"\n", 1)[1])
    outcomes = (tiny.root / "learning" / "outcomes.jsonl").read_bytes().splitlines()
    undecodable = 0
    for line in outcomes:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
    assert undecodable == 1
    agent_files = [k for k in d if k.startswith("analytics/history/agents-")]
    assert sum(d[k] for k in agent_files) == 2
    kinds = set()
    for rel in agent_files:
        for line in (tiny.root / rel).read_bytes().splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                kinds.add("invalid")
                continue
            if not isinstance(obj, dict):
                kinds.add("not-object")
    assert kinds == {"invalid", "not-object"}
    wf_files = [k for k in d if k.startswith("analytics/history/workflows-")]
    assert len(wf_files) == 1 and d[wf_files[0]] == 1
    assert sum(isinstance(w["duration"], str) for w in _jsonl(tiny.root / wf_files[0])[0]) == 1
    # every damaged line is accounted for, and nothing else is damaged
    for p in _all_files(tiny.root):
        rel = p.relative_to(tiny.root).as_posix()
        if p.suffix == ".jsonl":
            good, bad = _jsonl(p)
            wrong_type = sum(isinstance(g.get("duration"), str) for g in good)
            assert bad + wrong_type == d.get(rel, 0), rel
        else:
            _doc(p)
            assert rel not in d


def test_no_damage(tmp_path):
    data = generate(tmp_path / ".tapps-agents", TINY, seed=3, damaged=False)
    assert data.damaged == {}
    for p in _all_files(data.root):
        if p.suffix == ".jsonl":
            good, bad = _jsonl(p)
            assert bad == 0 and all(not isinstance(g.get("duration"), str) for g in good)
            assert p.read_bytes().endswith(b"\n")


def test_gzip_snapshots(tmp_path, tiny):
    data = generate(tmp_path / ".tapps-agents", TINY, seed=7, gzip_snapshots=True)
    assert not (data.root / "capabilities" / "capabilities.json").exists()
    assert not (data.root / "memory" / "memories.json").exists()
    for rel in ("capabilities/capabilities.json", "memory/memories.json"):
        gz = (data.root / (rel + ".gz")).read_bytes()
        assert gzip.decompress(gz) == (tiny.root / rel).read_bytes()
    assert data.counts == tiny.counts
    again = generate(tmp_path / "again", TINY, seed=7, gzip_snapshots=True)
    assert _snapshot(again.root) == _snapshot(data.root)


# --- planted sensitive values -----------------------------------------------------------------

def test_planted_kinds_and_values(tiny):
    assert REQUIRED_KINDS <= set(tiny.planted)
    everything = [v for values in tiny.planted.values() for v in values]
    assert all(len(v) >= 6 for v in everything)
    assert not set(everything) & set(ROLES)
    assert set(tiny.planted["task_id"]) == {m["task_id"] for m in _doc(tiny.root / "memory" / "memories.json")}
    assert any("/" in v and "\\" not in v for v in tiny.planted["path"])
    assert any(v.startswith("C:\\Users\\") for v in tiny.planted["path"])
    assert all(re.fullmatch(r"AKIA[A-Z0-9]{16}", v) for v in tiny.planted["aws_key"] if v.startswith("AKIA"))
    assert all(re.fullmatch(r"ghp_[A-Za-z0-9]{36}", v) for v in tiny.planted["github_token"])
    assert any(v.startswith("def ") and v.endswith("(") for v in tiny.planted["code"])


def test_planted_values_appear_in_sources(tiny):
    files = _all_files(tiny.root)
    decoded = "\n".join(_decoded_text(p) for p in files)
    raw = b"".join(p.read_bytes() for p in files)
    for kind, values in tiny.planted.items():
        for v in values:
            assert v in decoded or v.encode() in raw, (kind, v)
    # escaped forms occur on disk: \u escapes, doubled backslashes, and an escaped '/'
    assert b"m\\u00e4rtaqvist" in raw and "märtaqvist".encode() in raw
    assert b"C:\\\\Users\\\\" in raw
    assert b"\\/home\\/" in (tiny.root / "learning" / "patterns.jsonl").read_bytes()


def test_every_source_carries_planted_values(tiny):
    needles = [v for kind, values in tiny.planted.items() for v in values
               if kind not in ("task_id", "workflow_id", "pattern_id", "capability_id", "prompt_hash")]
    sources = [*CONTRACT_FILES, *CONTRACT_GLOBS]
    for src in sources:
        text = "\n".join(_decoded_text(p) for p in tiny.root.glob(src))
        assert any(n in text for n in needles), src


# --- CLI and bundled sample -------------------------------------------------------------------

def test_cli(tmp_path, capsys):
    assert main([str(tmp_path / "out"), "--scale", "tiny", "--seed", "3", "--days", "2", "--no-damage", "--gzip"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "agent events" in line
    assert sorted(p.name for p in (tmp_path / "out" / "analytics" / "history").glob("agents-*")) == [
        "agents-2026-03-01.jsonl", "agents-2026-03-02.jsonl"]
    assert (tmp_path / "out" / "memory" / "memories.json.gz").is_file()


def test_bundled_sample_is_current(tmp_path):
    assert SAMPLE_DIR.is_dir(), "run: python -m benchmarks.generator learning_assets/sample_data"
    assert sum(p.stat().st_size for p in _all_files(SAMPLE_DIR)) < 300_000
    fresh = generate(tmp_path / ".tapps-agents", SCALES["sample"], seed=7, damaged=True)
    assert _snapshot(SAMPLE_DIR) == _snapshot(fresh.root)
