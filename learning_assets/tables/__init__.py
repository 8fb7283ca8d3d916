"""One spec per source table, collected from this package; every per-table registry is derived here.

A module of this package that is not a building block (`columns`, `migration`, `spec`, `summaries`) is a
table: it defines `SPEC`, a `spec.TableSpec`. Adding a table is adding such a module (and its fixture
under `tests/fixtures/tables/`); docs/adding-a-table.md walks through it.
"""

from __future__ import annotations

import copy
import importlib
import json
import pkgutil
from collections.abc import Iterable
from datetime import date, timezone, tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.sources.frames import empty_frame
from learning_assets.sources.readers import SourceRead
from learning_assets.tables.spec import SECTIONS, Daily, Migration, Snapshot, TableSpec
from schemas import LATEST, SCHEMA_DIR, SCHEMA_FILES

BUILDING_BLOCKS = frozenset({"columns", "migration", "spec", "summaries"})


def _collect() -> dict[str, TableSpec]:
    specs = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in BUILDING_BLOCKS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, TableSpec):
            raise TypeError(f"{module.__name__} is a table module without a SPEC (a tables.spec.TableSpec)")
        if spec.name != info.name:
            raise ValueError(f"{module.__name__} defines the spec of {spec.name!r}; name the module after its table")
        specs[spec.name] = spec
    return specs


SPECS: dict[str, TableSpec] = _collect()
TABLE_NAMES: tuple[str, ...] = tuple(SPECS)
RAW = {name: spec.raw for name, spec in SPECS.items()}
ANONYMIZED = {name: spec.anonymized for name, spec in SPECS.items()}
DAILY: tuple[str, ...] = tuple(n for n, s in SPECS.items() if isinstance(s.incremental, Daily))
SNAPSHOT: tuple[str, ...] = tuple(n for n, s in SPECS.items() if isinstance(s.incremental, Snapshot))


def read_tables(root: Path, tz: tzinfo, names: list[str] | None = None) -> dict[str, SourceRead]:
    """What reading each table of `names` (default: all) found; a reader serving several tables runs once."""
    names = list(TABLE_NAMES if names is None else names)
    reads: dict[str, SourceRead] = {}
    for name in names:
        if name not in reads:
            reads.update(SPECS[name].read(root, tz))
    return {name: reads[name] for name in names}


def read_table(name: str, root: Path, tz: tzinfo = timezone.utc, days: Iterable[str] | None = None) -> SourceRead:
    """One table read on its own (with `days`, a daily table's records of those days)."""
    spec = SPECS[name]
    return spec.read(root, tz)[name] if days is None else spec.read(root, tz, days=days)[name]


def anonymize_table(name: str, raw: pd.DataFrame, anonymizer) -> pd.DataFrame:
    """The anonymized table (its spec's `anonymized` schema) by its spec's rules; `anonymizer` counts."""
    return SPECS[name].anonymize(raw, anonymizer)


def filter_window(tables: dict[str, pd.DataFrame], start: date | None,
                  end: date | None) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """The tables without rows whose event time falls outside [start, end] (whole UTC days), and the rows
    dropped per table; tables without an event time are kept whole."""
    if start is None and end is None:
        return tables, {}
    out, dropped = {}, {}
    for name, df in tables.items():
        column = SPECS[name].event_time
        if column is None:
            out[name] = df
            continue
        ts = df[column]
        keep = ts.notna()
        if start is not None:
            keep &= ts >= pd.Timestamp(start, tz="UTC")
        if end is not None:
            keep &= ts < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
        out[name] = df[keep].reset_index(drop=True)
        dropped[name] = int((~keep).sum())
    return out, dropped


def build_sections(tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """The document's sections from the anonymized tables, each table's entries in table order."""
    sections: dict[str, dict] = {section: {} for section in SECTIONS}
    for name, spec in SPECS.items():
        sections[spec.document.section].update(spec.document.build(tables[name]))
    return sections


def migrate_sections(mig: Migration) -> dict[str, dict]:
    """The document's sections from a schema 1.0 document; a table without a migration writes what an empty
    table writes."""
    sections: dict[str, dict] = {section: {} for section in SECTIONS}
    for spec in SPECS.values():
        part = spec.document
        entries = part.migrate(mig) if part.migrate else part.build(empty_table(spec.name))
        sections[part.section].update(entries)
    return sections


def document_rows(doc: dict | None) -> dict[str, int | None]:
    """Rows per table as a document states them (None where it does not)."""
    if not isinstance(doc, dict):
        return {}
    out = {}
    for name, spec in SPECS.items():
        section = doc.get(spec.document.section)
        out[name] = spec.document.rows(section) if spec.document.rows and isinstance(section, dict) else None
    return out


def empty_table(name: str) -> pd.DataFrame:
    return empty_frame(ANONYMIZED[name])


def json_schema(base: dict) -> dict:
    """`base` (the 1.1 JSON Schema) with each section's properties and the tables' `$defs` from the specs."""
    schema = copy.deepcopy(base)
    for section in SECTIONS:
        node = schema["properties"][section]
        node["properties"] = {k: v for spec in SPECS.values() if spec.document.section == section
                              for k, v in spec.document.properties.items()}
        node["required"] = list(node["properties"])
    for spec in SPECS.values():
        schema["$defs"].update(spec.document.definitions)
    return schema


def write_json_schema() -> Path:
    """Rewrite the latest JSON Schema file from the specs (run after changing a table's document part)."""
    path = SCHEMA_DIR / SCHEMA_FILES[LATEST]
    path.write_text(json.dumps(json_schema(json.loads(path.read_text())), indent=2) + "\n")
    return path
