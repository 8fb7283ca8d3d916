"""Rescan of a written export: every string in every Parquet column and in the JSON files."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from learning_assets.scrub import PSEUDONYM, Vocabulary, scan_many_for_leaks

# Keyed pseudonyms are hex by construction: nothing to find in them (and a hex run may spell a short
# learned name by chance). Filtered out in bulk with RE2 before the per-value Python scan.
PSEUDONYM_RE2 = f"^{PSEUDONYM.pattern}$"


def json_strings(value) -> list[str]:
    """Every string in a decoded JSON value, dictionary keys included."""
    out: list[str] = [value] if isinstance(value, str) else []
    if isinstance(value, (dict, list)):
        _collect_strings(value, out)
    return out


def _collect_strings(value: dict | list, out: list[str]) -> None:
    """Appends the strings of a dict or list; string leaves inline, as they are most of a document."""
    if isinstance(value, dict):
        out.extend(map(str, value))
        value = value.values()
    for v in value:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, (dict, list)):
            _collect_strings(v, out)


def json_doc_strings(doc: str) -> list[str] | None:
    """Every string of a JSON document, keys included; None when it is not JSON."""
    try:
        return json_strings(json.loads(doc))
    except ValueError:
        return None


def _parquet_strings(path: Path):
    table = pq.read_table(path)
    for column in table.columns:
        t = column.type
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            column, t = pc.list_flatten(column), t.value_type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            unique = pc.unique(column)
            unique = unique.filter(pc.invert(pc.fill_null(pc.match_substring_regex(unique, PSEUDONYM_RE2), False)))
            for value in unique.to_pylist():
                if value is not None and value.startswith("{") and (strings := json_doc_strings(value)) is not None:
                    yield from strings
                elif value is not None:
                    yield value
    yield from table.column_names


def scan_export(directory: Path, vocabulary: Vocabulary | None = None) -> list[dict]:
    """Findings (file, detector, a masked sample) for anything that looks sensitive; empty when clean."""
    files = {path.relative_to(directory).as_posix(): _file_strings(path) for path in sorted(directory.rglob("*"))
             # The manifest holds only our own file names and checksums.
             if path.is_file() and path.name != "manifest.json"}
    # A value repeated across files (daily partitions) is scanned once, all files' values in one batch.
    found = scan_many_for_leaks((v for values in files.values() for v in values), vocabulary)
    findings = []
    for rel, values in files.items():
        seen: Counter = Counter()
        for value in values:
            for detector in found[value]:
                seen[detector] += 1
                if seen[detector] <= 3:
                    findings.append({"file": rel, "detector": detector, "sample": value[:12] + "…"})
    return findings


def _file_strings(path: Path) -> set[str]:
    """The distinct strings of one exported file, pseudonyms left out."""
    if path.suffix == ".parquet":
        values = _parquet_strings(path)
    else:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        values = json_strings(json.loads(raw))
    return {v for v in set(values) if not PSEUDONYM.fullmatch(v)}
