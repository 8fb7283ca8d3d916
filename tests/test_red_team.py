"""Red team: realistic sensitive values pasted where developers paste things must not survive an export.

`tests/data/red_team.json` holds invented values of many shapes (passwords in .env lines, CLI flags,
URLs and prose; user names in home paths of every OS; names, ids, phone numbers, addresses; project
names from path layouts and then used bare; stack traces and diffs of other languages; tokens and keys).
They are injected into a copy of the framework-written fixture, the real `learning` CLI exports it, and
no listed secret may occur in any exported byte: raw file bytes, every string decoded from Parquet
(nested lists and JSON-looking strings included) and from the JSON files (gunzipped if `.gz`).
The comparison ignores case and tries each secret as written, NFC- and NFD-normalized.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import shutil
import subprocess
import sys
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

CORPUS = json.loads((Path(__file__).parent / "data" / "red_team.json").read_text(encoding="utf-8"))
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "framework-small" / ".tapps-agents"
LEARNING = Path(sys.executable).with_name("learning")

# Fields that get corpus texts, round-robin. Tag kinds always go to the tag list, split on ", " (one tag each).
FIELDS = ["memory.description", "memory.key_learnings", "memory.tags", "memory.metadata",
          "feedback.feedback_text", "feedback.suggestions", "executions.error_message",
          "expert_performance.query", "confidence.query_preview", "workflows.workflow_name",
          "agents.agent_id", "agents.agent_name", "capabilities.capability_id"]
TAG_KINDS = {"split_tag_secret", "customer_tag"}
METADATA_KEYS = ["note", "stderr", "env", "comment", "context_dump", "reviewer_remark"]


def assign_fields(corpus: list[dict]) -> dict[str, list[dict]]:
    by_field: dict[str, list[dict]] = {f: [] for f in FIELDS}
    others = [e for e in corpus if e["kind"] not in TAG_KINDS]
    by_field["memory.tags"] += [e for e in corpus if e["kind"] in TAG_KINDS]
    for i, entry in enumerate(others):
        by_field[FIELDS[i % len(FIELDS)]].append(entry)
    return by_field


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _set_scalar(rows: list[dict], texts: list[str], apply, clone) -> None:
    """Text j goes to row j; rows beyond the existing ones are clones made by `clone(row, j)`."""
    n = len(rows)
    for j, text in enumerate(texts):
        if j >= len(rows):
            rows.append(clone(copy.deepcopy(rows[j % n]), j))
        apply(rows[j], text)


def _with_preamble(original: str | None, text: str) -> str:
    first = (original or "").split("\n", 1)[0]
    return f"{first}\n\n{text}" if first else text


def inject(root: Path, corpus: list[dict]) -> dict[str, int]:
    """Put every corpus text into `root` (a copy of the fixture); return source record counts."""
    by_field = assign_fields(corpus)
    texts = {f: [e["text"] for e in entries] for f, entries in by_field.items()}

    # memory/memories.json
    mem_path = root / "memory" / "memories.json"
    memories = json.loads(mem_path.read_text(encoding="utf-8"))

    def clone_memory(m, j):
        m["task_id"] = f"{m['task_id']}-rt{j}"
        return m
    _set_scalar(memories, texts["memory.description"],
                lambda m, t: m.setdefault("context", {}).__setitem__("description", t), clone_memory)
    for j, t in enumerate(texts["memory.key_learnings"]):
        memories[j % len(memories)].setdefault("key_learnings", []).append(t)
    for j, entry in enumerate(by_field["memory.tags"]):
        tags = memories[j % len(memories)].setdefault("context", {}).setdefault("tags", [])
        tags += entry["text"].split(", ") if entry["kind"] in TAG_KINDS else [entry["text"]]
    for j, t in enumerate(texts["memory.metadata"]):
        memories[j % len(memories)].setdefault("metadata", {})[METADATA_KEYS[j % len(METADATA_KEYS)]] = t
    _write_json(mem_path, memories)

    # feedback/feedback_<ts>.json: feedback_text (one file per text, clones named like the framework does)
    fb_dir = root / "feedback"
    fb_path = sorted(fb_dir.glob("feedback_*.json"))[0]
    fb = json.loads(fb_path.read_text(encoding="utf-8"))
    for j, t in enumerate(texts["feedback.feedback_text"]):
        record = copy.deepcopy(fb)
        record["feedback_text"] = t
        path = fb_path
        if j:
            record["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"red-team-{j}"))
            path = fb_dir / f"feedback_20261204_19{15 + j:02d}07_{107393 + j:06d}.json"
        _write_json(path, record)
    # feedback/feedback-<uuid>.json: suggestions
    sug_path = sorted(fb_dir.glob("feedback-*.json"))[0]
    sug = json.loads(sug_path.read_text(encoding="utf-8"))
    sug.setdefault("suggestions", []).extend(texts["feedback.suggestions"])
    _write_json(sug_path, sug)

    # metrics/executions_*.jsonl: error_message (the step failed)
    ex_paths = sorted((root / "metrics").glob("executions_*.jsonl"))
    executions = _read_jsonl(ex_paths[0])

    def fail_step(row, t):
        row["status"], row["error_message"] = "failed", t

    def clone_execution(row, j):
        row["execution_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"red-team-exec-{j}"))
        return row
    _set_scalar(executions, texts["executions.error_message"], fail_step, clone_execution)
    _write_jsonl(ex_paths[0], executions)
    n_executions = sum(len(_read_jsonl(p)) for p in ex_paths)

    # learning/expert_performance.jsonl: query (after the reviewer's first line)
    ep_path = root / "learning" / "expert_performance.jsonl"
    experts = _read_jsonl(ep_path)
    _set_scalar(experts, texts["expert_performance.query"],
                lambda r, t: r.__setitem__("query", _with_preamble(r.get("query"), t)), lambda r, j: r)
    _write_jsonl(ep_path, experts)

    # confidence_metrics.json: query_preview
    cm_path = root / "confidence_metrics.json"
    cm = json.loads(cm_path.read_text(encoding="utf-8"))
    _set_scalar(cm["metrics"], texts["confidence.query_preview"],
                lambda r, t: r.__setitem__("query_preview", _with_preamble(r.get("query_preview"), t)),
                lambda r, j: r)
    _write_json(cm_path, cm)

    # analytics/history: workflow_name; agent_id and agent_name
    history = root / "analytics" / "history"
    wf_files = sorted(history.glob("workflows-*.jsonl"))
    wf_rows = [(p, r) for p in wf_files for r in _read_jsonl(p)]
    for j, t in enumerate(texts["workflows.workflow_name"]):
        path, row = wf_rows[j % len(wf_rows)]
        if j >= len(wf_rows):
            row = dict(row, workflow_id=f"{row['workflow_id']}-rt{j}")
            wf_rows.append((path, row))
        row["workflow_name"] = t
    for path in wf_files:
        _write_jsonl(path, [r for p, r in wf_rows if p == path])
    ag_files = sorted(history.glob("agents-*.jsonl"))
    ag_rows = [(p, r) for p in ag_files for r in _read_jsonl(p)]
    for field in ("agent_id", "agent_name"):
        for j, t in enumerate(texts[f"agents.{field}"]):
            ag_rows[(j * 2 + (field == "agent_name")) % len(ag_rows)][1][field] = t
    for path in ag_files:
        _write_jsonl(path, [r for p, r in ag_rows if p == path])

    # capabilities/capabilities.json: capability_id = "<agent>.<text>"
    cap_path = root / "capabilities" / "capabilities.json"
    caps = json.loads(cap_path.read_text(encoding="utf-8"))
    _set_scalar(caps["metrics"], texts["capabilities.capability_id"],
                lambda m, t: m.__setitem__("capability_id", f"{m['agent_id']}.{t}"), lambda m, j: m)
    _write_json(cap_path, caps)

    return {"task_memories": len(memories), "step_executions": n_executions,
            "expert_performance": len(experts)}


@dataclass
class Exported:
    proc: subprocess.CompletedProcess
    output: Path
    export_dir: Path | None  # the published export, else a staged one left behind (for diagnosis)
    published: bool
    source_rows: dict[str, int]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Exported:
    if not FIXTURE.is_dir():
        pytest.skip(f"fixture missing: {FIXTURE}")
    tmp = tmp_path_factory.mktemp("red_team")
    source = tmp / "project" / ".tapps-agents"
    shutil.copytree(FIXTURE, source)
    source_rows = inject(source, CORPUS)
    home, output = tmp / "home", tmp / "out"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNING_")}
    env.update(DAGSTER_HOME=str(home), PYTHONWARNINGS="ignore")

    def run(*args):
        return subprocess.run([str(LEARNING), *map(str, args)], env=env, cwd=tmp, capture_output=True,
                              text=True, timeout=900)
    grant = run("consent", "grant", "--source", source)
    assert grant.returncode == 0, grant.stderr[-2000:]
    proc = run("export", "--source", source, "--output", output, "--quiet")

    latest = output / "LATEST"
    export_dir, published = None, False
    if latest.is_file():
        candidate = output / "exports" / latest.read_text().strip()
        if latest.read_text().strip() and candidate.is_dir():
            export_dir, published = candidate, True
    if export_dir is None:
        staging = output / ".staging"
        staged = sorted((p for p in staging.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime) \
            if staging.is_dir() else []
        export_dir = staged[-1] if staged else None
    return Exported(proc, output, export_dir, published, source_rows)


def _strings(value):
    """Every string inside a decoded value; JSON-looking strings are also parsed and walked."""
    if isinstance(value, str):
        yield value
        if value[:1] in "[{":
            try:
                yield from _strings(json.loads(value))
            except ValueError:
                pass
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value)


def haystacks(export_dir: Path) -> dict[str, str]:
    """Lower-cased text of every exported byte, per file (relative path)."""
    out: dict[str, str] = {}
    for path in sorted(export_dir.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        parts = [raw.decode("utf-8", "replace")]
        if path.suffix == ".gz":
            try:
                raw = gzip.decompress(raw)
                parts.append(raw.decode("utf-8", "replace"))
            except OSError:
                pass
        name = path.name.removesuffix(".gz")
        if name.endswith(".json") or name.endswith(".jsonl"):
            text = raw.decode("utf-8", "replace")
            for doc in [text] if name.endswith(".json") else text.splitlines():
                try:
                    parts += _strings(json.loads(doc))
                except ValueError:
                    pass
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            parts += table.schema.names
            for column in table.columns:
                parts += _strings(column.to_pylist())
        out[str(path.relative_to(export_dir))] = "\n".join(parts).lower()
    return out


def secret_variants(secret: str) -> set[str]:
    return {s.lower() for s in (secret, unicodedata.normalize("NFC", secret), unicodedata.normalize("NFD", secret))}


def test_export_is_published(exported):
    proc = exported.proc
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert exported.published, f"no published export under {exported.output / 'exports'} named by LATEST"


def test_no_corpus_secret_in_any_exported_byte(exported):
    if exported.export_dir is None:
        pytest.fail(f"nothing exported (exit {exported.proc.returncode}): {exported.proc.stderr[-2000:]}")
    files = haystacks(exported.export_dir)
    assert files
    leaks = []
    for entry in CORPUS:
        for secret in entry["secrets"]:
            variants = secret_variants(secret)
            leaks += [(entry["kind"], secret, name) for name, text in files.items()
                      if any(v in text for v in variants)]
    where = "published" if exported.published else "staged (not published)"
    lines = [f"{kind} | {secret!r} | {name}" for kind, secret, name in leaks[:30]]
    n_secrets = len({(k, s) for k, s, _ in leaks})
    assert not leaks, (f"{n_secrets} corpus secrets ({len(leaks)} secret/file pairs) in the {where} export "
                       f"{exported.export_dir}:\n" + "\n".join(lines))


@pytest.mark.parametrize("table", ["task_memories", "step_executions", "expert_performance"])
def test_rows_are_kept(exported, table):
    if exported.export_dir is None:
        pytest.fail(f"nothing exported (exit {exported.proc.returncode}): {exported.proc.stderr[-2000:]}")
    path = exported.export_dir / "tables" / f"{table}.parquet"
    assert path.is_file(), f"missing {path.name}"
    rows, source = pq.read_metadata(path).num_rows, exported.source_rows[table]
    assert rows >= 0.9 * source, f"{table}: {rows} of {source} source records exported"
