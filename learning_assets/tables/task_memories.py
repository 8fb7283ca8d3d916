"""Task memories: what agents remembered of each task, from `memory/memories.json`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import (
    Agent,
    Category,
    Day,
    FrameworkName,
    Keep,
    Mapping,
    Pseudonym,
    Pseudonyms,
    Texts,
)
from learning_assets.sources import fields
from learning_assets.sources.readers import (
    Skip,
    SourceRead,
    document_records,
    near_days,
    outside,
)
from learning_assets.tables import columns as col
from learning_assets.tables import migration as m
from learning_assets.tables.spec import Daily, DocumentPart, Migration, TableSpec
from learning_assets.tables.summaries import counts, mean

NAME = "task_memories"
SOURCE = "memory/memories.json"
KEY = ("task_id",)
COMMANDS = ("commands", "workflow_actions")

RAW = col.schema("raw_task_memories", {
    "task_id": col.text(nullable=False, unique=True),
    "agent_id": col.text(),
    "command": col.text(),
    "timestamp": col.timestamp(),
    "outcome": col.text(checks=col.Check.isin(col.OUTCOMES)),
    "quality_score": col.number(col.RATE),
    "key_learnings": col.text_list(),
    "patterns_used": col.text_list(),
    "similar_tasks": col.text_list(),
    "context": col.json_object(),
    "metadata": col.json_object(),
})

ANONYMIZED = col.schema("anonymized_task_memories", {
    "task_id": col.pseudonym("task", unique=True),
    "agent_id": col.matching(col.AGENT),
    "command": col.matching(col.SLUG),
    "timestamp": col.utc_day(),
    "outcome": col.one_of(col.OUTCOMES + ["other"]),
    "quality_score": col.number(col.RATE),
    "key_learnings": col.text_list(),
    "patterns_used": col.pseudonyms("pat"),
    "similar_tasks": col.pseudonyms("task"),
    "context": col.json_object(),
    "metadata": col.json_object(),
})


def read_task_memories(root: Path, naive_tz: tzinfo, days: Iterable[str] | None = None) -> dict[str, SourceRead]:
    """Task memories; with `days` (UTC dates), only those days' records and undated ones are parsed
    (a one-day run reads the whole file but parses only that day's records)."""
    days, near = (frozenset(days), near_days(days)) if days is not None else (None, frozenset())
    out = SourceRead(NAME, RAW, KEY)
    records = document_records(root, out, SOURCE, ("memories", "tasks"), "task memories")
    if records is None:
        return {NAME: out}
    for i, rec in enumerate(records):
        if outside(rec, naive_tz, days, near):
            continue
        try:
            if not isinstance(rec, dict):
                raise fields.BadRecord(f"expected an object, got {type(rec).__name__}")
            out.rows.append({
                "task_id": fields.required_text(rec, "task_id"),
                "agent_id": fields.text(rec, "agent_id"),
                "command": fields.text(rec, "command"),
                "timestamp": fields.parse_timestamp(rec.get("timestamp"), naive_tz),
                "outcome": fields.text(rec, "outcome"),
                "quality_score": fields.number(rec, "quality_score"),
                "key_learnings": fields.texts(rec, "key_learnings"),
                "patterns_used": fields.texts(rec, "patterns_used"),
                "similar_tasks": fields.texts(rec, "similar_tasks"),
                "context": fields.json_text(rec, "context"),
                "metadata": fields.json_text(rec, "metadata"),
            })
        except fields.RECORD_ERRORS as exc:
            out.skipped.append(Skip(out.files[-1], None, f"[{i}]: {exc}"))
    return {NAME: out}


def strip_star(series: pd.Series) -> pd.Series:
    """Framework commands are written with or without their leading `*` (`*review`)."""
    return series.str.lstrip("*")


def _document(df: pd.DataFrame) -> dict:
    return {"task_outcomes": counts(df["outcome"]), "average_task_quality": mean(df["quality_score"])}


def _rows(section: dict) -> int | None:
    outcomes = section.get("task_outcomes")
    return sum(v for v in outcomes.values() if isinstance(v, int)) if isinstance(outcomes, dict) else None


def _migrate(mig: Migration) -> dict:
    section = mig.section("learning_effectiveness")
    return {"task_outcomes": m.counts_by(section.get("task_outcomes"), tuple(col.OUTCOMES)),
            "average_task_quality": None}


SPEC = TableSpec(
    name=NAME,
    description=f"Task memories from {SOURCE}.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_task_memories,
    rules={
        "task_id": Pseudonym(kind="task"),
        "agent_id": Agent(),
        "command": FrameworkName(prepare=strip_star, vocabulary=COMMANDS),
        "timestamp": Day(),
        "outcome": Category(values=tuple(col.OUTCOMES)),
        "quality_score": Keep(),
        "key_learnings": Texts(),
        "patterns_used": Pseudonyms(kind="pat"),
        "similar_tasks": Pseudonyms(kind="task"),
        "context": Mapping(),
        "metadata": Mapping(),
    },
    document=DocumentPart(
        section="learning_effectiveness",
        build=_document,
        properties={
            "task_outcomes": {"$ref": "#/$defs/counts_by",
                              "propertyNames": {"enum": [*col.OUTCOMES, "other"]}},
            "average_task_quality": {"$ref": "#/$defs/rate_or_null"},
        },
        rows=_rows,
        migrate=_migrate,
    ),
    key=KEY,
    event_time="timestamp",
    incremental=Daily(),
)
