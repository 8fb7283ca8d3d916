"""Readers for the `.tapps-agents/` source files (see SOURCE_FORMATS.md).

Every reader returns the records it could parse plus what it skipped and why; one damaged line
never costs the rest of a file.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from itertools import groupby
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from schemas.tables import RAW, TEXT, conform

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
    """Parsed records of one table plus an account of the input.

    Records are kept in file order as `parts`: lists of row dicts (parsed line by line) or Arrow tables
    (whole files or runs of lines read by Arrow, see `_read_flat`); `rows` turns them all into dicts.
    """

    table: str
    skipped: list[Skip] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    parts: list[list[dict] | pa.Table] = field(default_factory=list)

    @property
    def rows(self) -> list[dict]:
        """Every record as a dict (Arrow parts are converted once, on first use)."""
        if len(self.parts) != 1 or not isinstance(self.parts[0], list):
            self.parts = [[row for part in self.parts for row in _part_rows(part)]]
        return self.parts[0]

    @rows.setter
    def rows(self, rows: list[dict]) -> None:
        self.parts = [rows]

    def drop_duplicate_keys(self) -> set:
        """Keep the last record per key; record the superseded ones. Returns the superseded keys."""
        key = KEYS.get(self.table)
        if key is None:
            return set()
        rows = self.rows
        last = {row[key]: i for i, row in enumerate(rows)}
        if len(last) == len(rows):
            return set()
        keep = set(last.values())
        dropped = {row[key] for i, row in enumerate(rows) if i not in keep}
        superseded = len(rows) - len(keep)
        self.rows = [row for i, row in enumerate(rows) if i in keep]
        self.skipped.append(Skip(self.files[-1] if self.files else self.table, None,
                                 f"{superseded} record(s) with a duplicate {key} superseded by a later one"))
        return dropped

    def frame(self) -> pd.DataFrame:
        self.drop_duplicate_keys()
        schema = RAW[self.table]
        frames = []
        for is_table, run in groupby((p for p in self.parts if len(p)), key=lambda p: isinstance(p, pa.Table)):
            run = list(run)
            frames.append(_arrow_frame(pa.concat_tables(run), schema) if is_table
                          else _rows_frame([row for rows in run for row in rows], schema))
        if len(frames) == 1:
            return frames[0]
        return conform(pd.concat(frames, ignore_index=True), schema) if frames else _rows_frame([], schema)


def _rows_frame(rows: list[dict], schema) -> pd.DataFrame:
    return conform(pd.DataFrame.from_records(rows, columns=list(schema.columns)), schema)


_ARROW_TO_PANDAS = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): TEXT}.get


def _arrow_frame(table: pa.Table, schema) -> pd.DataFrame:
    """An Arrow part as the frame `_rows_frame` makes of the same records (timestamps in ns, as pandas')."""
    table = table.select(list(schema.columns))
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp("ns", tz="UTC")))
    return conform(table.to_pandas(types_mapper=_ARROW_TO_PANDAS), schema)


def _part_rows(part: list[dict] | pa.Table) -> list[dict]:
    """A part's records as the dicts the line-by-line parser makes (timestamps with `timezone.utc`)."""
    if isinstance(part, list):
        return part
    rows = part.to_pylist()
    for name in (f.name for f in part.schema if pa.types.is_timestamp(f.type)):
        for row in rows:
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=timezone.utc)
    return rows


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
    # `Path.resolve().is_relative_to()` on plain strings: called once per file, and much cheaper so.
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


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
        yield from _parse_lines(rel, _iter_lines(path), out)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        out.skipped.append(Skip(rel, None, f"unreadable: {exc}"))


def _parse_lines(rel: str, lines: Iterable[tuple[int, bytes | None]], out: SourceRead) -> Iterator[tuple[int, dict]]:
    """Yield (line, object) for each good numbered line, recording bad ones in `out`."""
    for lineno, raw in lines:
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
    if type(v) is float:  # the common case: finite stays, NaN and infinities become missing
        return v if v - v == 0 else None
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
    if v.isascii():
        return v
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRecord(f"field {key!r}: not valid Unicode (a lone surrogate)") from None
    return v


