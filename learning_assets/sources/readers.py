"""The building blocks of the table readers (`learning_assets/tables/`): finding, opening and parsing
`.tapps-agents/` files (see SOURCE_FORMATS.md), and `SourceRead`, what a reader found.

Every reader returns the records it could parse plus what it skipped and why; one damaged line
never costs the rest of a file. A file (or directory) left out whole, because it cannot be read, is not
UTF-8 or does not hold the records where they belong, is also a warning that says how many records it held.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from itertools import groupby, islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from learning_assets.errors import os_words
from learning_assets.jsontext import json_error, wide_encoding
from learning_assets.sources.fields import (
    MAX_LIST_ITEMS,
    MAX_TOKEN_CHARS,
    MAX_TS,
    MIN_TS,
    RECORD_ERRORS,
    BadRecord,
    boolean,
    checked_text,
    integer,
    json_text,
    number,
    parse_timestamp,
    required_text,
    text,
    texts,
)
from learning_assets.sources.frames import TEXT as TEXT_DTYPE
from learning_assets.sources.frames import TEXT_LIST, conform

MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_JSON_BYTES = 512 * 1024 * 1024
DAY_FILE = re.compile(r"^(agents|workflows)-(\d{4}-\d{2}-\d{2})\.jsonl(\.gz)?$")
OUTSIDE = "symlink points outside the source directory"


@dataclass(frozen=True)
class Skip:
    file: str
    line: int | None
    reason: str
    whole_file: bool = False  # the file (or directory) was left out whole: see `SourceRead.drop_file`

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass
class SourceRead:
    """Parsed records of one table plus an account of the input.

    Records are kept in file order as `parts`: lists of row dicts (parsed line by line) or Arrow tables
    (whole files or runs of lines read by Arrow, see `read_flat`); `rows` turns them all into dicts.
    """

    table: str
    schema: pa_schema.DataFrameSchema  # the raw table's
    key: tuple[str, ...] | None = None  # a later record with the same key supersedes an earlier one
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

    def drop_file(self, rel: str, reason: str, records: int | None = None) -> None:
        """Leave out the whole file (or directory) `rel`: a skip, and a warning that says why and how many
        records (when known) were lost."""
        lost = ("none of its records were read" if records is None else "it held no records" if records == 0
                else "its one record was dropped" if records == 1 else f"all {records} records dropped")
        self.skipped.append(Skip(rel, None, reason, whole_file=True))
        self.warnings.append(f"{rel}: {reason}; {lost}")

    def drop_duplicate_keys(self) -> set:
        """Keep the last record per key; record the superseded ones. Returns the superseded keys."""
        if self.key is None:
            return set()
        idents = self._keys()
        last = {ident: i for i, ident in enumerate(idents)}
        if len(last) == len(idents):  # the usual case: the parts stay as they are
            return set()
        keep = set(last.values())
        dropped = {ident for i, ident in enumerate(idents) if i not in keep}
        self.rows = [row for i, row in enumerate(self.rows) if i in keep]
        self.skipped.append(Skip(self.files[-1] if self.files else self.table, None,
                                 f"{len(idents) - len(keep)} record(s) with a duplicate {', '.join(self.key)} "
                                 "superseded by a later one"))
        return dropped

    def _keys(self) -> list:
        """Each record's key (a tuple when it has several columns), in order, without converting Arrow parts."""
        def part_keys(part) -> Iterable:
            columns = [part.column(k).to_pylist() if isinstance(part, pa.Table) else [row[k] for row in part]
                       for k in self.key]
            return columns[0] if len(columns) == 1 else zip(*columns)
        return [ident for part in self.parts for ident in part_keys(part)]

    def frame(self) -> pd.DataFrame:
        self.drop_duplicate_keys()
        schema = self.schema
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


_ARROW_TO_PANDAS = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): TEXT_DTYPE,
                    pa.list_(pa.string()): TEXT_LIST}.get


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


