"""Readers for the `.tapps-agents/` source files (see SOURCE_FORMATS.md).

Every reader returns the records it could parse plus what it skipped and why; one damaged line
never costs the rest of a file.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path

import pandas as pd

from schemas.tables import RAW, conform

MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_JSON_BYTES = 512 * 1024 * 1024
# Limits on one value: longer ones are skipped (recorded), because free text is scrubbed and the
# scrubber's patterns slow down sharply on long runs without spaces (base64 blobs, minified code).
MAX_TEXT_CHARS = 64 * 1024
MAX_TOKEN_CHARS = 1024
MAX_LIST_ITEMS = 1000
INT64_MAX = 2**63 - 1
DAY_FILE = re.compile(r"^(agents|workflows)-(\d{4}-\d{2}-\d{2})\.jsonl(\.gz)?$")


class BadRecord(ValueError):
    """A record that cannot be used; its message is the reason recorded in the skip list."""


# What parsing one damaged record may raise; it is skipped with the message as the reason.
RECORD_ERRORS = (BadRecord, ValueError, TypeError, OverflowError, RecursionError, UnicodeError)


@dataclass(frozen=True)
class Skip:
    file: str
    line: int | None
    reason: str

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass
class SourceRead:
    """Parsed rows of one table plus an account of the input."""

    table: str
    rows: list[dict] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def drop_duplicate_keys(self) -> set:
        """Keep the last record per key; record the superseded ones. Returns the superseded keys."""
        key = KEYS.get(self.table)
        if key is None:
            return set()
        last = {row[key]: i for i, row in enumerate(self.rows)}
        if len(last) == len(self.rows):
            return set()
        keep = set(last.values())
        dropped = {row[key] for i, row in enumerate(self.rows) if i not in keep}
        superseded = len(self.rows) - len(keep)
        self.rows = [row for i, row in enumerate(self.rows) if i in keep]
        self.skipped.append(Skip(self.files[-1] if self.files else self.table, None,
                                 f"{superseded} record(s) with a duplicate {key} superseded by a later one"))
        return dropped

    def frame(self) -> pd.DataFrame:
        self.drop_duplicate_keys()
        return conform(pd.DataFrame.from_records(self.rows, columns=list(RAW[self.table].columns)),
                       RAW[self.table])


# Tables whose rows are keyed: a later record with the same key supersedes an earlier one, as the
# framework's own writers do when they rewrite or append.
KEYS = {"capabilities": "capability_id", "task_memories": "task_id", "patterns": "pattern_id",
        "feedback": "feedback_id"}


def resolve_source_root(path: str | Path) -> Path:
    """Accept a project directory (holding `.tapps-agents/`) or the `.tapps-agents/` directory itself."""
    root = Path(path).expanduser()
    if (root / ".tapps-agents").is_dir():
        root = root / ".tapps-agents"
    return root


def _find(root: Path, rel: str) -> Path | None:
    for candidate in (root / rel, root / f"{rel}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes); None for a line longer than MAX_LINE_BYTES (its rest is drained)."""
    with _open_binary(path) as fh:
        lineno = 0
        while True:
            chunk = fh.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                return
            lineno += 1
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield lineno, None
                continue
            yield lineno, chunk


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "too deeply nested"
    return str(exc).split(";")[0][:120]  # e.g. a number with more digits than Python converts


def read_jsonl(root: Path, path: Path, out: SourceRead) -> Iterator[tuple[int, dict]]:
    """Yield (line, object) for each good line of a JSON Lines file, recording bad ones in `out`."""
    rel = _rel(root, path)
    out.files.append(rel)
    try:
        for lineno, raw in _iter_lines(path):
            if raw is None:
                out.skipped.append(Skip(rel, lineno, f"line longer than {MAX_LINE_BYTES} bytes"))
                continue
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                out.skipped.append(Skip(rel, lineno, "not valid UTF-8"))
                continue
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as exc:
                reason = "truncated JSON" if not raw.endswith(b"\n") else f"invalid JSON: {_json_error(exc)}"
                out.skipped.append(Skip(rel, lineno, reason))
                continue
            if not isinstance(obj, dict):
                out.skipped.append(Skip(rel, lineno, f"expected a JSON object, got {type(obj).__name__}"))
                continue
            yield lineno, obj
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        out.skipped.append(Skip(rel, None, f"unreadable: {exc}"))


