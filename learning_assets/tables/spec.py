"""What a source table is, in one place: `TableSpec`.

Each module in this package defines one `SPEC`; `learning_assets.tables` collects them, and every
per-table registry (Dagster assets and checks, Pandera schemas, the JSON document and its JSON Schema,
the incremental path, the migration from schema 1.0) is derived from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from learning_assets.privacy.rules import Keep, Rule
from learning_assets.sources.frames import conform
from learning_assets.sources.readers import SourceRead, near_days
from learning_assets.tables.columns import TEXT, TEXT_LIST

# The JSON document's sections, in the framework's 1.0 layout; every table writes into one of them.
SECTIONS = ("capability_metrics", "pattern_statistics", "learning_effectiveness", "analytics_data")

# `read(root, tz)`, or `read(root, tz, days=...)` for a daily table: {table: what was read}. One reader may
# serve several tables (capabilities and their refinements come from one file); it then returns each.
Reader = Callable[..., dict[str, SourceRead]]


@dataclass(frozen=True)
class Daily:
    """Exported per UTC day by the incremental path (`daily/<table>/<day>.parquet`).

    `day_files(root, days)` lists (local date, file) for a source written as one file per day, which is
    then read for the requested days and their neighbours; without it the source's files hold every day
    and are read whole, keeping the requested days' records."""

    day_files: Callable[[Path, Iterable[str] | None], list[tuple[str, Path]]] | None = None


@dataclass(frozen=True)
class Snapshot:
    """Exported as dated snapshots (`snapshots/<date>/<table>.parquet`), marking rows changed since the
    previous one by their `key`."""

    key: tuple[str, ...]


@dataclass(frozen=True)
class Migration:
    """What a schema 1.0 document holds for a table, for `learning migrate`."""

    doc: dict  # the 1.0 document
    pseudonym: Callable[[str, str], str]  # keyed, for the ids carried over
    dropped: list[str]  # what could not be carried over, for the report's warnings

    def section(self, name: str) -> dict:
        """A 1.0 section; `{}` (and a note) when it is missing or holds the framework exporter's error."""
        value = self.doc.get(name)
        if not isinstance(value, dict) or set(value) == {"error"}:
            self.drop(f"{name}: missing or an exporter error in the 1.0 export")
            return {}
        return value

    def drop(self, what: str) -> None:
        """Record what was not carried over, once (several tables read one section)."""
        if what not in self.dropped:
            self.dropped.append(what)


@dataclass(frozen=True)
class DocumentPart:
    """What a table writes into the JSON document's `section`.

    `build(frame)` makes the entries from the anonymized table; `properties` is their JSON Schema (all
    required), `definitions` the `$defs` only they use; `rows(section)` reads back how many rows the entries
    state (None: they state none), for the blocking row-count check; `migrate` makes the entries from a
    schema 1.0 document (default: those of an empty table)."""

    section: str
    build: Callable[[pd.DataFrame], dict]
    properties: dict[str, Any]
    definitions: dict[str, Any] = field(default_factory=dict)
    rows: Callable[[dict], int | None] | None = None
    migrate: Callable[[Migration], dict] | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    sources: tuple[str, ...]  # files read, relative to `.tapps-agents/` (glob patterns)
    raw: pa.DataFrameSchema
    anonymized: pa.DataFrameSchema
    read: Reader
    rules: dict[str, Rule]  # every anonymized column; numbers and flags may be `Keep()`
    document: DocumentPart
    key: tuple[str, ...] | None = None  # a record superseding an earlier one with the same key
    event_time: str | None = None  # the column `--since/--until` and daily partitions go by
    dated: bool = False  # rows without an event time are not exported
    incremental: Daily | Snapshot | None = None  # None: full exports only

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"table spec {self.name!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What makes the spec unusable; empty when complete."""
        out = []
        columns = list(self.anonymized.columns)
        if list(self.rules) != columns:
            out.append(f"rules must name the anonymized columns in order {columns}, not {list(self.rules)}")
        for name, rule in self.rules.items():
            col = self.anonymized.columns.get(name)
            if isinstance(rule, Keep) and col is not None and col.dtype.type in (TEXT, TEXT_LIST):
                out.append(f"column {name!r} holds text and needs an anonymization rule, not Keep()")
            source = rule.source or name
            if source not in self.raw.columns:
                out.append(f"rule for {name!r} reads raw column {source!r}, which the raw schema lacks")
        if self.document.section not in SECTIONS:
            out.append(f"document section {self.document.section!r} is not one of {SECTIONS}")
        for column in (self.event_time,) if self.event_time else ():
            if column not in self.raw.columns:
                out.append(f"event time column {column!r} is not a raw column")
        if (self.dated or isinstance(self.incremental, Daily)) and self.event_time is None:
            out.append("a dated or daily table needs an event_time column")
        if isinstance(self.incremental, Snapshot) and not set(self.incremental.key) <= set(columns):
            out.append(f"snapshot key {self.incremental.key} is not a set of anonymized columns")
        if self.key is not None and not set(self.key) <= set(self.raw.columns):
            out.append(f"key {self.key} is not a set of raw columns")
        if not self.sources:
            out.append("no source files named")
        return out

    def anonymize(self, raw: pd.DataFrame, anonymizer) -> pd.DataFrame:
        """The anonymized table (schema `anonymized`) from the raw one, by `rules`."""
        df = anonymizer.frame(raw, self.rules, dated=self.event_time if self.dated else None)
        return conform(df, self.anonymized)

    def read_days(self, root: Path, tz: tzinfo, days: Iterable[str]) -> SourceRead:
        """A daily table's records of the UTC `days` (and, from day files, of their neighbours)."""
        wanted = sorted(set(days))
        if self.incremental.day_files is not None:
            wanted = sorted(near_days(wanted))
        return self.read(root, tz, days=wanted)[self.name]