def resolve_source_root(path: str | Path) -> Path:
    """Accept a project directory (holding `.tapps-agents/`) or the `.tapps-agents/` directory itself."""
    root = Path(path).expanduser()
    if (root / ".tapps-agents").is_dir():
        root = root / ".tapps-agents"
    return root


def _may_be_file(path: Path) -> bool:
    """Whether `path` is a file, or may be one that a directory without search permission hides (reading
    it then says so)."""
    try:
        return path.is_file()
    except PermissionError:
        return True


def find(root: Path, rel: str) -> Path | None:
    for candidate in (root / rel, root / f"{rel}.gz"):
        if _may_be_file(candidate):
            return candidate
    return None


def listed(root: Path, rel: str, pattern: str = "*", out: SourceRead | None = None) -> list[Path]:
    """The files of the source directory `rel` whose names match `pattern` (hidden ones not), sorted; none
    when there is no such directory. One that cannot be listed is recorded in `out` (raises without it)."""
    directory = root / rel
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        if out is None:
            raise
        out.drop_file(rel, f"cannot list the directory ({os_words(exc)})")
        return []
    return [directory / name for name in sorted(fnmatch.filter(names, pattern))
            if not name.startswith(".") and _may_be_file(directory / name)]


def _wide_text(path: Path) -> str | None:
    """The encoding of a file in UTF-16 or UTF-32 (see `jsontext.wide_encoding`), else None."""
    with _open_binary(path) as fh:
        return wide_encoding(fh.read(8))


def _wide_reason(encoding: str) -> str:
    return f"file is {encoding}; the framework writes UTF-8: convert the file to UTF-8"


def _text_lines(path: Path, encoding: str) -> int:
    """The non-blank lines of a text file in `encoding`, read in bounded pieces."""
    lines, blank = 0, True
    with _open_binary(path) as fh, io.TextIOWrapper(fh, encoding=encoding, errors="replace") as text:
        while piece := text.readline(MAX_LINE_BYTES):
            blank = blank and not piece.strip()
            if piece.endswith("\n"):
                lines, blank = lines + (not blank), True
    return lines + (not blank)


def _unreadable(exc: BaseException) -> str:
    return f"unreadable: {os_words(exc) if isinstance(exc, OSError) and exc.errno else exc}"


def inside(root: Path, path: Path) -> bool:
    # `Path.resolve().is_relative_to()` on plain strings: called once per file, and much cheaper so.
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def relative(root: Path, path: Path) -> str:
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


