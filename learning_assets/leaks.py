"""Rescan of a written export: every string in every Parquet column and in the JSON files."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from learning_assets.scrub import PSEUDONYM, Vocabulary, scan_for_leaks

# Keyed pseudonyms are hex by construction: nothing to find in them (and a hex run may spell a short
# learned name by chance). Filtered out in bulk with RE2 before the per-value Python scan.
PSEUDONYM_RE2 = f"^{PSEUDONYM.pattern}$"


def json_strings(value):
    """Every string in a decoded JSON value, dictionary keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from json_strings(v)


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
                if value is not None and value.startswith("{"):
                    try:
                        yield from json_strings(json.loads(value))
                        continue
                    except ValueError:
                        pass
                if value is not None:
                    yield value
    yield from table.column_names


def scan_export(directory: Path, vocabulary: Vocabulary | None = None) -> list[dict]:
    """Findings (file, detector, a masked sample) for anything that looks sensitive; empty when clean."""
    findings = []
    seen: Counter = Counter()
    memo: dict[str, list[str]] = {}  # a value repeated across files (daily partitions) is scanned once
    for path in sorted(directory.rglob("*")):
        # The manifest holds only our own file names and checksums.
        if not path.is_file() or path.name == "manifest.json":
            continue
        rel = path.relative_to(directory).as_posix()
        if path.suffix == ".parquet":
            values = _parquet_strings(path)
        else:
            raw = path.read_bytes()
            if path.suffix == ".gz":
                raw = gzip.decompress(raw)
            values = json_strings(json.loads(raw))
        for value in set(values):
            if PSEUDONYM.fullmatch(value):
                continue
            if (detectors := memo.get(value)) is None:
                detectors = memo[value] = scan_for_leaks(value, vocabulary)
            for detector in detectors:
                seen[(rel, detector)] += 1
                if seen[(rel, detector)] <= 3:
                    findings.append({"file": rel, "detector": detector, "sample": value[:12] + "…"})
    return findings