def read_json_document(root: Path, path: Path, out: SourceRead):
    """Load a whole JSON file; None (with the reason recorded) when it cannot be parsed."""
    rel = _rel(root, path)
    out.files.append(rel)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            out.skipped.append(Skip(rel, None, f"file larger than {MAX_JSON_BYTES} bytes"))
            return None
        with _open_binary(path) as fh:
            data = fh.read()
        return json.loads(data.decode("utf-8-sig"))  # a byte-order mark is tolerated
    except UnicodeDecodeError:
        out.skipped.append(Skip(rel, None, "not valid UTF-8"))
    except (ValueError, RecursionError) as exc:
        out.skipped.append(Skip(rel, None, f"invalid JSON: {_json_error(exc)}"))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        out.skipped.append(Skip(rel, None, f"unreadable: {exc}"))
    return None


# --- field coercion -------------------------------------------------------------------------

def _num(rec: dict, key: str) -> float | None:
    v = rec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRecord(f"field {key!r}: expected a number, got {type(v).__name__}")
    if v != v or v in (float("inf"), float("-inf")):
        return None
    try:
        return float(v)
    except OverflowError:
        raise BadRecord(f"field {key!r}: number out of range") from None


def _int(rec: dict, key: str) -> int | None:
    v = _num(rec, key)
    if v is not None and abs(v) > INT64_MAX:
        raise BadRecord(f"field {key!r}: integer out of range")
    return None if v is None else int(v)


def _checked(key: str, v: str, limits: bool = True) -> str:
    """A text value within the limits (unless `limits` is off), valid Unicode; else BadRecord saying why."""
    if limits and len(v) > MAX_TEXT_CHARS:
        raise BadRecord(f"field {key!r}: {len(v)} characters, more than {MAX_TEXT_CHARS}")
    if limits and len(v) > MAX_TOKEN_CHARS and max(map(len, v.split()), default=0) > MAX_TOKEN_CHARS:
        raise BadRecord(f"field {key!r}: more than {MAX_TOKEN_CHARS} characters without a space")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRecord(f"field {key!r}: not valid Unicode (a lone surrogate)") from None
    return v


def _text(rec: dict, key: str, limits: bool = True) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if isinstance(v, (dict, list)):
        raise BadRecord(f"field {key!r}: expected text, got {type(v).__name__}")
    return _checked(key, str(v), limits)


def _required_text(rec: dict, key: str) -> str:
    v = _text(rec, key)
    if not v:
        raise BadRecord(f"field {key!r} is missing")
    return v


def _bool(rec: dict, key: str) -> bool | None:
    v = rec.get(key)
    if v is None or isinstance(v, bool):
        return v
    raise BadRecord(f"field {key!r}: expected true/false, got {type(v).__name__}")


def _texts(rec: dict, key: str) -> list[str]:
    v = rec.get(key)
    if v is None:
        return []
    if isinstance(v, str):
        return [_checked(key, v)]
    if not isinstance(v, list):
        raise BadRecord(f"field {key!r}: expected a list, got {type(v).__name__}")
    if len(v) > MAX_LIST_ITEMS:
        raise BadRecord(f"field {key!r}: {len(v)} items, more than {MAX_LIST_ITEMS}")
    return [_checked(key, json.dumps(x, sort_keys=True) if isinstance(x, (dict, list)) else str(x))
            for x in v if x is not None]


def _obj(rec: dict, key: str) -> str:
    v = rec.get(key)
    if v is None:
        v = {}
    elif isinstance(v, str):
        v = {"text": v}
    elif not isinstance(v, dict):
        raise BadRecord(f"field {key!r}: expected an object, got {type(v).__name__}")
    try:
        return _checked(key, json.dumps(v, sort_keys=True, default=str))
    except RecursionError:
        raise BadRecord(f"field {key!r}: too deeply nested") from None


MIN_TS = datetime(1990, 1, 1, tzinfo=timezone.utc)
MAX_TS = datetime(2200, 1, 1, tzinfo=timezone.utc)