def read_jsonl(root: Path, path: Path, out: SourceRead) -> Iterator[tuple[int, dict]]:
    """Yield (line, object) for each good line of a JSON Lines file, recording bad ones in `out`; a file
    that cannot be opened, or is in UTF-16 or UTF-32, is left out whole."""
    rel = relative(root, path)
    out.files.append(rel)
    try:
        encoding = _wide_text(path)
        if encoding is not None:
            out.drop_file(rel, _wide_reason(encoding), _text_lines(path, encoding))
            return
    except (OSError, EOFError, zlib.error) as exc:
        out.drop_file(rel, _unreadable(exc))
        return
    try:
        yield from _parse_lines(rel, _iter_lines(path), out)
    except (OSError, EOFError, zlib.error) as exc:
        out.skipped.append(Skip(rel, None, f"{_unreadable(exc)}; the rest of the file was not read"))


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
            reason = "truncated JSON" if not raw.endswith(b"\n") else f"invalid JSON: {json_error(exc)}"
            out.skipped.append(Skip(rel, lineno, reason))
            continue
        if not isinstance(obj, dict):
            out.skipped.append(Skip(rel, lineno, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        yield lineno, obj


def read_json_document(root: Path, path: Path, out: SourceRead, count: Callable[[Any], int | None] | None = None):
    """Load a whole JSON file; None (with the reason recorded) when it cannot be used.

    Without `count` the file is one record, skipped as such. With it, the file holds a table's records:
    a file that cannot be used is dropped whole (`SourceRead.drop_file`), saying how many records it held
    (`count` of the document, when it can be read at all).
    """
    rel = relative(root, path)
    out.files.append(rel)

    def unusable(reason: str, doc: Any = None) -> None:
        if count is None:
            out.skipped.append(Skip(rel, None, reason))
        else:
            out.drop_file(rel, reason, None if doc is None else count(doc))

    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            unusable(f"file larger than {MAX_JSON_BYTES} bytes")
            return None
        with _open_binary(path) as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        unusable(_unreadable(exc))
        return None
    encoding = wide_encoding(data[:8])
    if encoding is not None:
        try:
            doc = json.loads(data.decode(encoding))  # only to say how many records are lost
        except (ValueError, RecursionError):
            doc = None
        unusable(_wide_reason(encoding), doc)
        return None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is tolerated
        del data  # the bytes go before parsing, not held alongside the document
        return json.loads(text)
    except UnicodeDecodeError:
        unusable("not valid UTF-8")
    except (ValueError, RecursionError) as exc:
        unusable(f"invalid JSON: {json_error(exc)}")
    return None


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


def read_jsonl_source(root: Path, out: SourceRead, paths: Iterable[Path], fields: Fields, naive_tz: tzinfo,
                      skip: Callable[[dict], bool] | None = None) -> SourceRead:
    """Parse the records of JSON Lines files into `out` (records `skip` rules out are not parsed)."""
    for path in paths:
        if not inside(root, path):
            out.drop_file(relative(root, path), OUTSIDE)
            continue
        records = read_jsonl(root, path, out)
        if skip is not None:
            records = ((lineno, rec) for lineno, rec in records if not skip(rec))
        parse_records(records, fields, naive_tz, out)
    return out


def parse_records(records: Iterable[tuple[int, Any]], fields: Fields, naive_tz: tzinfo, out: SourceRead,
                  reject: Callable[[int, str], Skip] | None = None) -> None:
    """Parse (line, record) pairs into Arrow parts of `out`, a chunk at a time (`Fields.table`); each record
    that cannot be used is recorded as `reject(line, reason)` (default: a skip of that line of the current
    file), in line order among the skips that reading those lines recorded."""
    records = iter(records)
    while True:
        start = len(out.skipped)
        chunk = list(islice(records, CHUNK_RECORDS))
        if not chunk:
            return
        table, errors = fields.table([rec for _, rec in chunk], naive_tz)
        out.parts.append(table)
        if not errors:
            continue
        skips = [reject(chunk[i][0], reason) if reject else Skip(out.files[-1], chunk[i][0], reason)
                 for i, reason in errors]
        read_skips = out.skipped[start:]
        out.skipped[start:] = sorted(read_skips + skips, key=lambda s: (s.line is None, s.line or 0)) \
            if read_skips else skips


# --- records parsed column by column ---------------------------------------------------------
#
# A table's fields are declared once (`Fields`): `parse` coerces one record with the field helpers of
# `fields.py`, the reference; `table` gives the same for many records a column at a time in pyarrow, and
# sends only the records some column cannot vouch for (a wrong type, a value at a limit, ...) through
# `parse`, which then keeps or rejects them exactly as record by record.

TEXT, REQUIRED, CODE, NUM, INT, BOOL, TIME, TEXTS, OBJECT = (
    "text", "required", "code", "num", "int", "bool", "time", "texts", "object")
_FIELD_PARSERS = {TEXT: text, REQUIRED: required_text, CODE: lambda rec, key: text(rec, key, limits=False),
                  NUM: number, INT: integer, BOOL: boolean, TEXTS: texts, OBJECT: json_text}
_ARROW_TYPES = {TEXT: pa.string(), REQUIRED: pa.string(), CODE: pa.string(), NUM: pa.float64(), INT: pa.float64(),
                BOOL: pa.bool_(), TIME: pa.string(), TEXTS: pa.list_(pa.string())}
_OUT_TYPES = {**_ARROW_TYPES, INT: pa.int64(), TIME: pa.timestamp("us", tz="UTC"), OBJECT: pa.string()}
# The Python types each kind takes from JSON as they are (anything else goes through the field helper)
_PLAIN = {TEXT: {str}, REQUIRED: {str}, CODE: {str}, NUM: {float, int}, INT: {float, int}, BOOL: {bool},
          TIME: {str}, TEXTS: {list}}
CHUNK_RECORDS = 16384  # records coerced together: bounds what is held twice (records and their columns)


def _field(rec: dict, key: str, kind: str, naive_tz: tzinfo):
    return parse_timestamp(rec.get(key), naive_tz) if kind == TIME else _FIELD_PARSERS[kind](rec, key)


@dataclass(frozen=True)
class Fields:
    """The fields of a source's records: (column, source field, kind) in output order."""

    fields: tuple[tuple[str, str, str], ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(column, _OUT_TYPES[kind]) for column, _, kind in self.fields])

    def parse(self, rec: Any, naive_tz: tzinfo) -> dict:
        """One record on its own: the reference the column-wise paths must match."""
        if not isinstance(rec, dict):
            raise BadRecord(f"expected an object, got {type(rec).__name__}")
        return {column: _field(rec, src, kind, naive_tz) for column, src, kind in self.fields}

    def table(self, records: list, naive_tz: tzinfo) -> tuple[pa.Table, list[tuple[int, str]]]:
        """`parse` of each record, a column at a time: (the records that parse, in order; (position, reason)
        of each that does not)."""
        unsure = np.array([type(rec) is not dict for rec in records], dtype=bool)
        dicts = [rec if type(rec) is dict else {} for rec in records] if unsure.any() else records
        columns = {}
        for column, src, kind in self.fields:
            columns[column], doubtful = _column([rec.get(src) for rec in dicts], src, kind, naive_tz)
            if doubtful is not None:
                unsure |= doubtful
        if not unsure.any():
            return pa.table(columns, schema=self.schema), []
        rows, placed, errors = [], [], []
        for i in np.flatnonzero(unsure).tolist():
            try:
                rows.append(self.parse(records[i], naive_tz))
                placed.append(i)
            except RECORD_ERRORS as exc:
                errors.append((i, str(exc)))
        sure = pa.array(~unsure)
        table = pa.concat_tables([pa.table({c: v.filter(sure) for c, v in columns.items()}, schema=self.schema),
                                  pa.Table.from_pylist(rows, schema=self.schema)])
        order = np.argsort(np.concatenate([np.flatnonzero(~unsure), np.array(placed, dtype=np.int64)]), kind="stable")
        return table.take(order), errors


def _column(values: list, key: str, kind: str, naive_tz: tzinfo) -> tuple[pa.Array, np.ndarray | None]:
    """One column as the field helper makes it, and the rows it cannot vouch for (None when it vouches for all)."""
    if kind != OBJECT and set(map(type, values)) <= _PLAIN[kind] | {type(None)}:
        try:
            arrow = pa.array(values, _ARROW_TYPES[kind])
        except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate, or an int too big for a double
            arrow = None
        if arrow is not None and kind == TEXTS:
            return _text_lists(arrow, values, key)
        coerced = None if arrow is None else _arrow_values(arrow, key, kind, naive_tz)
        if coerced is not None:
            return coerced, _missing(coerced) if kind == REQUIRED else None
    return _one_by_one(values, key, kind, naive_tz)


def _missing(values: pa.Array) -> np.ndarray:
    """The rows of a required text that is null or empty (`required_text` rejects them)."""
    return pc.fill_null(pc.equal(values, ""), True).to_numpy(zero_copy_only=False)


def _text_lists(lists: pa.Array, values: list, key: str) -> tuple[pa.Array, np.ndarray | None]:
    """Lists of plain texts as `texts` gives them (a missing list is empty); the rows with an item at a text
    limit are left to it, and so is the whole column if a list has a null item or too many items."""
    items = pc.list_flatten(lists)
    if items.null_count or pc.any(pc.greater(pc.list_value_length(lists), MAX_LIST_ITEMS)).as_py():
        return _one_by_one(values, key, TEXTS, None)
    unsure = None
    long = np.flatnonzero(pc.greater(pc.utf8_length(items), MAX_TOKEN_CHARS).to_numpy(zero_copy_only=False))
    if len(long):
        unsure, parents = np.zeros(len(values), dtype=bool), pc.list_parent_indices(lists).to_numpy()
        for i, item in zip(long.tolist(), items.take(pa.array(long)).to_pylist()):
            try:
                checked_text(key, item)
            except BadRecord:
                unsure[parents[i]] = True
    if lists.null_count:
        lists = pa.array([[] if v is None else v for v in values], lists.type)
    return lists, unsure


def _one_by_one(values: list, key: str, kind: str, naive_tz: tzinfo) -> tuple[pa.Array, np.ndarray]:
    """A column value by value through the field helper; the values it rejects are left to `Fields.parse`."""
    out, unsure = [], np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        try:
            out.append(_field({key: v}, key, kind, naive_tz))
        except RECORD_ERRORS:
            out.append(None)
            unsure[i] = True
    return pa.array(out, _OUT_TYPES[kind]), unsure


# --- flat JSON Lines sources, read whole files with Arrow ---------------------------------------
#
# A flat source has only scalar fields, so its files can be read in one go by Arrow and coerced column
# by column. Arrow's result is used only where it provably equals the line-by-line parser's: files
# (and then parts of a file) that fail any check below (damaged or wrongly typed lines, values at a
# limit, timestamps outside a plain ISO 8601 form, ...) are split and retried, down to a few lines
# that go through `_parse_lines`, so skipped records and their line numbers stay exactly the same.


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


@dataclass
class _FlatRead:
    """What reading one flat source needs at every step."""

    source: Fields
    naive_tz: tzinfo
    out: SourceRead

    def slow(self, records: Iterable[tuple[int, dict]]) -> None:
        parse_records(records, self.source, self.naive_tz, self.out)


def read_flat(root: Path, out: SourceRead, source: Fields, paths: Iterable[Path], naive_tz: tzinfo) -> SourceRead:
    """Read flat JSON Lines files into `out`, whole files at a time with Arrow where that is exact."""
    read = _FlatRead(source, naive_tz, out)
    batch: list[tuple[str, bytes]] = []  # whole files, each ending in a newline, for one Arrow read
    size = 0
    for path in paths:
        if not inside(root, path):
            _read_files(batch, read)
            batch, size = [], 0
            read.out.drop_file(relative(root, path), OUTSIDE)
            continue
        data = _file_bytes(path)
        if data is None:  # too big, unreadable or with an overlong line
            _read_files(batch, read)
            batch, size = [], 0
            read.slow(read_jsonl(root, path, read.out))
            continue
        batch.append((relative(root, path), data))
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
    if wide_encoding(data[:8]) is not None:  # so does it for a file in UTF-16 or UTF-32
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
    return pa.table(columns, schema=read.source.schema), None


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
    if kind in (TEXT, REQUIRED):
        return values if _texts_ok(values, key) else None
    if kind == CODE:
        return values  # valid Unicode, and no limits apply
    if kind == BOOL:
        return values  # Arrow already refused anything but true, false and null
    if kind == TIME:
        return _arrow_timestamps(values, naive_tz)
    values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))
    if kind == NUM:
        return values
    if (pc.max(pc.abs(values)).as_py() or 0) >= 2**53:
        return None  # near the int64 limit: leave the exact range check to `integer`
    return pc.cast(pc.trunc(values), pa.int64())


