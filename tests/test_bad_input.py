"""Damaged sources: each yields a partial export with the damage recorded, or one clear error.

The corpus (tests/bad_input/<case>/, a `.tapps-agents/` layout each; see its README.md) is read by
every reader, anonymized and written to Parquet, with a time limit, a file-descriptor count and a scan
for the planted sensitive values. Cases that cannot be committed (symlinks out of the directory, a
FIFO, a 200 MB single line) are built by fixtures. One real Dagster run goes over a source combining
the cases; a hypothesis fuzz test throws random records and bytes at every reader.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import tempfile
import tracemalloc
from datetime import timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaError

from learning_assets.privacy.anonymize import Anonymizer
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import Scrubber, Vocabulary
from learning_assets.quality.validate import shape_schema
from learning_assets.sources import readers as S
from learning_assets.tables import (
    ANONYMIZED,
    RAW,
    anonymize_table,
    read_table,
    read_tables,
)
from tests.conftest import exported_bytes, run_pipeline

CORPUS = Path(__file__).resolve().parent / "bad_input"
PLANTED = ("mallory", "acme-secret", "AKIAQWERTYUIOPASDFGH", "outside-secret", "/etc/passwd")
PSEUDO = Pseudonymizer(b"bad-input-test-key-" + b"0" * 20)


def read_all(root: Path, only: str | None = None) -> dict[str, S.SourceRead]:
    return read_tables(root, timezone.utc, None if only is None else [only])


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail (rather than hang) when the block runs longer than `seconds`."""
    def expired(signum, frame):
        raise TimeoutError(f"took longer than {seconds}s: a hang")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def parquet_roundtrip(df) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    pq.read_table(io.BytesIO(buf.getvalue()))


def process(root: Path, seconds: int = 30, only: str | None = None) -> dict:
    """Read, check the raw shape, anonymize, write Parquet: what the pipeline does, without Dagster.

    Returns {table: (read, anonymized frame or the SchemaError the blocking check would report)}.
    """
    fds = open_fds()
    out = {}
    with time_limit(seconds):
        for table, read in read_all(root, only).items():
            raw = read.frame()
            shape_schema(RAW[table]).validate(raw)  # columns and types hold for any input (the Dagster type)
            parquet_roundtrip(raw)
            anonymizer = Anonymizer(PSEUDO, Scrubber(PSEUDO, Vocabulary(set(), set(), set())))
            df = anonymize_table(table, raw, anonymizer)
            shape_schema(ANONYMIZED[table]).validate(df)
            parquet_roundtrip(df)
            try:
                ANONYMIZED[table].validate(df)
                out[table] = (read, df)
            except SchemaError as exc:  # the blocking `pandera_schema` check stops the export with this
                out[table] = (read, exc)
    assert open_fds() == fds, "a reader left a file open"
    return out


def reasons(result: dict, table: str) -> list[str]:
    return [s.reason for s in result[table][0].skipped]


def assert_nothing_planted(result: dict) -> None:
    for table, (_, df) in result.items():
        if isinstance(df, SchemaError):
            continue
        text = df.to_json(orient="records", default_handler=str).lower()
        for value in PLANTED:
            assert value.lower() not in text, (table, value)


