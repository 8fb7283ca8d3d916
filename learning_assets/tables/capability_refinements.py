"""Capability refinements: each capability's refinement history, one row per step, from the same file as
`capabilities` (and read by its reader)."""

from __future__ import annotations

import pandas as pd

from learning_assets.privacy.rules import (
    Category,
    Day,
    Keep,
    Mapping,
    Pseudonym,
    Pseudonyms,
)
from learning_assets.tables import columns as col
from learning_assets.tables import migration as m
from learning_assets.tables.capabilities import (
    REFINEMENTS,
    REFINEMENTS_RAW,
    SOURCE,
    read_capabilities,
)
from learning_assets.tables.spec import DocumentPart, Migration, Snapshot, TableSpec
from learning_assets.tables.summaries import at, mean

KEY = ("capability_id", "position")

ANONYMIZED = col.schema("anonymized_capability_refinements", {
    "capability_id": col.pseudonym("cap"),
    "position": col.integer(col.NON_NEGATIVE, nullable=False),
    "timestamp": col.utc_day(),
    "improvement_type": col.one_of(col.IMPROVEMENT_TYPES + ["other"]),
    **col.before_after(),
    "improvement_percent": col.number(),
    "learned_patterns": col.pseudonyms("pat"),
    "metadata": col.json_object(),
}, unique=list(KEY))


def _document(df: pd.DataFrame) -> dict:
    return {
        "total_refinements": int(len(df)),
        "refinements_by_type": {
            str(t): {"count": int(len(g)), "average_improvement_percent": mean(g["improvement_percent"])}
            for t, g in df.groupby("improvement_type")},
    }


def _migrate(mig: Migration) -> dict:
    """Refinement counts per improvement type (1.0 documents hold no per-refinement records)."""
    section = mig.section("learning_effectiveness")
    by_type: dict[str, dict] = {}
    if isinstance(section.get("refinements_by_type"), dict):
        for t, v in section["refinements_by_type"].items():
            c = m.count(v.get("count") if isinstance(v, dict) else v)
            if c:
                name = t if t in col.IMPROVEMENT_TYPES else "other"
                by_type.setdefault(name, {"count": 0, "average_improvement_percent": None})["count"] += c
    total = sum(v["count"] for v in by_type.values()) if by_type else (m.count(section.get("total_refinements")) or 0)
    if set(section) - {"total_refinements", "refinements_by_type", "task_outcomes"}:
        mig.drop("learning_effectiveness: details other than refinement and outcome counts")
    return {"total_refinements": total, "refinements_by_type": by_type}


SPEC = TableSpec(
    name=REFINEMENTS,
    description="Each capability's refinement history, one row per step.",
    sources=(SOURCE,),
    raw=REFINEMENTS_RAW,
    anonymized=ANONYMIZED,
    read=read_capabilities,
    rules={
        "capability_id": Pseudonym(kind="cap"),
        "position": Keep(),
        "timestamp": Day(),
        "improvement_type": Category(values=tuple(col.IMPROVEMENT_TYPES)),
        **{name: Keep() for name in col.before_after()},
        "improvement_percent": Keep(),
        "learned_patterns": Pseudonyms(kind="pat"),
        "metadata": Mapping(),
    },
    document=DocumentPart(
        section="learning_effectiveness",
        build=_document,
        properties={
            "total_refinements": {"$ref": "#/$defs/count"},
            "refinements_by_type": {
                "type": "object", "propertyNames": {"enum": [*col.IMPROVEMENT_TYPES, "other"]},
                "additionalProperties": {
                    "type": "object", "required": ["count", "average_improvement_percent"],
                    "additionalProperties": False,
                    "properties": {"count": {"$ref": "#/$defs/count"},
                                   "average_improvement_percent": {"type": ["number", "null"]}}}},
        },
        rows=at("total_refinements"),
        migrate=_migrate,
    ),
    event_time="timestamp",
    incremental=Snapshot(key=KEY),
)
