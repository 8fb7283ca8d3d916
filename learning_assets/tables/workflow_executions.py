"""Workflow executions: one row per workflow run, from the daily
`analytics/history/workflows-<date>.jsonl` files."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from functools import partial
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import Day, FrameworkName, Keep, Pseudonym
from learning_assets.sources.readers import (
    BOOL,
    INT,
    NUM,
    TEXT,
    TIME,
    Fields,
    SourceRead,
    history_files,
    read_history,
)
from learning_assets.tables import columns as col
from learning_assets.tables import migration as m
from learning_assets.tables.spec import Daily, DocumentPart, Migration, TableSpec
from learning_assets.tables.summaries import at, per_day

NAME = "workflow_executions"
KIND = "workflows"
SOURCE = f"analytics/history/{KIND}-*.jsonl"
FIELDS = Fields((
    ("workflow_id", "workflow_id", TEXT), ("workflow_name", "workflow_name", TEXT), ("duration", "duration", NUM),
    ("steps", "steps", INT), ("success", "success", BOOL), ("timestamp", "timestamp", TIME)))

RAW = col.schema("raw_workflow_executions", {
    "workflow_id": col.text(),
    "workflow_name": col.text(),
    "duration": col.number(col.NON_NEGATIVE),
    "steps": col.integer(col.NON_NEGATIVE),
    "success": col.boolean(),
    "timestamp": col.timestamp(),
})

ANONYMIZED = col.schema("anonymized_workflow_executions", {
    "workflow_id": col.pseudonym("wf"),
    "workflow_name": col.matching(col.NAME),
    "duration": col.number(col.NON_NEGATIVE),
    "steps": col.integer(col.NON_NEGATIVE),
    "success": col.boolean(),
    "timestamp": col.utc_day(nullable=False),
})


def read_workflow_executions(root: Path, naive_tz: tzinfo,
                             days: Iterable[str] | None = None) -> dict[str, SourceRead]:
    """With `days`, only the files of those (local) dates are read."""
    return {NAME: read_history(root, SourceRead(NAME, RAW), FIELDS, KIND, naive_tz, days)}


def _unknown(series: pd.Series) -> pd.Series:
    return series.fillna("unknown")


def _document(df: pd.DataFrame) -> dict:
    return {"workflow_executions": int(len(df)), "workflows_per_day": per_day(df, "workflow_name")}


def _migrate(mig: Migration) -> dict:
    """The total only: 1.0 per-workflow details are not anonymized."""
    section = mig.section("analytics_data")
    workflows = section.get("workflows") if isinstance(section.get("workflows"), list) else []
    return {"workflow_executions": m.sum_counts(workflows, "total_executions", "executions"),
            "workflows_per_day": []}


SPEC = TableSpec(
    name=NAME,
    description=f"Workflow executions from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_workflow_executions,
    rules={
        "workflow_id": Pseudonym(prepare=_unknown, kind="wf"),
        "workflow_name": FrameworkName(vocabulary=("workflow_names", "workflow_ids", "workflow_preset_aliases")),
        "duration": Keep(),
        "steps": Keep(),
        "success": Keep(),
        "timestamp": Day(),
    },
    document=DocumentPart(
        section="analytics_data",
        build=_document,
        properties={
            "workflow_executions": {"$ref": "#/$defs/count"},
            "workflows_per_day": {"type": "array", "items": {
                "$ref": "#/$defs/per_day", "required": ["workflow_name"],
                "properties": {"workflow_name": {"$ref": "#/$defs/name"}}, "unevaluatedProperties": False}},
        },
        rows=at("workflow_executions"),
        migrate=_migrate,
    ),
    event_time="timestamp",
    dated=True,
    incremental=Daily(day_files=partial(history_files, kind=KIND)),
)
