"""Code outcomes: how each piece of generated code fared (scores, iterations, experts), from
`learning/outcomes.jsonl`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import (
    Agent,
    Day,
    Experts,
    FilePattern,
    Keep,
    Pseudonym,
    Scores,
)
from learning_assets.sources.readers import (
    BOOL,
    INT,
    NUM,
    OBJECT,
    TEXT,
    TEXTS,
    TIME,
    Fields,
    SourceRead,
    find,
    near_days,
    outside,
    read_jsonl_source,
)
from learning_assets.tables import columns as col
from learning_assets.tables.spec import Daily, DocumentPart, TableSpec
from learning_assets.tables.summaries import at, mean, rate

NAME = "code_outcomes"
SOURCE = "learning/outcomes.jsonl"

RAW = col.schema("raw_code_outcomes", {
    "workflow_id": col.text(),
    "file_path": col.text(),
    "initial_scores": col.json_object(),
    "final_scores": col.json_object(),
    "iterations": col.integer(col.NON_NEGATIVE),
    "expert_consultations": col.text_list(),
    "time_to_correctness": col.number(col.NON_NEGATIVE),
    "first_pass_success": col.boolean(),
    "timestamp": col.timestamp(),
    "agent_id": col.text(),
    "prompt_hash": col.text(),
})

ANONYMIZED = col.schema("anonymized_code_outcomes", {
    "workflow_id": col.pseudonym("wf"),
    "file_pattern": col.matching(col.FILE_PATTERN),
    "initial_scores": col.scores(),
    "final_scores": col.scores(),
    "iterations": col.integer(col.NON_NEGATIVE),
    "expert_consultations": col.experts(),
    "time_to_correctness": col.number(col.NON_NEGATIVE),
    "first_pass_success": col.boolean(),
    "timestamp": col.utc_day(),
    "agent_id": col.matching(col.AGENT),
    "prompt_hash": col.pseudonym("prompt", nullable=True),
})


FIELDS = Fields((
    ("workflow_id", "workflow_id", TEXT), ("file_path", "file_path", TEXT),
    ("initial_scores", "initial_scores", OBJECT), ("final_scores", "final_scores", OBJECT),
    ("iterations", "iterations", INT), ("expert_consultations", "expert_consultations", TEXTS),
    ("time_to_correctness", "time_to_correctness", NUM), ("first_pass_success", "first_pass_success", BOOL),
    ("timestamp", "timestamp", TIME), ("agent_id", "agent_id", TEXT), ("prompt_hash", "prompt_hash", TEXT)))


def read_code_outcomes(root: Path, naive_tz: tzinfo, days: Iterable[str] | None = None) -> dict[str, SourceRead]:
    """Code outcomes; with `days`, only those days' records are parsed (as for task memories)."""
    days, near = (frozenset(days), near_days(days)) if days is not None else (None, frozenset())
    path = find(root, SOURCE)
    out = read_jsonl_source(root, SourceRead(NAME, RAW), [path] if path else [], FIELDS, naive_tz,
                            skip=(lambda rec: outside(rec, naive_tz, days, near)) if days is not None else None)
    if path is None:
        out.warnings.append(f"{SOURCE} is missing: no code outcomes exported")
    return {NAME: out}


def _unknown(series: pd.Series) -> pd.Series:
    return series.fillna("unknown")


def _document(df: pd.DataFrame) -> dict:
    return {"code_outcomes": {
        "total": int(len(df)),
        "first_pass_success_rate": rate(df["first_pass_success"]),
        "average_iterations": mean(df["iterations"]),
        "average_time_to_correctness": mean(df["time_to_correctness"]),
    }}


SPEC = TableSpec(
    name=NAME,
    description=f"Code outcomes from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_code_outcomes,
    rules={
        "workflow_id": Pseudonym(prepare=_unknown, kind="wf"),
        "file_pattern": FilePattern(source="file_path"),
        "initial_scores": Scores(),
        "final_scores": Scores(),
        "iterations": Keep(),
        "expert_consultations": Experts(),
        "time_to_correctness": Keep(),
        "first_pass_success": Keep(),
        "timestamp": Day(),
        "agent_id": Agent(),
        "prompt_hash": Pseudonym(kind="prompt"),
    },
    document=DocumentPart(
        section="learning_effectiveness",
        build=_document,
        properties={"code_outcomes": {
            "type": "object",
            "required": ["total", "first_pass_success_rate", "average_iterations", "average_time_to_correctness"],
            "additionalProperties": False,
            "properties": {"total": {"$ref": "#/$defs/count"},
                           "first_pass_success_rate": {"$ref": "#/$defs/rate_or_null"},
                           "average_iterations": {"$ref": "#/$defs/non_negative_or_null"},
                           "average_time_to_correctness": {"$ref": "#/$defs/non_negative_or_null"}}}},
        rows=at("code_outcomes", "total"),
    ),
    event_time="timestamp",
    incremental=Daily(),
)
