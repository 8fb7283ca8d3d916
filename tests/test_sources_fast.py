"""The Arrow fast path of the flat JSON Lines readers gives exactly what line-by-line reading gives."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest

from benchmarks.generator import SCALES, generate
from learning_assets.sources import fields
from learning_assets.sources import readers as S
from learning_assets.tables import RAW, read_table, read_tables

FLAT_READERS = {"agent_executions": partial(read_table, "agent_executions"), "workflow_executions": partial(read_table, "workflow_executions"),
                "expert_performance": partial(read_table, "expert_performance"), "step_executions": partial(read_table, "step_executions")}
NY = ZoneInfo("America/New_York")


def read_all(root: Path, tz) -> dict[str, S.SourceRead]:
    return read_tables(root, tz)


def by_record(self: S.Fields, records: list, naive_tz) -> tuple[pa.Table, list[tuple[int, str]]]:
    """`Fields.table` as `Fields.parse` of one record after another (what the readers did before)."""
    rows, errors = [], []
    for i, rec in enumerate(records):
        try:
            rows.append(self.parse(rec, naive_tz))
        except fields.RECORD_ERRORS as exc:
            errors.append((i, str(exc)))
    return pa.Table.from_pylist(rows, schema=self.schema), errors


def slow(monkeypatch) -> None:
    """Force the line-by-line reading of every file, and the parsing of one record after another (what the
    readers did before the fast paths)."""
    monkeypatch.setattr(S, "_file_bytes", lambda path: None)
    monkeypatch.setattr(S.Fields, "table", by_record)


def assert_same(fast: S.SourceRead, slow_read: S.SourceRead) -> None:
    ff, sf = fast.frame(), slow_read.frame()
    pd.testing.assert_frame_equal(ff, sf, check_exact=True)
    assert list(ff.dtypes) == list(sf.dtypes) and list(ff.columns) == list(RAW[fast.table].columns)
    assert fast.skipped == slow_read.skipped
    assert fast.files == slow_read.files and fast.warnings == slow_read.warnings


def arrow_rows(read: S.SourceRead) -> int:
    return sum(len(p) for p in read.parts if isinstance(p, pa.Table))


def write(root: Path, rel: str, lines: list[str | bytes], end: bytes = b"\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(x.encode() if isinstance(x, str) else x for x in lines) + end)
    return path


def agent(**kw) -> str:
    return json.dumps({"agent_id": "reviewer", "agent_name": "Reviewer Agent", "duration": 3.5, "success": True,
                       "timestamp": "2026-03-02T10:00:00.5+00:00", **kw})


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """The tiny and sample scales with all their damage, plus gzip variants of two day files (one cut short)."""
    roots = {}
    for scale in ("tiny", "sample"):
        root = tmp_path_factory.mktemp(scale) / ".tapps-agents"
        generate(root, SCALES[scale], gzip_snapshots=scale == "tiny")
        history = root / "analytics" / "history"
        days = sorted(history.glob("agents-*.jsonl"))
        for i, path in enumerate(days[:2]):
            data = gzip.compress(path.read_bytes())
            path.with_name(path.name + ".gz").write_bytes(data[:len(data) // 2] if i else data)
            path.unlink()
        roots[scale] = root
    return roots


@pytest.mark.parametrize("scale", ["tiny", "sample"])
@pytest.mark.parametrize("tz", [S.timezone.utc, NY], ids=["utc", "new_york"])
def test_generated_data_reads_the_same_fast_and_line_by_line(generated, scale, tz, monkeypatch):
    fast = read_all(generated[scale], tz)
    assert all(arrow_rows(fast[t]) for t in FLAT_READERS), "the fast path was not used"
    slow(monkeypatch)
    for table, slow_read in read_all(generated[scale], tz).items():
        assert_same(fast[table], slow_read)
        assert fast[table].rows == slow_read.rows


def test_files_split_down_to_single_lines_read_the_same(generated, monkeypatch):
    """Every segment refused by Arrow: the line-by-line reading of segments matches that of whole files."""
    fast = read_all(generated["sample"], NY)
    monkeypatch.setattr(S, "_arrow_records", lambda data, first, read: (None, None))
    by_line, parse = Counter(), S.parse_records

    def counted(records, fields_, naive_tz, out, reject=None):
        records = list(records)  # all lines read before any is parsed: the skips still come in line order
        by_line[out.table] += len(records)
        parse(records, fields_, naive_tz, out, reject)

    monkeypatch.setattr(S, "parse_records", counted)
    split = read_all(generated["sample"], NY)
    for table in FLAT_READERS:
        assert by_line[table] >= len(split[table].frame()) > 0
        assert_same(split[table], fast[table])


def test_a_wrongly_typed_line_is_read_line_by_line_and_the_rest_by_arrow(tmp_path, monkeypatch):
    lines = [agent(duration=float(i)) for i in range(100)]
    lines[40] = agent(duration="fast")
    lines[70] = agent(success=1)
    write(tmp_path, "analytics/history/agents-2026-03-02.jsonl", lines)
    fast = read_table("agent_executions", tmp_path)
    assert [(s.line, s.reason) for s in fast.skipped] == [
        (41, "field 'duration': expected a number, got str"), (71, "field 'success': expected true/false, got int")]
    assert arrow_rows(fast) >= 90
    slow(monkeypatch)
    assert_same(fast, read_table("agent_executions", tmp_path))


@pytest.mark.parametrize("stamp", ["2026-03-02T10:00:00", "2026-11-01T01:30:00", "2026-03-08T02:30:00"],
                         ids=["plain", "ambiguous", "nonexistent"])
def test_naive_timestamps_in_a_non_utc_zone(tmp_path, stamp, monkeypatch):
    """Naive times are local times in `naive_tz`; a time DST makes ambiguous or skips is left to Python."""
    lines = [agent(timestamp="2026-03-02T09:00:00Z")] * 30 + [agent(timestamp=stamp)] + [agent(timestamp="")]
    write(tmp_path, "analytics/history/agents-2026-03-02.jsonl", lines)
    fast = read_table("agent_executions", tmp_path, NY)
    assert fast.frame()["timestamp"].iloc[30] == S.parse_timestamp(stamp, NY)
    slow(monkeypatch)
    assert_same(fast, read_table("agent_executions", tmp_path, NY))


def test_values_at_a_limit_are_left_to_the_line_by_line_reader(tmp_path, monkeypatch):
    lines = [agent() for _ in range(60)]
    lines[10] = agent(agent_name="x" * (fields.MAX_TEXT_CHARS + 1))
    lines[20] = agent(agent_name="y" * (fields.MAX_TOKEN_CHARS + 1))
    lines[25] = agent(agent_name="z " * fields.MAX_TOKEN_CHARS)  # long, but with spaces: kept
    lines[30] = agent(timestamp="1989-12-31T23:59:59Z")
    lines[40] = agent(timestamp="2026-03-02 10:00:00")  # valid for Python, not the plain form
    write(tmp_path, "analytics/history/agents-2026-03-02.jsonl", lines)
    fast = read_table("agent_executions", tmp_path)
    assert [s.line for s in fast.skipped] == [11, 21, 31]
    assert "more than 65536" in fast.skipped[0].reason and "without a space" in fast.skipped[1].reason
    slow(monkeypatch)
    assert_same(fast, read_table("agent_executions", tmp_path))


@pytest.mark.parametrize("bad", [b"null", b"{} null", b'{"agent_id": "a"} {"agent_id": "b"}', b"[1, 2]", b"",
                                 b"  ", b'{"zz": ' + b"[" * 2000 + b"]" * 2000 + b"}", b"\xef\xbb\xbf{}",
                                 b"\xff{}", b'{"agent_id": "\\ud800"}', b'{"duration": NaN, "success": null}',
                                 b'{"duration": 1e400}', b'{"agent_id": "a", "agent_id": "b"}', b'{"x": 1}\r{"y": 2}',
                                 b'{"zz":\n{"x": 1}} null', b'{"zz":\n{"x": 1}}{"y": 2}', b'{"success": \n{"x": 1}'],
                         ids=lambda b: repr(b[:20]))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_lines_arrow_reads_differently_from_python(tmp_path, bad, where, monkeypatch):
    """Lines Arrow reads as something else than Python's json (or crashes on): left to the line-by-line reader."""
    lines = [agent().encode()] * 40
    lines.insert({"first": 0, "middle": 20, "last": 40}[where], bad)
    write(tmp_path, "analytics/history/agents-2026-03-02.jsonl", lines, end=b"" if where == "last" else b"\n")
    write(tmp_path, "analytics/history/agents-2026-03-03.jsonl", [agent()] * 5)
    fast = read_table("agent_executions", tmp_path)
    slow(monkeypatch)
    assert_same(fast, read_table("agent_executions", tmp_path))