def _texts_ok(values: pa.ChunkedArray, key: str) -> bool:
    """Whether every text is within the limits `_checked` applies (the few long ones are checked by it)."""
    long = pc.filter(values, pc.greater(pc.utf8_length(values), MAX_TOKEN_CHARS))
    try:
        for v in long.to_pylist():
            checked_text(key, v)
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


def history_files(root: Path, days: Iterable[str] | None = None, *, kind: str,
                  out: SourceRead | None = None) -> list[tuple[str, Path]]:
    """(local date, file) of the analytics day files of `kind` ("agents" or "workflows"), optionally only
    those of `days`. A directory that cannot be listed is recorded in `out` (raises without it)."""
    wanted = set(days) if days is not None else None
    found = []
    for path in listed(root, "analytics/history", out=out):
        m = DAY_FILE.match(path.name)
        if m and m.group(1) == kind and (wanted is None or m.group(2) in wanted):
            found.append((m.group(2), path))
    return found


def read_history(root: Path, out: SourceRead, source: Fields, kind: str, naive_tz: tzinfo,
                 days: Iterable[str] | None = None) -> SourceRead:
    """Flat records of the analytics day files of `kind` into `out`; with `days`, only those (local) dates'
    files. No files at all is recorded as a warning."""
    files = [path for _, path in history_files(root, days, kind=kind, out=out)]
    read_flat(root, out, source, files, naive_tz)
    if not files and days is None and not out.skipped:
        what = out.table.replace("_", " ")
        out.warnings.append(f"analytics/history has no {kind}-*.jsonl files: no {what} exported")
    return out