def _text(rec: dict, key: str, limits: bool = True) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if type(v) is str:
        return v if len(v) <= MAX_TOKEN_CHARS and v.isascii() else _checked(key, v, limits)
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
    # Short ASCII text (most of it) passes `_checked` unchanged: skip the call.
    return [x if type(x) is str and len(x) <= MAX_TOKEN_CHARS and x.isascii()
            else _checked(key, x if type(x) is str else _dump_sorted(x) if isinstance(x, (dict, list)) else str(x))
            for x in v if x is not None]


# Reused encoders: the same output as json.dumps(..., sort_keys=True[, default=str]) without building one per call.
_dump_sorted = json.JSONEncoder(sort_keys=True).encode
_dump_object = json.JSONEncoder(sort_keys=True, default=str).encode


def _obj(rec: dict, key: str) -> str:
    v = rec.get(key)
    if v is None or v == {}:
        return "{}"
    if isinstance(v, str):
        v = {"text": v}
    elif not isinstance(v, dict):
        raise BadRecord(f"field {key!r}: expected an object, got {type(v).__name__}")
    try:
        return _checked(key, _dump_object(v))
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


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def near_days(days: Iterable[str]) -> frozenset[str]:
    """The UTC `days` and their neighbours: the local dates a record of those days can carry."""
    out = set()
    for day in days:
        d = datetime.fromisoformat(day).date()
        out.update((d + timedelta(days=delta)).isoformat() for delta in (-1, 0, 1))
    return frozenset(out)


def outside(rec: dict, naive_tz: tzinfo, days: frozenset[str] | None, near: frozenset[str]) -> bool:
    """Whether a record's valid `timestamp` falls on none of the UTC `days` (`near` = near_days(days)).
    A damaged or missing time is not outside: the parser records or the caller counts it."""
    if days is None or not isinstance(rec, dict):
        return False
    value = rec.get("timestamp")
    if isinstance(value, str) and _ISO_DATE.match(value) and value[:10] not in near:
        return True  # most records of a one-day run, ruled out without parsing
    try:
        stamp = parse_timestamp(value, naive_tz)
    except RECORD_ERRORS:
        return False
    return stamp is not None and stamp.date().isoformat() not in days


def read_task_memories(root: Path, naive_tz: tzinfo = timezone.utc,
                       days: Iterable[str] | None = None) -> SourceRead:
    """Task memories; with `days` (UTC dates), only those days' records and undated ones are parsed
    (a one-day run reads the whole file but parses only that day's records)."""
    days, near = (frozenset(days), near_days(days)) if days is not None else (None, frozenset())
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
        if outside(rec, naive_tz, days, near):
            continue
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


def _read_jsonl_source(root: Path, table: str, paths: Iterable[Path], parse: Callable[[dict], dict],
                       skip: Callable[[dict], bool] | None = None) -> SourceRead:
    out = SourceRead(table)
    for path in paths:
        if not _inside(root, path):
            out.skipped.append(Skip(_rel(root, path), None, "symlink points outside the source directory"))
            continue
        records = read_jsonl(root, path, out)
        if skip is not None:
            records = ((lineno, rec) for lineno, rec in records if not skip(rec))
        _parse_records(records, parse, out)
    return out


def _parse_records(records: Iterable[tuple[int, dict]], parse: Callable[[dict], dict], out: SourceRead) -> None:
    """Append the parsed records as a new part of `out`; record the ones `parse` rejects."""
    rows: list[dict] = []
    out.parts.append(rows)
    for lineno, rec in records:
        try:
            rows.append(parse(rec))
        except RECORD_ERRORS as exc:
            out.skipped.append(Skip(out.files[-1], lineno, str(exc)))