def parse_timestamp(value, naive_tz: tzinfo = timezone.utc) -> datetime | None:
    """ISO 8601 (with `Z`, an offset, or naive, read in `naive_tz`) to an aware UTC datetime."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRecord(f"timestamp: expected ISO 8601 text, got {type(value).__name__}")
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRecord(f"timestamp: not ISO 8601: {value[:40]!r}") from None
    try:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=naive_tz)
        ts = ts.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # e.g. year 1 at +01:00 is before datetime.min in UTC
        raise BadRecord(f"timestamp out of range: {value[:40]!r}") from None
    if not MIN_TS <= ts < MAX_TS:
        raise BadRecord(f"timestamp out of range: {value[:40]!r}")
    return ts


# --- per-source readers -----------------------------------------------------------------------

def _metric(rec: dict, prefix: str, key: str) -> dict:
    m = rec.get(key) or {}
    if not isinstance(m, dict):
        raise BadRecord(f"field {key!r}: expected an object")
    return {
        f"{prefix}_success_rate": _num(m, "success_rate"),
        f"{prefix}_average_duration": _num(m, "average_duration"),
        f"{prefix}_quality_score": _num(m, "quality_score"),
        f"{prefix}_usage_count": _int(m, "usage_count"),
    }


def read_capabilities(root: Path, naive_tz: tzinfo = timezone.utc) -> tuple[SourceRead, SourceRead]:
    """Capability metrics and their refinement history, as two tables."""
    caps, refs = SourceRead("capabilities"), SourceRead("capability_refinements")
    path = _find(root, "capabilities/capabilities.json")
    if path is None:
        caps.warnings.append("capabilities/capabilities.json is missing: no capabilities exported")
        return caps, refs
    if not _inside(root, path):
        caps.skipped.append(Skip(_rel(root, path), None, "symlink points outside the source directory"))
        return caps, refs
    doc = read_json_document(root, path, caps)
    refs.files = caps.files
    if doc is None:
        return caps, refs
    metrics = doc.get("metrics") if isinstance(doc, dict) else doc
    if not isinstance(metrics, list):
        caps.skipped.append(Skip(caps.files[-1], None, "no 'metrics' list"))
        return caps, refs
    rel = caps.files[-1]
    seen: set[str] = set()
    for i, rec in enumerate(metrics):
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected an object, got {type(rec).__name__}")
            cap_id = _required_text(rec, "capability_id")
            history = rec.get("refinement_history") or []
            if not isinstance(history, list):
                raise BadRecord("field 'refinement_history': expected a list")
            row = {
                "capability_id": cap_id,
                "agent_id": _text(rec, "agent_id"),
                "success_rate": _num(rec, "success_rate"),
                "average_duration": _num(rec, "average_duration"),
                "quality_score": _num(rec, "quality_score"),
                "usage_count": _int(rec, "usage_count"),
                "last_improved": parse_timestamp(rec.get("last_improved"), naive_tz),
                "refinement_count": len(history),
                "metadata": _obj(rec, "metadata"),
            }
        except RECORD_ERRORS as exc:
            caps.skipped.append(Skip(rel, None, f"metrics[{i}]: {exc}"))
            continue
        caps.rows.append(row)
        if cap_id in seen:  # a later duplicate supersedes the earlier one's history too
            refs.rows = [r for r in refs.rows if r["capability_id"] != cap_id]
        seen.add(cap_id)
        for pos, ref in enumerate(history):
            try:
                if not isinstance(ref, dict):
                    raise BadRecord(f"expected an object, got {type(ref).__name__}")
                refs.rows.append({
                    "capability_id": cap_id,
                    "position": pos,
                    "timestamp": parse_timestamp(ref.get("timestamp"), naive_tz),
                    "improvement_type": _text(ref, "improvement_type"),
                    **_metric(ref, "before", "before_metric"),
                    **_metric(ref, "after", "after_metric"),
                    "improvement_percent": _num(ref, "improvement_percent"),
                    "learned_patterns": _texts(ref, "learned_patterns"),
                    "metadata": _obj(ref, "metadata"),
                })
            except RECORD_ERRORS as exc:
                refs.skipped.append(Skip(rel, None, f"metrics[{i}].refinement_history[{pos}]: {exc}"))
    return caps, refs


def read_task_memories(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    out = SourceRead("task_memories")
    path = _find(root, "memory/memories.json")
    if path is None:
        out.warnings.append("memory/memories.json is missing: no task memories exported")
        return out
    if not _inside(root, path):
        out.skipped.append(Skip(_rel(root, path), None, "symlink points outside the source directory"))
        return out
    doc = read_json_document(root, path, out)
    if doc is None:
        return out
    records = doc.get("memories", doc.get("tasks")) if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        out.skipped.append(Skip(out.files[-1], None, "expected a JSON array of task memories"))
        return out
    for i, rec in enumerate(records):
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected an object, got {type(rec).__name__}")
            out.rows.append({
                "task_id": _required_text(rec, "task_id"),
                "agent_id": _text(rec, "agent_id"),
                "command": _text(rec, "command"),
                "timestamp": parse_timestamp(rec.get("timestamp"), naive_tz),
                "outcome": _text(rec, "outcome"),
                "quality_score": _num(rec, "quality_score"),
                "key_learnings": _texts(rec, "key_learnings"),
                "patterns_used": _texts(rec, "patterns_used"),
                "similar_tasks": _texts(rec, "similar_tasks"),
                "context": _obj(rec, "context"),
                "metadata": _obj(rec, "metadata"),
            })
        except RECORD_ERRORS as exc:
            out.skipped.append(Skip(out.files[-1], None, f"[{i}]: {exc}"))
    return out


def _read_jsonl_source(root: Path, table: str, paths: Iterable[Path],
                       parse: Callable[[dict], dict]) -> SourceRead:
    out = SourceRead(table)
    for path in paths:
        if not _inside(root, path):
            out.skipped.append(Skip(_rel(root, path), None, "symlink points outside the source directory"))
            continue
        for lineno, rec in read_jsonl(root, path, out):
            try:
                out.rows.append(parse(rec))
            except RECORD_ERRORS as exc:
                out.skipped.append(Skip(out.files[-1], lineno, str(exc)))
    return out


def read_patterns(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    def parse(rec: dict) -> dict:
        return {
            "pattern_id": _required_text(rec, "pattern_id"),
            "pattern_type": _text(rec, "pattern_type"),
            "code_snippet": _text(rec, "code_snippet", limits=False),  # never exported: only its lines are counted
            "context": _text(rec, "context"),
            "quality_score": _num(rec, "quality_score"),
            "usage_count": _int(rec, "usage_count"),
            "success_rate": _num(rec, "success_rate"),
            "learned_from": _texts(rec, "learned_from"),
            "metadata": _obj(rec, "metadata"),
            "security_score": _num(rec, "security_score"),
            "is_anti_pattern": _bool(rec, "is_anti_pattern"),
            "failure_reasons": _texts(rec, "failure_reasons"),
            "rejection_count": _int(rec, "rejection_count"),
        }

    path = _find(root, "learning/patterns.jsonl")
    out = _read_jsonl_source(root, "patterns", [path] if path else [], parse)
    if path is None:
        out.warnings.append("learning/patterns.jsonl is missing: no patterns exported")
    return out


def read_code_outcomes(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    def parse(rec: dict) -> dict:
        return {
            "workflow_id": _text(rec, "workflow_id"),
            "file_path": _text(rec, "file_path"),
            "initial_scores": _obj(rec, "initial_scores"),
            "final_scores": _obj(rec, "final_scores"),
            "iterations": _int(rec, "iterations"),
            "expert_consultations": _texts(rec, "expert_consultations"),
            "time_to_correctness": _num(rec, "time_to_correctness"),
            "first_pass_success": _bool(rec, "first_pass_success"),
            "timestamp": parse_timestamp(rec.get("timestamp"), naive_tz),
            "agent_id": _text(rec, "agent_id"),
            "prompt_hash": _text(rec, "prompt_hash"),
        }

    path = _find(root, "learning/outcomes.jsonl")
    out = _read_jsonl_source(root, "code_outcomes", [path] if path else [], parse)
    if path is None:
        out.warnings.append("learning/outcomes.jsonl is missing: no code outcomes exported")
    return out


def history_files(root: Path, kind: str, days: Iterable[str] | None = None) -> list[Path]:
    """The analytics day files of `kind` ("agents" or "workflows"), optionally only the given days."""
    wanted = set(days) if days is not None else None
    found = []
    history = root / "analytics" / "history"
    if not history.is_dir():
        return found
    for path in sorted(history.iterdir()):
        m = DAY_FILE.match(path.name)
        if m and m.group(1) == kind and (wanted is None or m.group(2) in wanted) and path.is_file():
            found.append(path)
    return found


def history_days(root: Path) -> list[str]:
    """Every day (YYYY-MM-DD) that has an analytics history file."""
    history = root / "analytics" / "history"
    if not history.is_dir():
        return []
    return sorted({m.group(2) for p in history.iterdir() if (m := DAY_FILE.match(p.name))})


def read_agent_executions(root: Path, naive_tz: tzinfo = timezone.utc,
                          days: Iterable[str] | None = None) -> SourceRead:
    def parse(rec: dict) -> dict:
        return {
            "agent_id": _text(rec, "agent_id"),
            "agent_name": _text(rec, "agent_name"),
            "duration": _num(rec, "duration"),
            "success": _bool(rec, "success"),
            "timestamp": parse_timestamp(rec.get("timestamp"), naive_tz),
        }

    files = history_files(root, "agents", days)
    out = _read_jsonl_source(root, "agent_executions", files, parse)
    if not files and days is None:
        out.warnings.append("analytics/history has no agents-*.jsonl files: no agent executions exported")
    return out


def read_workflow_executions(root: Path, naive_tz: tzinfo = timezone.utc,
                             days: Iterable[str] | None = None) -> SourceRead:
    def parse(rec: dict) -> dict:
        return {
            "workflow_id": _text(rec, "workflow_id"),
            "workflow_name": _text(rec, "workflow_name"),
            "duration": _num(rec, "duration"),
            "steps": _int(rec, "steps"),
            "success": _bool(rec, "success"),
            "timestamp": parse_timestamp(rec.get("timestamp"), naive_tz),
        }

    files = history_files(root, "workflows", days)
    out = _read_jsonl_source(root, "workflow_executions", files, parse)
    if not files and days is None:
        out.warnings.append("analytics/history has no workflows-*.jsonl files: no workflow executions exported")
    return out


def read_expert_performance(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    def parse(rec: dict) -> dict:
        return {
            "expert_id": _text(rec, "expert_id"),
            "domain": _text(rec, "domain"),
            "confidence": _num(rec, "confidence"),
            "query": _text(rec, "query"),
            "timestamp": parse_timestamp(rec.get("timestamp"), naive_tz),
        }

    path = _find(root, "learning/expert_performance.jsonl")
    return _read_jsonl_source(root, "expert_performance", [path] if path else [], parse)


def read_confidence_metrics(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    out = SourceRead("confidence_metrics")
    path = _find(root, "confidence_metrics.json")
    if path is None:
        return out
    if not _inside(root, path):
        out.skipped.append(Skip(_rel(root, path), None, "symlink points outside the source directory"))
        return out
    doc = read_json_document(root, path, out)
    records = doc.get("metrics") if isinstance(doc, dict) else doc
    if doc is not None and not isinstance(records, list):
        out.skipped.append(Skip(out.files[-1], None, "no 'metrics' list"))
        return out
    for i, rec in enumerate(records or []):
        try:
            if not isinstance(rec, dict):
                raise BadRecord(f"expected an object, got {type(rec).__name__}")
            out.rows.append({
                "timestamp": parse_timestamp(rec.get("timestamp"), naive_tz),
                "agent_id": _text(rec, "agent_id"),
                "domain": _text(rec, "domain"),
                "confidence": _num(rec, "confidence"),
                "threshold": _num(rec, "threshold"),
                "meets_threshold": _bool(rec, "meets_threshold"),
                "agreement_level": _num(rec, "agreement_level"),
                "num_experts": _int(rec, "num_experts"),
                "primary_expert": _text(rec, "primary_expert"),
                "query_preview": _text(rec, "query_preview"),
            })
        except RECORD_ERRORS as exc:
            out.skipped.append(Skip(out.files[-1], None, f"metrics[{i}]: {exc}"))
    return out


def _json_files(root: Path, directory: str, pattern: str, out: SourceRead) -> Iterator[tuple[Path, dict]]:
    """Each JSON object file matching `pattern` under `directory`, recording the unusable ones."""
    base = root / directory
    if not base.is_dir():
        return
    for path in sorted(base.glob(pattern)):
        if not path.is_file():
            continue
        if not _inside(root, path):
            out.skipped.append(Skip(_rel(root, path), None, "symlink points outside the source directory"))
            continue
        doc = read_json_document(root, path, out)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            out.skipped.append(Skip(_rel(root, path), None, f"expected a JSON object, got {type(doc).__name__}"))
            continue
        yield path, doc


def read_feedback(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    """Both feedback shapes the framework writes: `feedback_<time>.json` and `feedback-<uuid>.json`."""
    out = SourceRead("feedback")
    for path, rec in _json_files(root, "feedback", "feedback*.json", out):
        try:
            context = rec.get("context") if isinstance(rec.get("context"), dict) else {}
            metrics = rec.get("metrics") if isinstance(rec.get("metrics"), dict) else {}
            metadata = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
            out.rows.append({
                "feedback_id": _text(rec, "feedback_id") or _text(rec, "id") or path.stem,
                "agent_id": _text(rec, "agent_name") or _text(context, "agent_id"),
                "command": _text(rec, "command") or _text(context, "task_type"),
                "accepted": _bool(rec, "accepted"),
                "feedback_text": _text(rec, "feedback_text"),
                "suggestions": _texts(rec, "suggestions"),
                "ratings": _obj(rec, "performance_ratings"),
                "quality_score": _num(metrics, "quality_score"),
                "execution_time_seconds": _num(metrics, "execution_time_seconds"),
                "code_lines_processed": _int(metrics, "code_lines_processed"),
                "timestamp": parse_timestamp(rec.get("timestamp"), naive_tz),
                "metadata": json.dumps({**metadata, **{k: v for k, v in context.items() if k != "timestamp"}},
                                       sort_keys=True, default=str),
            })
        except RECORD_ERRORS as exc:
            out.skipped.append(Skip(_rel(root, path), None, str(exc)))
    return out


def read_step_executions(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    def parse(rec: dict) -> dict:
        return {
            "execution_id": _text(rec, "execution_id"),
            "workflow_id": _text(rec, "workflow_id"),
            "step_id": _text(rec, "step_id"),
            "command": _text(rec, "command"),
            "status": _text(rec, "status"),
            "duration_ms": _num(rec, "duration_ms"),
            "timestamp": parse_timestamp(rec.get("started_at"), naive_tz),
            "retry_count": _int(rec, "retry_count"),
            "error_message": _text(rec, "error_message"),
            "skill": _text(rec, "skill"),
            "gate_pass": _bool(rec, "gate_pass"),
        }

    metrics = root / "metrics"
    files = sorted(p for p in metrics.glob("executions_*.jsonl*") if p.is_file()) if metrics.is_dir() else []
    return _read_jsonl_source(root, "step_executions", files, parse)


_PROMPT_VERSION = re.compile(r"(\d{8})_(\d{6})")


def read_learned_prompts(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    """Learned prompts are free text by nature: only their shape is read, never their text."""
    out = SourceRead("learned_prompts")
    for kind in ("eval", "system", "instructions"):
        for path, rec in _json_files(root, f"learned-prompts/{kind}", "*.json", out):
            m = _PROMPT_VERSION.search(path.stem)
            try:
                stamp = datetime.strptime("".join(m.groups()), "%Y%m%d%H%M%S").replace(tzinfo=naive_tz) if m else None
            except ValueError:  # a name like eval_20261399_999999.json: no usable time
                stamp = None
            prompt = rec.get("prompt")
            examples = rec.get("examples")
            out.rows.append({
                "prompt_type": _text(rec, "prompt_type") or kind,
                "agent_id": _text(rec, "agent_name"),
                "timestamp": stamp.astimezone(timezone.utc) if stamp else None,
                "has_parent": rec.get("parent_version") is not None,
                "prompt_chars": len(prompt) if isinstance(prompt, str) else 0,
                "examples": len(examples) if isinstance(examples, list) else 0,
            })
    return out
