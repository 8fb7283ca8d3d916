"""Expert consultations: which expert answered in which domain, how confidently, from
`learning/expert_performance.jsonl`."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import Day, FrameworkName, Keep, Text
from learning_assets.sources.readers import (
    NUM,
    TEXT,
    TIME,
    Fields,
    SourceRead,
    find,
    read_flat,
)
from learning_assets.tables import columns as col
from learning_assets.tables.spec import DocumentPart, TableSpec
from learning_assets.tables.summaries import mean

NAME = "expert_performance"
SOURCE = "learning/expert_performance.jsonl"
EXPERTS = ("expert_ids", "expert_id_aliases")
DOMAINS = ("expert_domains", "expert_domain_aliases")
FIELDS = Fields((
    ("expert_id", "expert_id", TEXT), ("domain", "domain", TEXT), ("confidence", "confidence", NUM),
    ("query", "query", TEXT), ("timestamp", "timestamp", TIME)))

RAW = col.schema("raw_expert_performance", {
    "expert_id": col.text(),
    "domain": col.text(),
    "confidence": col.number(col.RATE),
    "query": col.text(),
    "timestamp": col.timestamp(),
})

ANONYMIZED = col.schema("anonymized_expert_performance", {
    "expert_id": col.matching(col.EXPERT),
    "domain": col.matching(col.SLUG),
    "confidence": col.number(col.RATE),
    "query": col.text(),
    "timestamp": col.utc_day(),
})


def read_expert_performance(root: Path, naive_tz: tzinfo) -> dict[str, SourceRead]:
    path = find(root, SOURCE)
    out = read_flat(root, SourceRead(NAME, RAW), FIELDS, [path] if path else [], naive_tz)
    if path is None:
        out.warnings.append(f"{SOURCE} is missing: no expert consultations exported")
    return {NAME: out}


def _document(df: pd.DataFrame) -> dict:
    return {"expert_consultations": {
        str(d): {"count": int(len(g)), "average_confidence": mean(g["confidence"])} for d, g in df.groupby("domain")}}


def _rows(section: dict) -> int | None:
    experts = section.get("expert_consultations")
    if not isinstance(experts, dict):
        return None
    return sum(v.get("count", 0) for v in experts.values() if isinstance(v, dict))


SPEC = TableSpec(
    name=NAME,
    description=f"Expert consultations from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_expert_performance,
    rules={
        "expert_id": FrameworkName(vocabulary=EXPERTS, kind="expert"),
        "domain": FrameworkName(vocabulary=DOMAINS),
        "confidence": Keep(),
        "query": Text(),
        "timestamp": Day(),
    },
    document=DocumentPart(
        section="analytics_data",
        build=_document,
        properties={"expert_consultations": {
            "type": "object", "propertyNames": {"$ref": "#/$defs/slug"},
            "additionalProperties": {
                "type": "object", "required": ["count", "average_confidence"], "additionalProperties": False,
                "properties": {"count": {"$ref": "#/$defs/count"},
                               "average_confidence": {"$ref": "#/$defs/rate_or_null"}}}}},
        rows=_rows,
    ),
    event_time="timestamp",
)
