"""Agent executions: one row per agent run, from the daily `analytics/history/agents-<date>.jsonl` files."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from functools import partial
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import Agent, Day, FrameworkName, Keep
from learning_assets.sources.readers import (
    BOOL,
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

NAME = "agent_executions"
KIND = "agents"
SOURCE = f"analytics/history/{KIND}-*.jsonl"
FIELDS = Fields((
    ("agent_id", "agent_id", TEXT), ("agent_name", "agent_name", TEXT), ("duration", "duration", NUM),
    ("success", "success", BOOL), ("timestamp", "timestamp", TIME)))

RAW = col.schema("raw_agent_executions", {
    "agent_id": col.text(),
    "agent_name": col.text(),
    "duration": col.number(col.NON_NEGATIVE),
    "success": col.boolean(),
    "timestamp": col.timestamp(),
})

ANONYMIZED = col.schema("anonymized_agent_executions", {
    "agent_id": col.matching(col.AGENT),
    "agent_name": col.text(),
    "duration": col.number(col.NON_NEGATIVE),
    "success": col.boolean(),
    "timestamp": col.utc_day(nullable=False),
})


def read_agent_executions(root: Path, naive_tz: tzinfo, days: Iterable[str] | None = None) -> dict[str, SourceRead]:
    """With `days`, only the files of those (local) dates are read."""
    return {NAME: read_history(root, SourceRead(NAME, RAW), FIELDS, KIND, naive_tz, days)}


def _document(df: pd.DataFrame) -> dict:
    return {"agent_executions": int(len(df)), "agents_per_day": per_day(df, "agent_id")}


def _migrate(mig: Migration) -> dict:
    """The total only: 1.0 per-agent details are not anonymized."""
    section = mig.section("analytics_data")
    if section:
        mig.drop("analytics_data: per-agent and per-workflow details (only execution totals are kept)")
    agents = section.get("agents") if isinstance(section.get("agents"), list) else []
    return {"agent_executions": m.sum_counts(agents, "total_executions", "executions"), "agents_per_day": []}


SPEC = TableSpec(
    name=NAME,
    description=f"Agent executions from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_agent_executions,
    rules={
        "agent_id": Agent(),
        "agent_name": FrameworkName(vocabulary=("agent_names", "agent_ids"), kind="agent"),
        "duration": Keep(),
        "success": Keep(),
        "timestamp": Day(),
    },
    document=DocumentPart(
        section="analytics_data",
        build=_document,
        properties={
            "agent_executions": {"$ref": "#/$defs/count"},
            "agents_per_day": {"type": "array", "items": {
                "$ref": "#/$defs/per_day", "required": ["agent_id"],
                "properties": {"agent_id": {"$ref": "#/$defs/agent"}}, "unevaluatedProperties": False}},
        },
        rows=at("agent_executions"),
        migrate=_migrate,
    ),
    event_time="timestamp",
    dated=True,
    incremental=Daily(day_files=partial(history_files, kind=KIND)),
)
