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
from learning_assets.sources.readers import (
    NUM,
    OBJECT,
    REQUIRED,
    TEXT,
    TEXTS,
    TIME,
    Fields,
    Skip,
    SourceRead,
    document_records,
    near_days,
    outside,
    parse_records,
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


FIELDS = Fields((
    ("task_id", "task_id", REQUIRED), ("agent_id", "agent_id", TEXT), ("command", "command", TEXT),
    ("timestamp", "timestamp", TIME), ("outcome", "outcome", TEXT), ("quality_score", "quality_score", NUM),
    ("key_learnings", "key_learnings", TEXTS), ("patterns_used", "patterns_used", TEXTS),
    ("similar_tasks", "similar_tasks", TEXTS), ("context", "context", OBJECT), ("metadata", "metadata", OBJECT)))


def read_task_memories(root: Path, naive_tz: tzinfo, days: Iterable[str] | None = None) -> dict[str, SourceRead]:
    """Task memories; with `days` (UTC dates), only those days' records and undated ones are parsed
    (a one-day run reads the whole file but parses only that day's records)."""
    days, near = (frozenset(days), near_days(days)) if days is not None else (None, frozenset())
    out = SourceRead(NAME, RAW, KEY)
    records = document_records(root, out, SOURCE, ("memories", "tasks"), "task memories")
    if records is None:
        return {NAME: out}
    rel = out.files[-1]
    parse_records(((i, rec) for i, rec in enumerate(records) if not outside(rec, naive_tz, days, near)),
                  FIELDS, naive_tz, out, reject=lambda i, reason: Skip(rel, None, f"[{i}]: {reason}"))
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
