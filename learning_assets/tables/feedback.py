"""User feedback on agent output, from `feedback/feedback*.json` (both shapes the framework writes)."""

from __future__ import annotations

import json
from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import (
    Agent,
    Day,
    FrameworkName,
    Keep,
    Mapping,
    Pseudonym,
    Scores,
    Text,
    Texts,
)
from learning_assets.sources import fields
from learning_assets.sources.readers import Skip, SourceRead, json_files, relative
from learning_assets.tables import columns as col
from learning_assets.tables.spec import DocumentPart, TableSpec
from learning_assets.tables.summaries import at, mean, rate
from learning_assets.tables.task_memories import COMMANDS, strip_star

NAME = "feedback"
SOURCE = "feedback/feedback*.json"
KEY = ("feedback_id",)

RAW = col.schema("raw_feedback", {
    "feedback_id": col.text(nullable=False, unique=True),
    "agent_id": col.text(),
    "command": col.text(),
    "accepted": col.boolean(),
    "feedback_text": col.text(),
    "suggestions": col.text_list(),
    "ratings": col.json_object(),
    "quality_score": col.number(col.NON_NEGATIVE),
    "execution_time_seconds": col.number(col.NON_NEGATIVE),
    "code_lines_processed": col.integer(col.NON_NEGATIVE),
    "timestamp": col.timestamp(),
    "metadata": col.json_object(),
})

ANONYMIZED = col.schema("anonymized_feedback", {
    "feedback_id": col.pseudonym("fb", unique=True),
    "agent_id": col.matching(col.AGENT),
    "command": col.matching(col.SLUG),
    "accepted": col.boolean(),
    "feedback_text": col.text(),
    "suggestions": col.text_list(),
    "ratings": col.scores(),
    "quality_score": col.number(col.NON_NEGATIVE),
    "execution_time_seconds": col.number(col.NON_NEGATIVE),
    "code_lines_processed": col.integer(col.NON_NEGATIVE),
    "timestamp": col.utc_day(),
    "metadata": col.json_object(),
})


def read_feedback(root: Path, naive_tz: tzinfo) -> dict[str, SourceRead]:
    """Both feedback shapes the framework writes: `feedback_<time>.json` and `feedback-<uuid>.json`."""
    out = SourceRead(NAME, RAW, KEY)
    for path, rec in json_files(root, "feedback", "feedback*.json", out):
        try:
            context = rec.get("context") if isinstance(rec.get("context"), dict) else {}
            metrics = rec.get("metrics") if isinstance(rec.get("metrics"), dict) else {}
            metadata = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
            out.rows.append({
                "feedback_id": fields.text(rec, "feedback_id") or fields.text(rec, "id") or path.stem,
                "agent_id": fields.text(rec, "agent_name") or fields.text(context, "agent_id"),
                "command": fields.text(rec, "command") or fields.text(context, "task_type"),
                "accepted": fields.boolean(rec, "accepted"),
                "feedback_text": fields.text(rec, "feedback_text"),
                "suggestions": fields.texts(rec, "suggestions"),
                "ratings": fields.json_text(rec, "performance_ratings"),
                "quality_score": fields.number(metrics, "quality_score"),
                "execution_time_seconds": fields.number(metrics, "execution_time_seconds"),
                "code_lines_processed": fields.integer(metrics, "code_lines_processed"),
                "timestamp": fields.parse_timestamp(rec.get("timestamp"), naive_tz),
                "metadata": json.dumps({**metadata, **{k: v for k, v in context.items() if k != "timestamp"}},
                                       sort_keys=True, default=str),
            })
        except fields.RECORD_ERRORS as exc:
            out.skipped.append(Skip(relative(root, path), None, str(exc)))
    if not out.files and not out.skipped:
        out.warnings.append("feedback has no feedback*.json files: no feedback exported")
    return {NAME: out}


def _document(df: pd.DataFrame) -> dict:
    return {"feedback": {"total": int(len(df)), "acceptance_rate": rate(df["accepted"]),
                         "average_quality_score": mean(df["quality_score"])}}


SPEC = TableSpec(
    name=NAME,
    description=f"User feedback from {SOURCE} (both shapes).",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_feedback,
    rules={
        "feedback_id": Pseudonym(kind="fb"),
        "agent_id": Agent(),
        "command": FrameworkName(prepare=strip_star, vocabulary=COMMANDS),
        "accepted": Keep(),
        "feedback_text": Text(),
        "suggestions": Texts(),
        "ratings": Scores(any_name=True),
        "quality_score": Keep(),
        "execution_time_seconds": Keep(),
        "code_lines_processed": Keep(),
        "timestamp": Day(),
        "metadata": Mapping(),
    },
    document=DocumentPart(
        section="learning_effectiveness",
        build=_document,
        properties={"feedback": {
            "type": "object", "required": ["total", "acceptance_rate", "average_quality_score"],
            "additionalProperties": False,
            "properties": {"total": {"$ref": "#/$defs/count"}, "acceptance_rate": {"$ref": "#/$defs/rate_or_null"},
                           "average_quality_score": {"$ref": "#/$defs/non_negative_or_null"}}}},
        rows=at("feedback", "total"),
    ),
    key=KEY,
    event_time="timestamp",
)
