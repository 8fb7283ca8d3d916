"""Workflow step executions, from `metrics/executions_*.jsonl`."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import (
    UNKNOWN,
    Category,
    Day,
    FrameworkName,
    Keep,
    Pseudonym,
    Text,
)
from learning_assets.sources.readers import (
    BOOL,
    INT,
    NUM,
    TEXT,
    TIME,
    Fields,
    SourceRead,
    listed,
    read_flat,
)
from learning_assets.tables import columns as col
from learning_assets.tables.spec import DocumentPart, TableSpec
from learning_assets.tables.summaries import at, counts
from learning_assets.tables.task_memories import COMMANDS, strip_star

NAME = "step_executions"
SOURCE = "metrics/executions_*.jsonl"
FIELDS = Fields((
    ("execution_id", "execution_id", TEXT), ("workflow_id", "workflow_id", TEXT), ("step_id", "step_id", TEXT),
    ("command", "command", TEXT), ("status", "status", TEXT), ("duration_ms", "duration_ms", NUM),
    ("timestamp", "started_at", TIME), ("retry_count", "retry_count", INT),
    ("error_message", "error_message", TEXT), ("skill", "skill", TEXT), ("gate_pass", "gate_pass", BOOL)))

RAW = col.schema("raw_step_executions", {
    "execution_id": col.text(),
    "workflow_id": col.text(),
    "step_id": col.text(),
    "command": col.text(),
    "status": col.text(),
    "duration_ms": col.number(col.NON_NEGATIVE),
    "timestamp": col.timestamp(),
    "retry_count": col.integer(col.NON_NEGATIVE),
    "error_message": col.text(),
    "skill": col.text(),
    "gate_pass": col.boolean(),
})

ANONYMIZED = col.schema("anonymized_step_executions", {
    "execution_id": col.pseudonym("exec", nullable=True),
    "workflow_id": col.pseudonym("wf", nullable=True),
    "step_id": col.matching(col.SLUG),
    "command": col.matching(col.SLUG),
    "status": col.matching(col.SLUG),
    "duration_ms": col.number(col.NON_NEGATIVE),
    "timestamp": col.utc_day(),
    "retry_count": col.integer(col.NON_NEGATIVE),
    "error_message": col.text(),
    "skill": col.matching(col.SLUG),
    "gate_pass": col.boolean(),
})


def read_step_executions(root: Path, naive_tz: tzinfo) -> dict[str, SourceRead]:
    out = SourceRead(NAME, RAW)
    files = listed(root, "metrics", "executions_*.jsonl*", out)
    read_flat(root, out, FIELDS, files, naive_tz)
    if not files and not out.skipped:
        out.warnings.append("metrics has no executions_*.jsonl files: no step executions exported")
    return {NAME: out}


def _document(df: pd.DataFrame) -> dict:
    return {"step_executions": {"total": int(len(df)), "by_status": counts(df["status"])}}


SPEC = TableSpec(
    name=NAME,
    description=f"Workflow step executions from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_step_executions,
    rules={
        "execution_id": Pseudonym(kind="exec"),
        "workflow_id": Pseudonym(kind="wf"),
        "step_id": FrameworkName(vocabulary=("step_ids", "workflow_actions")),
        "command": FrameworkName(prepare=strip_star, vocabulary=COMMANDS),
        "status": Category(vocabulary=("statuses",), missing=UNKNOWN),
        "duration_ms": Keep(),
        "timestamp": Day(),
        "retry_count": Keep(),
        "error_message": Text(),
        "skill": FrameworkName(vocabulary=("skills", "agent_ids")),
        "gate_pass": Keep(),
    },
    document=DocumentPart(
        section="analytics_data",
        build=_document,
        properties={"step_executions": {
            "type": "object", "required": ["total", "by_status"], "additionalProperties": False,
            "properties": {"total": {"$ref": "#/$defs/count"},
                           "by_status": {"$ref": "#/$defs/counts_by", "propertyNames": {"$ref": "#/$defs/slug"}}}}},
        rows=at("step_executions", "total"),
    ),
    event_time="timestamp",
)