# --- flat JSON Lines sources, read whole files with Arrow ---------------------------------------
#
# A flat source has only scalar fields, so its files can be read in one go by Arrow and coerced column
# by column. Arrow's result is used only where it provably equals the line-by-line parser's: files
# (and then parts of a file) that fail any check below (damaged or wrongly typed lines, values at a
# limit, timestamps outside a plain ISO 8601 form, ...) are split and retried, down to a few lines
# that go through `_parse_lines`, so skipped records and their line numbers stay exactly the same.

TEXT, NUM, INT, BOOL, TIME = "text", "num", "int", "bool", "time"
_FIELD_PARSERS = {TEXT: _text, NUM: _num, INT: _int, BOOL: _bool}
_ARROW_TYPES = {TEXT: pa.string(), NUM: pa.float64(), INT: pa.float64(), BOOL: pa.bool_(), TIME: pa.string()}
_OUT_TYPES = {TEXT: pa.string(), NUM: pa.float64(), INT: pa.int64(), BOOL: pa.bool_(),
              TIME: pa.timestamp("us", tz="UTC")}

FAST_MAX_BYTES = 64 * 1024 * 1024  # larger files are read line by line, keeping memory bounded
BATCH_BYTES = 4 * 1024 * 1024  # small files are read together, up to about this much
SLOW_SEGMENT_LINES = 16
NEST_LIMIT = 100  # Python's json gives up on deep nesting (RecursionError) where Arrow does not
_BOM = b"\xef\xbb\xbf"
_NOT_OPENING = bytes(b for b in range(256) if b not in b"\n{[")
# A `}` followed by what cannot follow one inside an object: maybe a second value on the line.
_AFTER_OBJECT = re.compile(rb"\}[ \t\r]*[^,}\]\s]")
_ARROW_ROW = re.compile(r"in row (\d+)$")
_ISO = (r"^\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
        r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$")
_ISO_AWARE = r"(?:Z|[+-]\d\d:\d\d)$"
_UTC_US = pa.timestamp("us", tz="UTC")
_MIN_US, _MAX_US = (round(t.timestamp()) * 10**6 for t in (MIN_TS, MAX_TS))


@dataclass(frozen=True)
class FlatSource:
    """A JSON Lines source of scalar fields: (column, source field, kind) in output order."""

    table: str
    fields: tuple[tuple[str, str, str], ...]

    def parse(self, rec: dict, naive_tz: tzinfo) -> dict:
        """One record, line by line: the reference the Arrow path must match."""
        return {column: parse_timestamp(rec.get(src), naive_tz) if kind == TIME else _FIELD_PARSERS[kind](rec, src)
                for column, src, kind in self.fields}


@dataclass
class _FlatRead:
    """What reading one flat source needs at every step."""

    source: FlatSource
    naive_tz: tzinfo
    out: SourceRead

    def slow(self, records: Iterable[tuple[int, dict]]) -> None:
        _parse_records(records, lambda rec: self.source.parse(rec, self.naive_tz), self.out)


def _read_flat(root: Path, source: FlatSource, paths: Iterable[Path], naive_tz: tzinfo) -> SourceRead:
    read = _FlatRead(source, naive_tz, SourceRead(source.table))
    batch: list[tuple[str, bytes]] = []  # whole files, each ending in a newline, for one Arrow read
    size = 0
    for path in paths:
        if not _inside(root, path):
            _read_files(batch, read)
            batch, size = [], 0
            read.out.skipped.append(Skip(_rel(root, path), None, "symlink points outside the source directory"))
            continue
        data = _file_bytes(path)
        if data is None:  # too big, unreadable or with an overlong line
            _read_files(batch, read)
            batch, size = [], 0
            read.slow(read_jsonl(root, path, read.out))
            continue
        batch.append((_rel(root, path), data))
        size += len(data)
        if not data.endswith(b"\n") or size >= BATCH_BYTES:
            _read_files(batch, read)
            batch, size = [], 0
    _read_files(batch, read)
    return read.out


def _file_bytes(path: Path) -> bytes | None:
    """The (decompressed) file, or None when Arrow should not read it whole."""
    try:
        if path.suffix != ".gz" and path.stat().st_size > FAST_MAX_BYTES:
            return None
        with _open_binary(path) as fh:
            data = fh.read(FAST_MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error):  # the line-by-line reader records why
        return None
    if len(data) > FAST_MAX_BYTES or (len(data) >= MAX_LINE_BYTES and
                                      int(np.diff(_line_starts(data), append=len(data)).max()) > MAX_LINE_BYTES):
        return None
    return data


def _line_starts(data: bytes) -> np.ndarray:
    """Offset of each line's first byte."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A) + 1
    return np.concatenate(([0], ends[:-1] if data.endswith(b"\n") else ends))


def _read_files(files: list[tuple[str, bytes]], read: _FlatRead) -> None:
    """Whole files, read together: as one table if that checks out, else split around the file Arrow
    stopped in (or in halves), down to single files."""
    if len(files) == 1:
        read.out.files.append(files[0][0])
        _read_segment(files[0][1], 1, read)
    if len(files) <= 1:
        return
    table, bad = _arrow_records(b"".join(d for _, d in files), 1, read)
    if table is not None:
        read.out.files.extend(rel for rel, _ in files)
        read.out.parts.append(table)
        return
    i = len(files) if bad is None else int(np.searchsorted(np.cumsum([d.count(b"\n") for _, d in files]), bad,
                                                             side="right"))
    cuts = [i, i + 1] if i < len(files) else [len(files) // 2]
    for a, b in zip([0, *cuts], [*cuts, len(files)]):
        _read_files(files[a:b], read)


def _read_segment(data: bytes, first: int, read: _FlatRead) -> None:
    """Lines `first`.. of a file: as one table if that checks out, else split around the line Arrow
    stopped at (or in halves), down to a few lines read line by line."""
    table, bad = _arrow_records(data, first, read)
    if table is not None:
        read.out.parts.append(table)
        return
    starts = _line_starts(data) if data else []
    if len(starts) <= SLOW_SEGMENT_LINES:
        read.slow(_parse_lines(read.out.files[-1], _numbered_lines(data, first), read.out))
        return
    cuts = [bad, bad + 1] if bad is not None and bad < len(starts) else [len(starts) // 2]
    for a, b in zip([0, *cuts], [*cuts, len(starts)]):
        if a < b:
            _read_segment(data[starts[a]:starts[b] if b < len(starts) else len(data)], first + a, read)


def _numbered_lines(data: bytes, first: int) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes with its newline) as `_iter_lines` yields them, for lines no longer than the limit."""
    pieces = data.split(b"\n")
    last = pieces.pop()
    for i, piece in enumerate(pieces):
        yield first + i, piece + b"\n"
    if last:
        yield first + len(pieces), last


def _arrow_records(data: bytes, first: int, read: _FlatRead) -> tuple[pa.Table | None, int | None]:
    """(the lines' records, None) if they are certainly what `_parse_lines` + `parse` give; else (None,
    the line Arrow stopped at, if it said)."""
    lines, bad = _plain_lines(data, first) if data else (None, None)
    if lines is None:
        return None, bad
    fields = read.source.fields
    schema = pa.schema([(src, _ARROW_TYPES[kind]) for _, src, kind in fields])
    try:
        # Two blocks parsed by two threads; a row named in an error is then only a hint where to split.
        blocks = pa_json.ReadOptions(use_threads=True, block_size=max(len(data) // 2 + 1, 1 << 20))
        table = pa_json.read_json(
            pa.py_buffer(data), read_options=blocks,
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
    except pa.ArrowInvalid as exc:
        row = _ARROW_ROW.search(str(exc))
        return None, int(row.group(1)) if row else None
    # Each line starts one object and no line starts two, so one row per line means one object per line.
    if table.num_rows != lines:
        return None, None
    columns = {}
    for column, src, kind in fields:
        values = _arrow_values(table.column(src), src, kind, read.naive_tz)
        if values is None:
            return None, None
        columns[column] = values
    return pa.table(columns, schema=pa.schema([(c, _OUT_TYPES[k]) for c, _, k in fields])), None


def _plain_lines(data: bytes, first: int) -> tuple[int | None, int | None]:
    """(the number of lines, None) if each line is certainly read as one JSON object by Arrow exactly
    when it is by Python: valid UTF-8, every line starts with `{` and holds no `}` followed by the start
    of another value, no nesting Python's json rejects. Else (None, the first line not starting with `{`
    if that is the reason)."""
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None, None
        if data.find(_BOM, 3 if first == 1 and data.startswith(_BOM) else 0) != -1:
            return None, None  # a byte-order mark is only tolerated at the start of the file
    if _AFTER_OBJECT.search(data):
        return None, None
    starts = _line_starts(data)
    heads = np.frombuffer(data, np.uint8)[starts]  # Arrow takes a line of `null` as a row (or crashes on it)
    if first == 1 and data.startswith(_BOM):
        heads[0] = data[3] if len(data) > 3 else 0
    if not (heads == 0x7B).all():
        return None, int(np.argmin(heads == 0x7B))
    opens = data.translate(None, _NOT_OPENING)  # newlines, `{` and `[`: a bound on each line's nesting
    if int(np.diff(_line_starts(opens), append=len(opens)).max()) > NEST_LIMIT:
        return None, None
    return len(starts), None


def _arrow_values(values: pa.ChunkedArray, key: str, kind: str, naive_tz: tzinfo) -> pa.ChunkedArray | None:
    """One column coerced as the field helpers would, or None when that cannot be vouched for."""
    if kind == TEXT:
        return values if _texts_ok(values, key) else None
    if kind == BOOL:
        return values  # Arrow already refused anything but true, false and null
    if kind == TIME:
        return _arrow_timestamps(values, naive_tz)
    values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))
    if kind == NUM:
        return values
    if (pc.max(pc.abs(values)).as_py() or 0) >= 2**53:
        return None  # near the int64 limit: leave the exact range check to `_int`
    return pc.cast(pc.trunc(values), pa.int64())


def _texts_ok(values: pa.ChunkedArray, key: str) -> bool:
    """Whether every text is within the limits `_checked` applies (the few long ones are checked by it)."""
    long = pc.filter(values, pc.greater(pc.utf8_length(values), MAX_TOKEN_CHARS))
    try:
        for v in long.to_pylist():
            _checked(key, v)
    except BadRecord:
        return False
    return True


def _arrow_tz(naive_tz: tzinfo) -> str | None:
    """The IANA name Arrow knows `naive_tz` by, if it has one."""
    if naive_tz is timezone.utc:
        return "UTC"
    return naive_tz.key if isinstance(naive_tz, ZoneInfo) else None


def _arrow_timestamps(values: pa.ChunkedArray, naive_tz: tzinfo) -> pa.ChunkedArray | None:
    """`parse_timestamp` for a column of plain ISO 8601 texts; None for anything else, an ambiguous or
    nonexistent local time, or a time out of range."""
    null = pa.scalar(None, pa.string())
    values = pc.if_else(pc.equal(values, ""), null, values)
    if pc.all(pc.match_substring_regex(values, _ISO)).as_py() is False:
        return None
    try:
        stamps = pc.cast(values, _UTC_US)  # Arrow insists on an offset here: fails if any time is naive
    except pa.ArrowInvalid:
        aware = pc.match_substring_regex(values, _ISO_AWARE)
        naive = pc.if_else(aware, null, values)
        if (tz := _arrow_tz(naive_tz)) is None:
            return None
        try:
            local = pc.assume_timezone(pc.cast(naive, pa.timestamp("us")), tz)  # raises if ambiguous/nonexistent
            stamps = pc.coalesce(pc.cast(pc.if_else(aware, values, null), _UTC_US), pc.cast(local, _UTC_US))
        except pa.ArrowInvalid:
            return None
    bounds = pc.min_max(stamps.cast(pa.int64()))  # as integers: Python's datetime cannot hold every value
    if bounds["min"].is_valid and not (_MIN_US <= bounds["min"].as_py() and bounds["max"].as_py() < _MAX_US):
        return None
    return stamps


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


def read_code_outcomes(root: Path, naive_tz: tzinfo = timezone.utc,
                       days: Iterable[str] | None = None) -> SourceRead:
    """Code outcomes; `days` as in `read_task_memories`."""
    days, near = (frozenset(days), near_days(days)) if days is not None else (None, frozenset())
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
    out = _read_jsonl_source(root, "code_outcomes", [path] if path else [], parse,
                             skip=(lambda rec: outside(rec, naive_tz, days, near)) if days is not None else None)
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


AGENT_EXECUTIONS = FlatSource("agent_executions", (
    ("agent_id", "agent_id", TEXT), ("agent_name", "agent_name", TEXT), ("duration", "duration", NUM),
    ("success", "success", BOOL), ("timestamp", "timestamp", TIME)))
WORKFLOW_EXECUTIONS = FlatSource("workflow_executions", (
    ("workflow_id", "workflow_id", TEXT), ("workflow_name", "workflow_name", TEXT), ("duration", "duration", NUM),
    ("steps", "steps", INT), ("success", "success", BOOL), ("timestamp", "timestamp", TIME)))
EXPERT_PERFORMANCE = FlatSource("expert_performance", (
    ("expert_id", "expert_id", TEXT), ("domain", "domain", TEXT), ("confidence", "confidence", NUM),
    ("query", "query", TEXT), ("timestamp", "timestamp", TIME)))
STEP_EXECUTIONS = FlatSource("step_executions", (
    ("execution_id", "execution_id", TEXT), ("workflow_id", "workflow_id", TEXT), ("step_id", "step_id", TEXT),
    ("command", "command", TEXT), ("status", "status", TEXT), ("duration_ms", "duration_ms", NUM),
    ("timestamp", "started_at", TIME), ("retry_count", "retry_count", INT),
    ("error_message", "error_message", TEXT), ("skill", "skill", TEXT), ("gate_pass", "gate_pass", BOOL)))
FLAT_SOURCES = (AGENT_EXECUTIONS, WORKFLOW_EXECUTIONS, EXPERT_PERFORMANCE, STEP_EXECUTIONS)


def read_agent_executions(root: Path, naive_tz: tzinfo = timezone.utc,
                          days: Iterable[str] | None = None) -> SourceRead:
    files = history_files(root, "agents", days)
    out = _read_flat(root, AGENT_EXECUTIONS, files, naive_tz)
    if not files and days is None:
        out.warnings.append("analytics/history has no agents-*.jsonl files: no agent executions exported")
    return out


def read_workflow_executions(root: Path, naive_tz: tzinfo = timezone.utc,
                             days: Iterable[str] | None = None) -> SourceRead:
    files = history_files(root, "workflows", days)
    out = _read_flat(root, WORKFLOW_EXECUTIONS, files, naive_tz)
    if not files and days is None:
        out.warnings.append("analytics/history has no workflows-*.jsonl files: no workflow executions exported")
    return out


def read_expert_performance(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    path = _find(root, "learning/expert_performance.jsonl")
    out = _read_flat(root, EXPERT_PERFORMANCE, [path] if path else [], naive_tz)
    if path is None:
        out.warnings.append("learning/expert_performance.jsonl is missing: no expert consultations exported")
    return out


def read_confidence_metrics(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    out = SourceRead("confidence_metrics")
    path = _find(root, "confidence_metrics.json")
    if path is None:
        out.warnings.append("confidence_metrics.json is missing: no confidence metrics exported")
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
    if not out.files and not out.skipped:
        out.warnings.append("feedback has no feedback*.json files: no feedback exported")
    return out


def read_step_executions(root: Path, naive_tz: tzinfo = timezone.utc) -> SourceRead:
    metrics = root / "metrics"
    files = sorted(p for p in metrics.glob("executions_*.jsonl*") if p.is_file()) if metrics.is_dir() else []
    out = _read_flat(root, STEP_EXECUTIONS, files, naive_tz)
    if not files:
        out.warnings.append("metrics has no executions_*.jsonl files: no step executions exported")
    return out


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