def document_records(root: Path, out: SourceRead, rel: str, keys: tuple[str, ...], what: str) -> list | None:
    """The records of the JSON document `rel`: the list under the first of `keys` it has, or the document
    itself when it is a list. None, with the reason in `out`, when the file is missing, unusable or holds
    no such list (then the file is dropped whole, saying how many records it seems to hold)."""
    path = find(root, rel)
    if path is None:
        out.warnings.append(f"{rel} is missing: no {what} exported")
        return None
    if not inside(root, path):
        out.drop_file(relative(root, path), OUTSIDE)
        return None
    doc = read_json_document(root, path, out, count=lambda doc: _held(_records_in(doc, keys)[0]))
    if doc is None:
        return None
    records, key = _records_in(doc, keys)
    if not isinstance(records, list):
        under = " or ".join(f"'{k}'" for k in keys)
        found = f"'{key}' holds" if key else "found"
        out.drop_file(out.files[-1], f"expected a list of {what} under {under}, {found} {_described(records)}",
                      _held(records))
        return None
    return records


def _records_in(doc: Any, keys: tuple[str, ...]) -> tuple[Any, str | None]:
    """What a document holds where its records belong (under the first of `keys` it has, or the document
    itself), and that key."""
    key = next((k for k in keys if k in doc), None) if isinstance(doc, dict) else None
    return (doc, None) if key is None else (doc[key], key)


