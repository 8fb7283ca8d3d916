"""Expert confidence: how sure the consulted experts were and whether they agreed, from
`confidence_metrics.json`."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import Agent, Day, FrameworkName, Keep, Text
from learning_assets.sources import fields
from learning_assets.sources.readers import (
    Skip,
    SourceRead,
    document_records,
)
from learning_assets.tables import columns as col
from learning_assets.tables.expert_performance import DOMAINS, EXPERTS
from learning_assets.tables.spec import DocumentPart, TableSpec
from learning_assets.tables.summaries import at, rate

NAME = "confidence_metrics"
SOURCE = "confidence_metrics.json"

RAW = col.schema("raw_confidence_metrics", {
    "timestamp": col.timestamp(),
    "agent_id": col.text(),
    "domain": col.text(),
    "confidence": col.number(col.RATE),
    "threshold": col.number(col.RATE),
    "meets_threshold": col.boolean(),
    "agreement_level": col.number(col.RATE),
    "num_experts": col.integer(col.NON_NEGATIVE),
    "primary_expert": col.text(),
    "query_preview": col.text(),
})

ANONYMIZED = col.schema("anonymized_confidence_metrics", {
    "timestamp": col.utc_day(),
    "agent_id": col.matching(col.AGENT),
    "domain": col.matching(col.SLUG),
    "confidence": col.number(col.RATE),
    "threshold": col.number(col.RATE),
    "meets_threshold": col.boolean(),
    "agreement_level": col.number(col.RATE),
    "num_experts": col.integer(col.NON_NEGATIVE),
    "primary_expert": col.matching(col.EXPERT),
    "query_preview": col.text(),
})


def read_confidence_metrics(root: Path, naive_tz: tzinfo) -> dict[str, SourceRead]:
    out = SourceRead(NAME, RAW)
    records = document_records(root, out, SOURCE, ("metrics",), "confidence metrics")
    for i, rec in enumerate(records or []):
        try:
            if not isinstance(rec, dict):
                raise fields.BadRecord(f"expected an object, got {type(rec).__name__}")
            out.rows.append({
                "timestamp": fields.parse_timestamp(rec.get("timestamp"), naive_tz),
                "agent_id": fields.text(rec, "agent_id"),
                "domain": fields.text(rec, "domain"),
                "confidence": fields.number(rec, "confidence"),
                "threshold": fields.number(rec, "threshold"),
                "meets_threshold": fields.boolean(rec, "meets_threshold"),
                "agreement_level": fields.number(rec, "agreement_level"),
                "num_experts": fields.integer(rec, "num_experts"),
                "primary_expert": fields.text(rec, "primary_expert"),
                "query_preview": fields.text(rec, "query_preview"),
            })
        except fields.RECORD_ERRORS as exc:
            out.skipped.append(Skip(out.files[-1], None, f"metrics[{i}]: {exc}"))
    return {NAME: out}


def _document(df: pd.DataFrame) -> dict:
    return {"confidence": {"total": int(len(df)), "meets_threshold_rate": rate(df["meets_threshold"])}}


SPEC = TableSpec(
    name=NAME,
    description=f"Expert confidence records from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_confidence_metrics,
    rules={
        "timestamp": Day(),
        "agent_id": Agent(),
        "domain": FrameworkName(vocabulary=DOMAINS),
        "confidence": Keep(),
        "threshold": Keep(),
        "meets_threshold": Keep(),
        "agreement_level": Keep(),
        "num_experts": Keep(),
        "primary_expert": FrameworkName(vocabulary=EXPERTS, kind="expert"),
        "query_preview": Text(),
    },
    document=DocumentPart(
        section="analytics_data",
        build=_document,
        properties={"confidence": {
            "type": "object", "required": ["total", "meets_threshold_rate"], "additionalProperties": False,
            "properties": {"total": {"$ref": "#/$defs/count"},
                           "meets_threshold_rate": {"$ref": "#/$defs/rate_or_null"}}}},
        rows=at("confidence", "total"),
    ),
    event_time="timestamp",
)