def case(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name / ".tapps-agents"
    shutil.copytree(CORPUS / name, root, symlinks=True)
    return root


# --- the committed corpus -------------------------------------------------------------------------

# (table, words that must appear in one of its skip reasons)
EXPECTED = {
    "truncated": [("capabilities", "unreadable"), ("task_memories", "invalid JSON"),
                  ("patterns", "truncated JSON"), ("code_outcomes", "invalid JSON"),
                  ("agent_executions", "truncated JSON"), ("confidence_metrics", "invalid JSON")],
    "wrong_types": [("capabilities", "expected a list of capabilities under 'metrics', 'metrics' holds an object"), ("task_memories", "expected an object, got str"),
                    ("task_memories", "expected text, got list"), ("task_memories", "expected ISO 8601 text"),
                    ("patterns", "expected a JSON object, got list"), ("patterns", "expected a number, got str"),
                    ("patterns", "expected true/false"), ("patterns", "integer out of range"),
                    ("patterns", "4300 digits"), ("patterns", "lone surrogate"),
                    ("code_outcomes", "expected an object, got list"), ("agent_executions", "expected a number"),
                    ("feedback", "expected a JSON object, got list")],
    "non_utf8": [("agent_executions", "not valid UTF-8"), ("task_memories", "not valid UTF-8"),
                 ("patterns", "file is UTF-16; the framework writes UTF-8")],
    "deep_nesting": [("patterns", "too deeply nested"), ("capabilities", "too deeply nested")],
    "duplicate_ids": [("capabilities", "duplicate capability_id superseded"),
                      ("task_memories", "duplicate task_id superseded"),
                      ("patterns", "duplicate pattern_id superseded"), ("feedback", "duplicate feedback_id")],
    "timestamps": [("agent_executions", "timestamp out of range: '9999"), ("agent_executions", "not ISO 8601"),
                   ("workflow_executions", "timestamp out of range: '0001-01-01T00:00:00+01:00'"),
                   ("task_memories", "timestamp out of range: '2300"), ("capabilities", "not ISO 8601: '+10000")],
    "out_of_range": [],
}
# rows that survive each case (table -> rows)
ROWS = {
    "truncated": {"patterns": 2, "code_outcomes": 2, "agent_executions": 3, "task_memories": 0, "capabilities": 0},
    "wrong_types": {"task_memories": 1, "patterns": 2, "code_outcomes": 2, "agent_executions": 2,
                    "learned_prompts": 1},
    "non_utf8": {"agent_executions": 3, "capabilities": 1, "capability_refinements": 1, "task_memories": 0},
    "deep_nesting": {"task_memories": 2, "patterns": 2},
    "duplicate_ids": {"capabilities": 2, "capability_refinements": 3, "task_memories": 2, "patterns": 2,
                      "feedback": 1},
    "timestamps": {"agent_executions": 5, "workflow_executions": 5, "task_memories": 6, "capabilities": 6},
}


def test_the_corpus_is_all_covered():
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_damaged_source_gives_partial_tables_with_the_damage_recorded(name, tmp_path):
    result = process(case(name, tmp_path))
    for table, words in EXPECTED[name]:
        assert any(words in r for r in reasons(result, table)), (table, words, reasons(result, table))
    for table, rows in ROWS.get(name, {}).items():
        df = result[table][1]
        assert not isinstance(df, SchemaError), df
        assert len(df) == rows, (table, len(df), reasons(result, table))
    if name != "out_of_range":
        assert not [t for t, (_, df) in result.items() if isinstance(df, SchemaError)]
    assert_nothing_planted(result)


def test_duplicate_ids_keep_the_last_record_and_stay_unique(tmp_path):
    result = process(case("duplicate_ids", tmp_path))
    caps = result["capabilities"][1]
    assert caps["capability_id"].is_unique and len(caps) == 2
    assert sorted(caps["success_rate"]) == [0.5, 0.9]  # the later reviewer.security-scan (0.5) won
    refs = result["capability_refinements"][1]
    assert not refs.duplicated(["capability_id", "position"]).any()
    assert len(refs) == 3  # the winner's two steps and tester.unit's one, not the loser's step
    tasks = result["task_memories"][1]
    assert tasks["task_id"].is_unique and set(tasks["outcome"]) == {"failure", "success"}
    patterns = result["patterns"][1]
    assert patterns["pattern_id"].is_unique and 99 in set(patterns["usage_count"])


def test_out_of_range_values_are_one_clear_error(tmp_path):
    """Well-typed values outside the schema's ranges: the blocking Pandera check names column and value."""
    result = process(case("out_of_range", tmp_path))
    errors = {t: df for t, (_, df) in result.items() if isinstance(df, SchemaError)}
    assert set(errors) == {"patterns", "code_outcomes"}
    assert "success_rate" in str(errors["patterns"]) and "7.5" in str(errors["patterns"])
    assert "iterations" in str(errors["code_outcomes"]) and "-5" in str(errors["code_outcomes"])


def test_naive_timestamps_are_read_in_the_configured_zone(tmp_path):
    from zoneinfo import ZoneInfo

    root = case("timestamps", tmp_path)
    utc = read_table("workflow_executions", root).frame()
    ny = read_table("workflow_executions", root, ZoneInfo("America/New_York")).frame()
    naive = utc["timestamp"].dt.strftime("%H:%M").tolist().index("10:00")  # "2026-03-01T10:00:00"
    assert ny["timestamp"][naive].strftime("%H:%M") == "15:00"


# --- built by fixtures: symlinks, a FIFO, a 200 MB line --------------------------------------------

@pytest.fixture
def symlinked_source(tmp_path):
    """Symlinks out of the source directory (files, a directory, a loop, a device) and a FIFO."""
    outside = tmp_path / "outside"
    (outside / "history").mkdir(parents=True)
    secret = {"capability_id": "reviewer.outside-secret", "agent_id": "reviewer", "metadata": {"file": "/etc/passwd"}}
    (outside / "capabilities.json").write_text(json.dumps({"metrics": [secret]}))
    line = json.dumps({"agent_id": "outside-secret", "duration": 1.0, "success": True,
                       "timestamp": "2026-03-01T10:00:00Z"}) + "\n"
    (outside / "history" / "agents-2026-03-01.jsonl").write_text(line)
    (outside / "patterns.jsonl").write_text(json.dumps({"pattern_id": "outside-secret"}) + "\n")
    (outside / "feedback-x.json").write_text(json.dumps({"feedback_id": "outside-secret"}))

    root = tmp_path / "project" / ".tapps-agents"
    for d in ("capabilities", "analytics", "learning", "memory", "feedback", "metrics", "data"):
        (root / d).mkdir(parents=True)
    (root / "capabilities" / "capabilities.json").symlink_to(outside / "capabilities.json")
    (root / "analytics" / "history").symlink_to(outside / "history", target_is_directory=True)
    (root / "learning" / "patterns.jsonl").symlink_to("../../../outside/patterns.jsonl")  # relative, still out
    (root / "learning" / "outcomes.jsonl").symlink_to("/dev/zero")  # endless: must not be read
    (root / "memory" / "memories.json").symlink_to("memories.json")  # a loop
    (root / "feedback" / "feedback-x.json").symlink_to(outside / "feedback-x.json")
    os.mkfifo(root / "metrics" / "executions_1.jsonl")  # opening it would block forever
    # a symlink that stays inside the directory is fine
    (root / "data" / "confidence.json").write_text(json.dumps({"metrics": [{"agent_id": "reviewer",
                                                                             "timestamp": "2026-03-01T10:00:00Z"}]}))
    (root / "confidence_metrics.json").symlink_to("data/confidence.json")
    return root


def test_symlinks_out_of_the_source_are_refused_and_nothing_blocks(symlinked_source):
    result = process(symlinked_source, seconds=20)
    outside = "symlink points outside the source directory"
    for table in ("capabilities", "agent_executions", "patterns", "feedback"):
        assert outside in reasons(result, table), (table, reasons(result, table))
        assert len(result[table][1]) == 0
    assert len(result["confidence_metrics"][1]) == 1  # the inside symlink was followed
    assert len(result["code_outcomes"][1]) == 0 and len(result["task_memories"][1]) == 0
    assert_nothing_planted(result)


HUGE = 200 * 1024 * 1024


def huge_source(root: Path) -> Path:
    """A 200 MB single JSON line among good ones, a 200 MB one-line JSON document, a 15 MB value and a
    long token: skipped, within time and memory limits."""
    agent = {"agent_id": "reviewer", "agent_name": "Reviewer", "duration": 1.0, "success": True,
             "timestamp": "2026-03-02T10:00:00Z"}
    history = root / "analytics" / "history"
    history.mkdir(parents=True)
    with open(history / "agents-2026-03-02.jsonl", "w") as fh:
        fh.write(json.dumps(agent) + "\n")
        fh.write('{"agent_id": "reviewer", "agent_name": "')
        chunk = "A" * (1 << 20)
        for _ in range(HUGE >> 20):
            fh.write(chunk)
        fh.write('"}\n')
        fh.write(json.dumps({**agent, "agent_name": "x" * (15 << 20)}) + "\n")  # under the line limit
        fh.write(json.dumps({**agent, "agent_name": "B" * 5000}) + "\n")  # one long token
        fh.write(json.dumps(agent) + "\n")
    (root / "memory").mkdir()
    with open(root / "memory" / "memories.json", "w") as fh:  # one line, 200 MB
        fh.write('[{"task_id": "task-1", "context": {"description": "')
        for _ in range(HUGE >> 20):
            fh.write(chunk)
        fh.write('"}}, {"task_id": "task-2", "agent_id": "tester", "timestamp": "2026-03-02T10:00:00"}]')
    return root


@pytest.mark.slow
def test_a_200_mb_line_is_skipped_without_a_hang_or_a_memory_blowup(tmp_path):
    root = huge_source(tmp_path / ".tapps-agents")
    tracemalloc.start()
    try:
        with time_limit(60):
            agents = read_table("agent_executions", root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024, f"reading a long line held {peak >> 20} MB"  # lines are read in bounded chunks
    assert [s.line for s in agents.skipped] == [2, 3, 4]
    assert "line longer than" in agents.skipped[0].reason
    assert "more than 65536" in agents.skipped[1].reason and "without a space" in agents.skipped[2].reason
    assert len(agents.rows) == 2

    result = process(root, seconds=120)
    assert any("characters, more than" in r for r in reasons(result, "task_memories"))
    assert len(result["task_memories"][1]) == 1 and len(result["agent_executions"][1]) == 2


# --- one real run over a source with damage everywhere --------------------------------------------

@pytest.fixture
def combined_source(tmp_path, symlinked_source):
    """One `.tapps-agents/` holding a damaged file of every kind (taken from the cases) plus the symlinks."""
    root = tmp_path / "combined" / ".tapps-agents"
    picks = {"duplicate_ids": ["capabilities/capabilities.json", "feedback/feedback-1.json",
                               "feedback/feedback-2.json"],
             "timestamps": ["memory/memories.json", "analytics/history/workflows-2026-03-01.jsonl"],
             "wrong_types": ["learning/patterns.jsonl", "learned-prompts/eval/eval_20261399_999999.json"],
             "truncated": ["learning/outcomes.jsonl", "confidence_metrics.json"],
             "non_utf8": ["analytics/history/agents-2026-03-01.jsonl"]}
    for name, files in picks.items():
        for rel in files:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(CORPUS / name / rel, root / rel)
    (root / "learning" / "expert_performance.jsonl").symlink_to(
        symlinked_source.parent.parent / "outside" / "patterns.jsonl")
    os.mkfifo(root / "learning" / "fifo.jsonl")
    return root


@pytest.mark.slow
def test_a_real_run_over_damage_everywhere_publishes_a_partial_export(combined_source, tmp_path, instance):
    with time_limit(600):
        result = run_pipeline(combined_source, tmp_path / "export", instance, k=1)
    assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
    exports = list((tmp_path / "export" / "exports").iterdir())
    assert len(exports) == 1

    def meta(table):
        event = instance.get_latest_materialization_event(AssetKey(["raw", table]))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}

    for table, words in [("capabilities", "duplicate"), ("task_memories", "out of range"),
                         ("patterns", "lone surrogate"), ("code_outcomes", "invalid JSON"),
                         ("agent_executions", "not valid UTF-8"), ("expert_performance", "outside the source"),
                         ("confidence_metrics", "invalid JSON"), ("feedback", "duplicate")]:
        m = meta(table)
        assert m["skipped"] > 0 and words in m["skipped_records"], (table, m["skipped_records"])

    tables = {p.stem: pq.read_table(p).to_pandas() for p in (exports[0] / "tables").glob("*.parquet")}
    for table, column in [("capabilities", "capability_id"), ("task_memories", "task_id"),
                          ("patterns", "pattern_id")]:
        assert len(tables[table]) > 0 and tables[table][column].is_unique, table
    blob = exported_bytes(exports[0]).lower()
    assert not [v for v in PLANTED if v.lower().encode() in blob]


# --- fuzz -------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.text(max_size=6), c, max_size=3), max_leaves=8)
timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-03-01T10:00:00Z", "2026-03-01T10:00:00", "9999-12-31T23:59:59-14:00",
                     "0001-01-01T00:00:00+01:00", "2026-03-01", ""]))