def _held(value: Any) -> int:
    """How many records a value seems to hold: the items of a list, the objects in an object (keyed by id)."""
    if isinstance(value, list):
        return len(value)
    return sum(isinstance(v, dict) for v in value.values()) if isinstance(value, dict) else 0


def _described(value: Any) -> str:
    """A JSON value that should have been a list, in words (never its content)."""
    if isinstance(value, dict):
        return f"an object with {len(value)} {'entry' if len(value) == 1 else 'entries'}"
    return {str: "a text", bool: "true or false", type(None): "null"}.get(type(value), "a number")


def history_days(root: Path) -> list[str]:
    """Every day (YYYY-MM-DD) that has an analytics history file."""
    history = root / "analytics" / "history"
    if not history.is_dir():
        return []
    return sorted({m.group(2) for p in history.iterdir() if (m := DAY_FILE.match(p.name))})


def json_files(root: Path, directory: str, pattern: str, out: SourceRead) -> Iterator[tuple[Path, dict]]:
    """Each JSON object file matching `pattern` under `directory`, recording the unusable ones."""
    for path in listed(root, directory, pattern, out):
        if not inside(root, path):
            out.skipped.append(Skip(relative(root, path), None, OUTSIDE))
            continue
        doc = read_json_document(root, path, out)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            out.skipped.append(Skip(relative(root, path), None, f"expected a JSON object, got {type(doc).__name__}"))
            continue
        yield path, doc