def test_ints_and_numbers_are_coerced_as_python_does(tmp_path, monkeypatch):
    lines = [json.dumps({"workflow_id": "w", "duration": d, "steps": s, "timestamp": "2026-03-02T10:00:00"})
             for d, s in [(1, 3.7), (-0.0, -2.5), (None, 2**53 - 1), (2.5e-300, None)] * 10]
    lines.append('{"duration": Infinity, "steps": NaN}')
    write(tmp_path, "analytics/history/workflows-2026-03-02.jsonl", lines)
    fast = read_table("workflow_executions", tmp_path)
    assert arrow_rows(fast) == len(lines)
    slow(monkeypatch)
    assert_same(fast, read_table("workflow_executions", tmp_path))


def test_rows_of_arrow_parts_match_and_can_be_replaced(tmp_path, monkeypatch):
    write(tmp_path, "analytics/history/agents-2026-03-02.jsonl", [agent(), agent(timestamp="2026-03-02T23:00:00-05:00")])
    fast = read_table("agent_executions", tmp_path)
    assert arrow_rows(fast) == 2
    rows = fast.rows
    assert rows[1]["timestamp"] == S.datetime(2026, 3, 3, 4, tzinfo=S.timezone.utc)
    assert rows[1]["timestamp"].tzinfo is S.timezone.utc
    fast.rows = rows[:1]
    assert len(fast.frame()) == 1