KINDS = {
    "id": st.text(max_size=20) | st.sampled_from(["task-1", "pat-1", "wf-1", "reviewer.scan", "a.b", ""]),
    "text": st.text(max_size=60) | st.sampled_from(["/home/mallory/x.py", "mallory@acme-secret.example",
                                                    "AKIAQWERTYUIOPASDFGH", "def f(x):\n    return x"]),
    "num": st.floats() | st.integers() | st.sampled_from([0.5, 1e308, -1, 10**30, 10**400]),
    "int": st.integers() | st.integers(-5, 500) | st.sampled_from([2**63, -(2**63) - 1, 10**30]),
    "bool": st.booleans(),
    "ts": timestamps,
    "list": st.lists(st.text(max_size=10) | json_values, max_size=4),
    "obj": st.dictionaries(st.sampled_from(["file", "description", "x", "path"]) | st.text(max_size=5),
                           json_values, max_size=4),
}
FIELDS = {
    "patterns": dict(pattern_id="id", pattern_type="text", code_snippet="text", context="text", quality_score="num",
                     usage_count="int", success_rate="num", learned_from="list", metadata="obj",
                     security_score="num", is_anti_pattern="bool", failure_reasons="list", rejection_count="int"),
    "code_outcomes": dict(workflow_id="id", file_path="text", initial_scores="obj", final_scores="obj",
                          iterations="int", expert_consultations="list", time_to_correctness="num",
                          first_pass_success="bool", timestamp="ts", agent_id="id", prompt_hash="id"),
    "agent_executions": dict(agent_id="id", agent_name="text", duration="num", success="bool", timestamp="ts"),
    "workflow_executions": dict(workflow_id="id", workflow_name="text", duration="num", steps="int",
                                success="bool", timestamp="ts"),
    "expert_performance": dict(expert_id="id", domain="text", confidence="num", query="text", timestamp="ts"),
    "step_executions": dict(execution_id="id", workflow_id="id", step_id="id", command="text", status="text",
                            duration_ms="num", started_at="ts", retry_count="int", error_message="text",
                            skill="text", gate_pass="bool"),
    "task_memories": dict(task_id="id", agent_id="id", command="text", timestamp="ts", outcome="text",
                          quality_score="num", key_learnings="list", patterns_used="list", similar_tasks="list",
                          context="obj", metadata="obj"),
    "capabilities": dict(capability_id="id", agent_id="id", success_rate="num", average_duration="num",
                         quality_score="num", usage_count="int", last_improved="ts", metadata="obj"),
    "confidence_metrics": dict(timestamp="ts", agent_id="id", domain="text", confidence="num", threshold="num",
                               meets_threshold="bool", agreement_level="num", num_experts="int",
                               primary_expert="text", query_preview="text"),
}
PATHS = {"patterns": "learning/patterns.jsonl", "code_outcomes": "learning/outcomes.jsonl",
         "agent_executions": "analytics/history/agents-2026-03-01.jsonl",
         "workflow_executions": "analytics/history/workflows-2026-03-01.jsonl",
         "expert_performance": "learning/expert_performance.jsonl",
         "step_executions": "metrics/executions_1.jsonl",
         "task_memories": "memory/memories.json", "capabilities": "capabilities/capabilities.json",
         "confidence_metrics": "confidence_metrics.json"}
