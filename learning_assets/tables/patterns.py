"""Learned code patterns, from `learning/patterns.jsonl`. Their code is never exported, only its length."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import (
    Category,
    Keep,
    LineCount,
    Mapping,
    Pseudonym,
    Pseudonyms,
    Text,
    Texts,
)
from learning_assets.sources.readers import (
    BOOL,
    CODE,
    INT,
    NUM,
    OBJECT,
    REQUIRED,
    TEXT,
    TEXTS,
    Fields,
    SourceRead,
    find,
    read_jsonl_source,
)
from learning_assets.tables import columns as col
from learning_assets.tables import migration as m
from learning_assets.tables.spec import DocumentPart, Migration, Snapshot, TableSpec
from learning_assets.tables.summaries import at, counts, mean, rate, records

NAME = "patterns"
SOURCE = "learning/patterns.jsonl"
KEY = ("pattern_id",)
TOP = 100  # patterns listed in the document, most used first

RAW = col.schema("raw_patterns", {
    "pattern_id": col.text(nullable=False, unique=True),
    "pattern_type": col.text(checks=col.Check.isin(col.PATTERN_TYPES)),
    "code_snippet": col.text(),
    "context": col.text(),
    "quality_score": col.number(col.RATE),
    "usage_count": col.integer(col.NON_NEGATIVE),
    "success_rate": col.number(col.RATE),
    "learned_from": col.text_list(),
    "metadata": col.json_object(),
    "security_score": col.number(col.Check.in_range(0.0, 10.0)),
    "is_anti_pattern": col.boolean(),
    "failure_reasons": col.text_list(),
    "rejection_count": col.integer(col.NON_NEGATIVE),
})

ANONYMIZED = col.schema("anonymized_patterns", {
    "pattern_id": col.pseudonym("pat", unique=True),
    "pattern_type": col.one_of(col.PATTERN_TYPES + ["other"]),
    "code_lines": col.integer(col.NON_NEGATIVE, nullable=False),
    "context": col.text(),
    "quality_score": col.number(col.RATE),
    "usage_count": col.integer(col.NON_NEGATIVE),
    "success_rate": col.number(col.RATE),
    "learned_from": col.pseudonyms("task"),
    "metadata": col.json_object(),
    "security_score": col.number(col.Check.in_range(0.0, 10.0)),
    "is_anti_pattern": col.boolean(),
    "failure_reasons": col.text_list(),
    "rejection_count": col.integer(col.NON_NEGATIVE),
})


FIELDS = Fields((
    ("pattern_id", "pattern_id", REQUIRED), ("pattern_type", "pattern_type", TEXT),
    ("code_snippet", "code_snippet", CODE),  # never exported: only its lines are counted
    ("context", "context", TEXT), ("quality_score", "quality_score", NUM), ("usage_count", "usage_count", INT),
    ("success_rate", "success_rate", NUM), ("learned_from", "learned_from", TEXTS), ("metadata", "metadata", OBJECT),
    ("security_score", "security_score", NUM), ("is_anti_pattern", "is_anti_pattern", BOOL),
    ("failure_reasons", "failure_reasons", TEXTS), ("rejection_count", "rejection_count", INT)))


def read_patterns(root: Path, naive_tz: tzinfo) -> dict[str, SourceRead]:
    path = find(root, SOURCE)
    out = read_jsonl_source(root, SourceRead(NAME, RAW, KEY), [path] if path else [], FIELDS, naive_tz)
    if path is None:
        out.warnings.append(f"{SOURCE} is missing: no patterns exported")
    return {NAME: out}


def _document(df: pd.DataFrame) -> dict:
    top = df.sort_values(["usage_count", "pattern_id"], ascending=[False, True], na_position="last")
    return {
        "total_patterns": int(len(df)),
        "patterns_by_type": counts(df["pattern_type"]),
        "anti_patterns": int(df["is_anti_pattern"].fillna(False).sum()),
        "average_quality_score": mean(df["quality_score"]),
        "average_success_rate": rate(df["success_rate"]),
        "top_patterns": records(top, limit=TOP, json_columns=("metadata",)),
    }


def _migrate(mig: Migration) -> dict:
    """Pattern counts by type; the 1.0 pattern records themselves are not anonymized, so not carried over."""
    section = mig.section("pattern_statistics")
    by_type = m.counts_by(section.get("patterns_by_type"), tuple(col.PATTERN_TYPES))
    total = m.count(section.get("total_patterns"))
    if total is None or (by_type and sum(by_type.values()) != total):
        total = sum(by_type.values())
    if total and not by_type:
        by_type = {"other": total}
    anti = m.count(section.get("total_anti_patterns", section.get("anti_patterns"))) or 0
    for key in ("top_patterns", "patterns"):
        if section.get(key):
            mig.drop(f"pattern_statistics.{key}: pattern records of a 1.0 export are not anonymized")
    return {
        "total_patterns": total,
        "patterns_by_type": by_type,
        "anti_patterns": min(anti, total),
        "average_quality_score": m.number(section.get("average_quality_score"), 0, 1),
        "average_success_rate": m.number(section.get("average_success_rate"), 0, 1),
        "top_patterns": [],
    }


SPEC = TableSpec(
    name=NAME,
    description=f"Learned code patterns from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_patterns,
    rules={
        "pattern_id": Pseudonym(kind="pat"),
        "pattern_type": Category(values=tuple(col.PATTERN_TYPES)),
        "code_lines": LineCount(source="code_snippet"),
        "context": Text(),
        "quality_score": Keep(),
        "usage_count": Keep(),
        "success_rate": Keep(),
        "learned_from": Pseudonyms(kind="task"),
        "metadata": Mapping(),
        "security_score": Keep(),
        "is_anti_pattern": Keep(),
        "failure_reasons": Texts(),
        "rejection_count": Keep(),
    },
    document=DocumentPart(
        section="pattern_statistics",
        build=_document,
        properties={
            "total_patterns": {"$ref": "#/$defs/count"},
            "patterns_by_type": {"$ref": "#/$defs/counts_by", "propertyNames": {"$ref": "#/$defs/pattern_type"}},
            "anti_patterns": {"$ref": "#/$defs/count"},
            "average_quality_score": {"$ref": "#/$defs/rate_or_null"},
            "average_success_rate": {"$ref": "#/$defs/rate_or_null"},
            "top_patterns": {"type": "array", "maxItems": TOP, "items": {"$ref": "#/$defs/pattern"}},
        },
        definitions={
            "pattern_type": {"enum": [*col.PATTERN_TYPES, "other"]},
            "pattern": {
                "type": "object", "required": list(ANONYMIZED.columns), "additionalProperties": False,
                "properties": {
                    "pattern_id": {"type": "string", "pattern": "^pat_[0-9a-f]{16}$"},
                    "pattern_type": {"$ref": "#/$defs/pattern_type"},
                    "code_lines": {"$ref": "#/$defs/count"},
                    "context": {"anyOf": [{"$ref": "#/$defs/free_text"}, {"type": "null"}]},
                    "quality_score": {"$ref": "#/$defs/rate_or_null"},
                    "usage_count": {"$ref": "#/$defs/count_or_null"},
                    "success_rate": {"$ref": "#/$defs/rate_or_null"},
                    "learned_from": {"type": "array", "items": {"$ref": "#/$defs/task_pseudonym"}},
                    "metadata": {"$ref": "#/$defs/json_object"},
                    "security_score": {"type": ["number", "null"], "minimum": 0, "maximum": 10},
                    "is_anti_pattern": {"type": ["boolean", "null"]},
                    "failure_reasons": {"type": "array", "items": {"$ref": "#/$defs/free_text"}},
                    "rejection_count": {"$ref": "#/$defs/count_or_null"},
                },
            },
        },
        rows=at("total_patterns"),
        migrate=_migrate,
    ),
    key=KEY,
    incremental=Snapshot(key=KEY),
)