@pytest.mark.parametrize("tz", [S.timezone.utc, NY], ids=["utc", "new_york"])
def test_plain_iso_timestamps_convert_as_parse_timestamp_does(tz):
    stamps = ["2026-03-01T00:17:05.782563+00:00", "2026-03-01T00:32:45.278188Z", "2026-03-01T00:00:00-00:00",
              "2026-03-01T00:00:00+23:59", "2026-03-01T00:00:00.000001-23:59", "2026-03-01T00:32:45.1",
              "2026-03-01T00:32:45.12345", "2026-07-01T12:00:00", "1990-01-01T00:00:00Z", None, ""]
    got = S._arrow_timestamps(pa.chunked_array([pa.array(stamps, pa.string())]), tz)
    assert got is not None
    assert [v.replace(tzinfo=S.timezone.utc) if v else v for v in got.to_pylist()] == \
        [S.parse_timestamp(s, tz) for s in stamps]


@pytest.mark.parametrize("stamp", ["2026-03-01 00:00:00", "2026-03-01T00:00:00.1234567", "2026-03-01", "20260301T000000",
                                   "2026-03-01T24:00:00", "2026-02-30T00:00:00", "2026-03-01T00:00:00+0100",
                                   " 2026-03-01T00:00:00", "0001-01-01T00:00:00+01:00", "2200-01-01T00:00:00Z",
                                   "2026-03-01T00:00:00z"])
def test_other_timestamp_forms_are_left_to_parse_timestamp(stamp):
    assert S._arrow_timestamps(pa.chunked_array([pa.array([stamp])]), S.timezone.utc) is None


def test_inside_compares_whole_path_components(tmp_path):
    root = tmp_path / "src"
    (root / "feedback").mkdir(parents=True)
    (tmp_path / "src2").mkdir()
    (tmp_path / "src2" / "f.json").write_text("{}")
    (root / "feedback" / "in.json").write_text("{}")
    (root / "feedback" / "out.json").symlink_to(tmp_path / "src2" / "f.json")
    assert S.inside(root, root / "feedback" / "in.json") and S.inside(root, root)
    assert not S.inside(root, root / "feedback" / "out.json")
    assert not S.inside(root, tmp_path / "src2" / "f.json")