DOCUMENTS = {"task_memories": None, "capabilities": "metrics", "confidence_metrics": "metrics"}


@st.composite
def records(draw, table: str):
    fields = FIELDS[table]
    keys = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=len(fields)))
    rec = {k: draw(KINDS[fields[k]] | json_values if draw(st.integers(0, 9)) == 0 else KINDS[fields[k]])
           for k in keys}
    if table == "capabilities" and draw(st.booleans()):
        rec["refinement_history"] = draw(st.lists(st.dictionaries(
            st.sampled_from(["timestamp", "improvement_type", "before_metric", "after_metric",
                             "improvement_percent", "learned_patterns", "metadata"]),
            json_values | timestamps, max_size=5) | json_values, max_size=3))
    return rec


NASTY_LINES = st.sampled_from([
    b'{"x": ' + b"1" * 5000 + b"}",  # more digits than Python converts to int
    b"[" * 5000 + b"]" * 5000,  # deeper than the parser's recursion limit
    b'{"agent_id": "\\ud800", "pattern_id": "\\udfff", "task_id": "a\\ud800"}',  # lone surrogates
    b'\xef\xbb\xbf{"agent_id": "bom"}',  # a byte-order mark
    b'{"duration": NaN, "success_rate": Infinity, "usage_count": -Infinity}',
    b'{"timestamp": "0001-01-01T00:00:00+01:00", "started_at": "0001-01-01T00:00:00+01:00"}',
])


