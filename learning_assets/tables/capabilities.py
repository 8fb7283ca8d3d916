"""Capabilities: one row per capability in `capabilities/capabilities.json`, with its metrics.

The same file holds each capability's refinement history, which `capability_refinements` takes from
this module's reader.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import (
    ROLES,
    Agent,
    Day,
    FrameworkName,
    Keep,
    Pseudonym,
)
from learning_assets.sources import fields
from learning_assets.sources.readers import (
    Skip,
    SourceRead,
    document_records,
)
from learning_assets.tables import columns as col
from learning_assets.tables import migration as m
from learning_assets.tables.spec import DocumentPart, Migration, Snapshot, TableSpec
from learning_assets.tables.summaries import at, mean, rate, records

NAME = "capabilities"
REFINEMENTS = "capability_refinements"
SOURCE = "capabilities/capabilities.json"
KEY = ("capability_id",)
# Capability types are the part after the dot (`reviewer.code-review`): framework names pass.
CAPABILITY_TYPES = ("commands", "workflow_actions", "task_types", "skills", "step_ids")
MIGRATION_K = 5  # a 1.0 capability type held by fewer capabilities is generalized to `other`
_SLUG = re.compile(col.SLUG)

RAW = col.schema("raw_capabilities", {
    "capability_id": col.text(nullable=False, unique=True),
    "agent_id": col.text(),
    "success_rate": col.number(col.RATE),
    "average_duration": col.number(col.NON_NEGATIVE),
    "quality_score": col.number(col.RATE),
    "usage_count": col.integer(col.NON_NEGATIVE),
    "last_improved": col.timestamp(),
    "refinement_count": col.integer(col.NON_NEGATIVE, nullable=False),
    "metadata": col.json_object(),
})
REFINEMENTS_RAW = col.schema("raw_capability_refinements", {
    "capability_id": col.text(nullable=False),
    "position": col.integer(col.NON_NEGATIVE, nullable=False),
    "timestamp": col.timestamp(),
    "improvement_type": col.text(checks=col.Check.isin(col.IMPROVEMENT_TYPES)),
    **col.before_after(),
    "improvement_percent": col.number(),
    "learned_patterns": col.text_list(),
    "metadata": col.json_object(),
}, unique=["capability_id", "position"])

ANONYMIZED = col.schema("anonymized_capabilities", {
    "capability_id": col.pseudonym("cap", unique=True),
    "agent_id": col.matching(col.AGENT),
    "capability_type": col.matching(col.SLUG),
    "success_rate": col.number(col.RATE),
    "average_duration": col.number(col.NON_NEGATIVE),
    "quality_score": col.number(col.RATE),
    "usage_count": col.integer(col.NON_NEGATIVE),
    "last_improved": col.utc_day(),
    "refinement_count": col.integer(col.NON_NEGATIVE, nullable=False),
})


def _metric(rec: dict, prefix: str, key: str) -> dict:
    m_ = rec.get(key) or {}
    if not isinstance(m_, dict):
        raise fields.BadRecord(f"field {key!r}: expected an object")
    return {
        f"{prefix}_success_rate": fields.number(m_, "success_rate"),
        f"{prefix}_average_duration": fields.number(m_, "average_duration"),
        f"{prefix}_quality_score": fields.number(m_, "quality_score"),
        f"{prefix}_usage_count": fields.integer(m_, "usage_count"),
    }


def read_capabilities(root: Path, naive_tz: tzinfo) -> dict[str, SourceRead]:
    """Capability metrics and their refinement history, as two tables."""
    caps, refs = SourceRead(NAME, RAW, KEY), SourceRead(REFINEMENTS, REFINEMENTS_RAW)
    metrics = document_records(root, caps, SOURCE, ("metrics",), "capabilities")
    refs.files = caps.files
    if metrics is None:
        return {NAME: caps, REFINEMENTS: refs}
    rel = caps.files[-1]
    seen: set[str] = set()
    for i, rec in enumerate(metrics):
        try:
            if not isinstance(rec, dict):
                raise fields.BadRecord(f"expected an object, got {type(rec).__name__}")
            cap_id = fields.required_text(rec, "capability_id")
            history = rec.get("refinement_history") or []
            if not isinstance(history, list):
                raise fields.BadRecord("field 'refinement_history': expected a list")
            row = {
                "capability_id": cap_id,
                "agent_id": fields.text(rec, "agent_id"),
                "success_rate": fields.number(rec, "success_rate"),
                "average_duration": fields.number(rec, "average_duration"),
                "quality_score": fields.number(rec, "quality_score"),
                "usage_count": fields.integer(rec, "usage_count"),
                "last_improved": fields.parse_timestamp(rec.get("last_improved"), naive_tz),
                "refinement_count": len(history),
                "metadata": fields.json_text(rec, "metadata"),
            }
        except fields.RECORD_ERRORS as exc:
            caps.skipped.append(Skip(rel, None, f"metrics[{i}]: {exc}"))
            continue
        caps.rows.append(row)
        if cap_id in seen:  # a later duplicate supersedes the earlier one's history too
            refs.rows = [r for r in refs.rows if r["capability_id"] != cap_id]
        seen.add(cap_id)
        for pos, ref in enumerate(history):
            try:
                if not isinstance(ref, dict):
                    raise fields.BadRecord(f"expected an object, got {type(ref).__name__}")
                refs.rows.append({
                    "capability_id": cap_id,
                    "position": pos,
                    "timestamp": fields.parse_timestamp(ref.get("timestamp"), naive_tz),
                    "improvement_type": fields.text(ref, "improvement_type"),
                    **_metric(ref, "before", "before_metric"),
                    **_metric(ref, "after", "after_metric"),
                    "improvement_percent": fields.number(ref, "improvement_percent"),
                    "learned_patterns": fields.texts(ref, "learned_patterns"),
                    "metadata": fields.json_text(ref, "metadata"),
                })
            except fields.RECORD_ERRORS as exc:
                refs.skipped.append(Skip(rel, None, f"metrics[{i}].refinement_history[{pos}]: {exc}"))
    return {NAME: caps, REFINEMENTS: refs}


def _capability_type(ids: pd.Series) -> pd.Series:
    # map, not .str.partition: that has no column 2 when the table is empty (no capabilities file)
    return ids.map(lambda c: c.partition(".")[2]).astype(object)


def _document(df: pd.DataFrame) -> dict:
    return {
        "total_capabilities": int(len(df)),
        "average_success_rate": rate(df["success_rate"]),
        "average_quality_score": mean(df["quality_score"]),
        "capabilities": records(df),
    }


_METRIC_FIELDS = {"capability_id", "agent_id", "usage_count", "success_rate", "quality_score", "average_duration",
                  "last_improved", "last_used", "refinement_count", "refinement_history"}


def _migrate(mig: Migration) -> dict:
    """The 1.0 capabilities with their metrics; ids re-pseudonymized, rare types generalized."""
    section = mig.section("capability_metrics")
    listed = section.get("capabilities")
    raw = [c for c in listed if isinstance(c, dict) and c.get("capability_id")] if isinstance(listed, list) else []
    types = [str(c["capability_id"]).partition(".")[2].lower() for c in raw]
    type_counts = Counter(types)
    caps = []
    for rec, ctype in zip(raw, types):
        role = str(rec.get("agent_id") or str(rec["capability_id"]).partition(".")[0]).lower()
        history = rec.get("refinement_history")
        caps.append({
            "capability_id": mig.pseudonym("cap", str(rec["capability_id"])),
            "agent_id": role if role in ROLES else "unknown",
            "capability_type": ctype if _SLUG.match(ctype) and type_counts[ctype] >= MIGRATION_K else "other",
            "success_rate": m.number(rec.get("success_rate"), 0, 1),
            "average_duration": m.number(rec.get("average_duration"), 0),
            "quality_score": m.number(rec.get("quality_score"), 0, 1),
            "usage_count": m.count(rec.get("usage_count")),
            "last_improved": m.day(rec.get("last_improved") or rec.get("last_used")),
            "refinement_count": m.count(rec.get("refinement_count")) or (len(history) if isinstance(history, list)
                                                                         else 0),
        })
    if any(set(c) - _METRIC_FIELDS for c in raw):
        mig.drop("capability_metrics.capabilities: fields other than the metrics")
    return {
        "total_capabilities": len(caps),
        "average_success_rate": m.mean([c["success_rate"] for c in caps]),
        "average_quality_score": m.mean([c["quality_score"] for c in caps]),
        "capabilities": caps,
    }


SPEC = TableSpec(
    name=NAME,
    description=f"Capability metrics from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_capabilities,
    rules={
        "capability_id": Pseudonym(kind="cap"),
        "agent_id": Agent(),
        "capability_type": FrameworkName(source="capability_id", prepare=_capability_type,
                                         vocabulary=CAPABILITY_TYPES),
        "success_rate": Keep(),
        "average_duration": Keep(),
        "quality_score": Keep(),
        "usage_count": Keep(),
        "last_improved": Day(),
        "refinement_count": Keep(),
    },
    document=DocumentPart(
        section="capability_metrics",
        build=_document,
        properties={
            "total_capabilities": {"$ref": "#/$defs/count"},
            "average_success_rate": {"$ref": "#/$defs/rate_or_null"},
            "average_quality_score": {"$ref": "#/$defs/rate_or_null"},
            "capabilities": {"type": "array", "items": {"$ref": "#/$defs/capability"}},
        },
        definitions={"capability": {
            "type": "object", "required": list(ANONYMIZED.columns), "additionalProperties": False,
            "properties": {
                "capability_id": {"type": "string", "pattern": "^cap_[0-9a-f]{16}$"},
                "agent_id": {"$ref": "#/$defs/agent"},
                "capability_type": {"$ref": "#/$defs/slug"},
                "success_rate": {"$ref": "#/$defs/rate_or_null"},
                "average_duration": {"$ref": "#/$defs/non_negative_or_null"},
                "quality_score": {"$ref": "#/$defs/rate_or_null"},
                "usage_count": {"$ref": "#/$defs/count_or_null"},
                "last_improved": {"$ref": "#/$defs/day_or_null"},
                "refinement_count": {"$ref": "#/$defs/count"},
            },
        }},
        rows=at("total_capabilities"),
        migrate=_migrate,
    ),
    key=KEY,
    incremental=Snapshot(key=KEY),
)