def pattern(i: int, **kw) -> dict:
    return {"pattern_id": f"p{i}", "pattern_type": "function", "code_snippet": "def f():\n    pass", "context": "ctx",
            "quality_score": 0.5, "usage_count": 3, "success_rate": 0.9, "learned_from": ["task-1"],
            "metadata": {"b": 1, "a": [1.5, None, "ü"]}, "security_score": 7.0, "is_anti_pattern": False,
            "failure_reasons": [], "rejection_count": 0, **kw}


ODD_VALUES = [
    {"pattern_id": ""}, {"pattern_id": None}, {"pattern_id": 7}, {"pattern_id": "p3"}, {"pattern_id": "p\ud800"},
    {"pattern_type": True},
    {"context": "x" * (fields.MAX_TOKEN_CHARS + 1)}, {"context": "y " * fields.MAX_TOKEN_CHARS}, {"context": ["a"]},
    {"code_snippet": "z" * (fields.MAX_TEXT_CHARS + 1)}, {"code_snippet": "\udc00"}, {"quality_score": True},
    {"quality_score": 2**53 + 1}, {"quality_score": 2**70}, {"quality_score": "1"}, {"usage_count": 2**63},
    {"usage_count": -3.7}, {"usage_count": 2**53 + 2}, {"learned_from": None}, {"learned_from": "task-9"},
    {"learned_from": ["a", None, 3, {"k": [2, 1]}, ["x"]]}, {"learned_from": ["t"] * (fields.MAX_LIST_ITEMS + 1)},
    {"learned_from": ["w" * (fields.MAX_TOKEN_CHARS + 1)]}, {"learned_from": ["v " * fields.MAX_TOKEN_CHARS]},
    {"learned_from": ["\ud800"]}, {"learned_from": {"a": 1}}, {"metadata": None}, {"metadata": {}},
    {"metadata": "free text"}, {"metadata": [1]}, {"metadata": {"z": "q" * (fields.MAX_TOKEN_CHARS + 1)}},
    {"metadata": {"x": float("nan"), "y": 10**30}}, {"is_anti_pattern": 1}, {"failure_reasons": [""]},
    {"security_score": float("inf")}, {"rejection_count": None},
]


@pytest.mark.parametrize("odd", ODD_VALUES, ids=lambda d: repr(d)[:40])
def test_records_read_column_wise_as_one_by_one(tmp_path, odd, monkeypatch):
    """Patterns (JSON Lines) and task memories (a JSON document): an odd value in the middle of plain
    records is parsed, or skipped with its reason, exactly as record by record."""
    records = [pattern(i) for i in range(30)]
    records[12] = pattern(12, **odd)
    write(tmp_path, "learning/patterns.jsonl", [json.dumps(r) for r in records])
    memories = [{"task_id": f"t{i}", "agent_id": "tester", "timestamp": "2026-03-01T15:51:04",
                 "key_learnings": ["a"], "context": {"file": "f"}} for i in range(30)]
    memories[5] = {**memories[5], **{k.replace("pattern_id", "task_id").replace("learned_from", "key_learnings")
                                     .replace("metadata", "context"): v for k, v in odd.items()}}
    memories[20] = ["not", "an", "object"]
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memories.json").write_text(json.dumps({"memories": memories}))
    fast = {t: read_table(t, tmp_path, NY) for t in ("patterns", "task_memories")}
    assert all(arrow_rows(r) for r in fast.values())
    monkeypatch.setattr(S.Fields, "table", by_record)
    for table, read in fast.items():
        assert_same(read, read_table(table, tmp_path, NY))


def test_skips_of_parsing_and_of_reading_come_in_line_order(tmp_path, monkeypatch):
    lines = [json.dumps(pattern(i)) for i in range(40)]
    lines[3], lines[10], lines[11], lines[30] = "{broken", json.dumps(pattern(10, usage_count="x")), "[1]", \
        json.dumps(pattern(30, pattern_id=""))
    write(tmp_path, "learning/patterns.jsonl", lines)
    monkeypatch.setattr(S, "CHUNK_RECORDS", 7)
    fast = read_table("patterns", tmp_path)
    assert [s.line for s in fast.skipped] == [4, 11, 12, 31]
    monkeypatch.setattr(S.Fields, "table", by_record)
    assert_same(fast, read_table("patterns", tmp_path))