def _dump(value) -> bytes:
    return json.dumps(value).encode()


@st.composite
def source_files(draw):
    """(table, file bytes): JSON Lines of records and junk, or a JSON document in one of its shapes."""
    table = draw(st.sampled_from(sorted(FIELDS)))
    items = draw(st.lists(records(table) | json_values, max_size=8))
    if table in DOCUMENTS:
        key = DOCUMENTS[table]
        doc = {key: items} if key and draw(st.booleans()) else items
        data = _dump(draw(st.just(doc) | json_values))
        cut = draw(st.none() | st.integers(0, max(0, len(data) - 1)))
        return table, data[:cut] if cut is not None else data
    lines = [_dump(x) for x in items]
    lines += draw(st.lists(st.binary(max_size=40) | st.text(max_size=40).map(str.encode) | NASTY_LINES, max_size=3))
    lines = draw(st.permutations(lines))
    data = b"\n".join(lines)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # a crash mid-append
    return table, data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source_files())
def test_fuzz_readers_never_crash_and_account_for_every_line(table_and_data):
    table, data = table_and_data
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / PATHS[table]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        result = process(root, seconds=30, only=table)
        read, df = result[table]
        if any(s.whole_file for s in read.skipped):  # e.g. random bytes that look like UTF-16
            assert not read.rows
        elif table not in DOCUMENTS:
            nonblank = sum(1 for line in data.split(b"\n") if line.strip())
            dropped = sum(int(s.reason.split()[0]) for s in read.skipped if "superseded" in s.reason)
            assert len(read.rows) + dropped + len(read.skipped) - (1 if dropped else 0) == nonblank
        if not isinstance(df, SchemaError):
            for schema_col, col in ANONYMIZED[table].columns.items():
                if col.unique:
                    assert df[schema_col].is_unique, schema_col
