"""The invariant check of a written export: every string is made only of allowed parts.

Allowed are: a fixed string of the project or the framework, whole; otherwise, after typed units
(placeholders such as `<EMAIL>`, keyed pseudonyms, ISO dates and times) are set aside, text of printable
ASCII with no `@`, no run of seven or more digits, no learned user, host or project name, and no token
(a run of letters and digits) that is not an allowed word. Hex digests are allowed only as the value of a
`sha256` field.

It shares no code with the scrubber: it recognises no secret, address or name, it only verifies. It works
in bulk over all distinct strings of the export at once with Arrow compute (regular expressions in RE2, set
membership for the words).
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from learning_assets.privacy.vocabulary import (
    PLACEHOLDERS,
    PSEUDONYM_KINDS,
    allowed_words,
    as_arrow,
    fixed_strings,
    name_words,
)

_NOT_ALNUM = "[^A-Za-z0-9]"
# Typed units with the boundaries the scrubber gives them; each pass blanks every other one of two adjacent units.
_TYPED = (rf"(^|{_NOT_ALNUM})(?:<(?:{'|'.join(PLACEHOLDERS)})>|(?:{'|'.join(PSEUDONYM_KINDS)})_[0-9a-f]{{16}}"
          r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
          rf"(?:Z|[+-][0-9]{{2}}:?[0-9]{{2}})?)?|[0-9]{{8}}T[0-9]{{6}}Z-[0-9a-f]{{6}})($|{_NOT_ALNUM})")
_PRINTABLE_ASCII = r"^[\t\n\r\x20-\x7e]*$"
_LONG_NUMBER = r"[0-9](?:[^A-Za-z0-9]{0,2}[0-9]){6,}"
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_FINDINGS = 500
LOCATIONS_SHOWN = 3  # per offending string


def scan_export(directory: Path, learned: dict | None = None) -> list[dict]:
    """Findings (file, location, rule, a masked sample) for every string that breaks the invariant.

    `learned` holds the user, host and project names learned from the source (`users`, `hosts`,
    `projects`); none may appear in free text. The manifest is checked too: it names only our own files.
    """
    found = _Occurrences()
    unreadable = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        try:
            if path.suffix == ".parquet":
                _parquet_strings(path, rel, found)
            elif path.name.endswith((".json", ".json.gz")):
                raw = path.read_bytes()
                found.add_json(json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw), rel, "$")
            else:
                _text_strings(path.read_text(encoding="utf-8"), rel, found)
        except (OSError, ValueError, pa.ArrowException) as exc:
            unreadable.append({"file": rel, "location": f"unreadable ({exc.__class__.__name__})",
                               "rule": "unreadable", "sample": ""})
    return _findings(found, learned, unreadable)


def check_strings(where: dict[str, list[tuple[str, str]]], learned: dict | None = None) -> list[dict]:
    """Findings for the strings in `where` (string -> where it occurs: (file, location) pairs)."""
    found = _Occurrences()
    for value, places in where.items():
        for file, location in places:
            found.add_one(value, file, location)
    return _findings(found, learned)


class _Occurrences:
    """Every string the scan meets and where, in the order met: strings in Arrow chunks, each with the index
    of its place (file, location) in `places`, so that a column's distinct values are noted in one step."""

    def __init__(self) -> None:
        self.places: list[tuple[str, str]] = []
        self.chunks: list[pa.Array] = []
        self.chunk_places: list[np.ndarray] = []
        self.values: list[str] = []  # met one at a time, not yet in a chunk
        self.value_places: list[int] = []

    def add_one(self, value: str, file: str, location: str) -> None:
        self.values.append(value)
        self.value_places.append(len(self.places))
        self.places.append((file, location))

    def add_array(self, values: pa.Array, file: str, location: str) -> None:
        """Strings that all occur at one place (a column's distinct values)."""
        self._flush()
        self.chunks.append(values.cast(pa.string()))
        self.chunk_places.append(np.full(len(values), len(self.places), np.int64))
        self.places.append((file, location))

    def add_json(self, value, file: str, path: str) -> None:
        """Every string of a JSON value, keys included (this runs per string)."""
        if isinstance(value, str):
            if not (path.endswith("sha256") and _SHA256.fullmatch(value)):
                self.add_one(value, file, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.add_one(str(key), file, f"{path} (key)")
                self.add_json(item, file, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.add_json(item, file, f"{path}[{i}]")

    def _flush(self) -> None:
        if self.values:
            self.chunks.append(pa.array(self.values, pa.string()))
            self.chunk_places.append(np.array(self.value_places, np.int64))
            self.values, self.value_places = [], []

    def strings(self) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """(the distinct strings in order of first appearance; for each string met, its index among them
        and its place). The chunks are encoded as they are, against one dictionary, not copied into one."""
        self._flush()
        encoded = pc.dictionary_encode(pa.chunked_array(self.chunks, pa.string())).chunks
        if not encoded:
            return pa.array([], pa.large_string()), np.zeros(0, np.int64), np.zeros(0, np.int64)
        codes = np.concatenate([chunk.indices.to_numpy() for chunk in encoded])
        return encoded[-1].dictionary.cast(pa.large_string()), codes, np.concatenate(self.chunk_places)


def _findings(found: _Occurrences, learned: dict | None, findings: list[dict] | None = None) -> list[dict]:
    """Findings for every distinct string met that is not fixed (each shown at its first few places)."""
    findings = list(findings or [])
    distinct, codes_met, places = found.strings()
    check = pc.indices_nonzero(pc.invert(pc.is_in(distinct, as_arrow(fixed_strings()))))
    if len(check):
        violations = _violations(distinct.take(check), learned or {})
        codes = check.to_numpy()[[index for index, _, _ in violations]]
        shown: dict[int, list[tuple[str, str]]] = {int(code): [] for code in codes}
        for row in np.flatnonzero(np.isin(codes_met, codes)):
            where = shown[int(codes_met[row])]
            if len(where) < LOCATIONS_SHOWN:
                where.append(found.places[places[row]])
        for code, (_, rule, token) in zip(codes, violations):
            findings += [{"file": file, "location": location, "rule": rule, "sample": _mask(token)}
                         for file, location in shown[int(code)]]
    findings.sort(key=lambda f: (f["file"], f["location"], f["rule"]))
    return findings[:MAX_FINDINGS]


def _violations(array: pa.Array, learned: dict) -> list[tuple[int, str, str]]:
    """(index into `array`, rule, offending part) for each string breaking a rule (its first violation each)."""
    found: dict[int, tuple[str, str]] = {}

    def flag(mask: pa.Array, rule: str, part=lambda i: array[i].as_py()) -> None:
        """`part(i)`: what of string i to show (masked) in its finding."""
        for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            found.setdefault(i, (rule, part(i)))

    flag(pc.invert(pc.match_substring_regex(array, _PRINTABLE_ASCII)), "not_printable_ascii")
    view = pc.replace_substring_regex(pc.replace_substring_regex(array, _TYPED, r"\1 \2"), _TYPED, r"\1 \2")
    flag(pc.match_substring(view, "@"), "at_sign")
    flag(pc.match_substring_regex(view, _LONG_NUMBER), "long_number",
         lambda i: re.search(_LONG_NUMBER, view[i].as_py()).group(0))
    for name, pattern in _learned_patterns(learned):
        flag(pc.match_substring_regex(view, pattern), "learned_name", lambda i, name=name: name)

    tokens = pc.split_pattern_regex(view, f"{_NOT_ALNUM}+")
    flat, parents = pc.list_flatten(tokens), pc.list_parent_indices(tokens)
    lower = pc.utf8_lower(flat)
    ok = pc.or_(pc.or_(pc.equal(pc.utf8_length(flat), 0), pc.utf8_is_digit(flat)),
                pc.or_(pc.is_in(lower, as_arrow(allowed_words())),
                       pc.and_(pc.equal(flat, lower), pc.is_in(lower, as_arrow(name_words())))))
    bad = pc.invert(pc.fill_null(ok, True))
    for parent, token in zip(pc.filter(parents, bad).to_pylist(), pc.filter(flat, bad).to_pylist()):
        found.setdefault(parent, ("word_not_allowed", token))
    return [(i, rule, part) for i, (rule, part) in sorted(found.items())]


def _learned_patterns(learned: dict) -> list[tuple[str, str]]:
    """(name, RE2 pattern) for each learned name: its words in order, any one separator between them."""
    out = []
    for name in sorted({n for group in ("users", "hosts", "projects") for n in learned.get(group, ())}):
        words = re.findall(r"[A-Za-z0-9]+", name)
        if words:
            out.append((name, rf"(?i)(^|{_NOT_ALNUM}){'[^A-Za-z0-9]?'.join(words)}($|{_NOT_ALNUM})"))
    return out


def _mask(part: str) -> str:
    """Enough of a value to find it in the source, not enough to read it: `ok*****` (7 characters)."""
    part = str(part)
    return part[:2] + "*" * min(len(part) - 2, 12) if len(part) > 2 else "*" * len(part)


def _text_strings(text: str, file: str, found: _Occurrences) -> None:
    for n, line in enumerate(text.splitlines(), 1):
        found.add_one(line, file, f"line {n}")


def _parquet_strings(path: Path, file: str, found: _Occurrences) -> None:
    """Each column's name and distinct strings (list items one by one; JSON objects as their strings)."""
    table = pq.read_table(path)
    for name in table.column_names:
        found.add_one(name, file, "(column name)")
        column, t = table.column(name), table.schema.field(name).type
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            column, t = pc.list_flatten(column), t.value_type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            continue
        values = pc.drop_null(pc.unique(column))
        objects = pc.starts_with(values, "{").to_numpy(zero_copy_only=False)
        if not objects.any():
            found.add_array(values, file, name)
            continue
        # a distinct value's strings are noted where the value stands among the column's distinct values
        start = 0
        for i, text in zip(np.flatnonzero(objects).tolist(), values.filter(objects).to_pylist()):
            if i > start:
                found.add_array(values.slice(start, i - start), file, name)
            start = i + 1
            try:
                found.add_json(json.loads(text), file, name)
            except ValueError:
                found.add_one(text, file, name)
        if start < len(values):
            found.add_array(values.slice(start), file, name)
