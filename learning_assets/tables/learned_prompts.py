"""Learned prompts, from `learned-prompts/<kind>/*.json`: only their shape (type, size, examples), never
their text, which is free text by nature."""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo
from pathlib import Path

import pandas as pd

from learning_assets.privacy.rules import UNKNOWN, Agent, Category, Day, Keep
from learning_assets.sources import fields
from learning_assets.sources.readers import SourceRead, json_files
from learning_assets.tables import columns as col
from learning_assets.tables.spec import DocumentPart, TableSpec
from learning_assets.tables.summaries import at, counts

NAME = "learned_prompts"
KINDS = ("eval", "system", "instructions")
SOURCE = "learned-prompts/*/*.json"
_VERSION = re.compile(r"(\d{8})_(\d{6})")

RAW = col.schema("raw_learned_prompts", {
    "prompt_type": col.text(),
    "agent_id": col.text(),
    "timestamp": col.timestamp(),
    "has_parent": col.boolean(),
    "prompt_chars": col.integer(col.NON_NEGATIVE, nullable=False),
    "examples": col.integer(col.NON_NEGATIVE, nullable=False),
})

ANONYMIZED = col.schema("anonymized_learned_prompts", {
    "prompt_type": col.matching(col.SLUG),
    "agent_id": col.matching(col.AGENT),
    "timestamp": col.utc_day(),
    "has_parent": col.boolean(),
    "prompt_chars": col.integer(col.NON_NEGATIVE, nullable=False),
    "examples": col.integer(col.NON_NEGATIVE, nullable=False),
})


def read_learned_prompts(root: Path, naive_tz: tzinfo) -> dict[str, SourceRead]:
    out = SourceRead(NAME, RAW)
    for kind in KINDS:
        for path, rec in json_files(root, f"learned-prompts/{kind}", "*.json", out):
            m = _VERSION.search(path.stem)
            try:
                stamp = datetime.strptime("".join(m.groups()), "%Y%m%d%H%M%S").replace(tzinfo=naive_tz) if m else None
            except ValueError:  # a name like eval_20261399_999999.json: no usable time
                stamp = None
            prompt = rec.get("prompt")
            examples = rec.get("examples")
            out.rows.append({
                "prompt_type": fields.text(rec, "prompt_type") or kind,
                "agent_id": fields.text(rec, "agent_name"),
                "timestamp": stamp.astimezone(timezone.utc) if stamp else None,
                "has_parent": rec.get("parent_version") is not None,
                "prompt_chars": len(prompt) if isinstance(prompt, str) else 0,
                "examples": len(examples) if isinstance(examples, list) else 0,
            })
    return {NAME: out}


def _document(df: pd.DataFrame) -> dict:
    return {"learned_prompts": {"total": int(len(df)), "by_type": counts(df["prompt_type"])}}


SPEC = TableSpec(
    name=NAME,
    description="The shape of learned prompts (never their text) from learned-prompts/.",
    sources=(SOURCE,),
    raw=RAW,
    anonymized=ANONYMIZED,
    read=read_learned_prompts,
    rules={
        "prompt_type": Category(vocabulary=("prompt_types",), missing=UNKNOWN),
        "agent_id": Agent(),
        "timestamp": Day(),
        "has_parent": Keep(),
        "prompt_chars": Keep(),
        "examples": Keep(),
    },
    document=DocumentPart(
        section="learning_effectiveness",
        build=_document,
        properties={"learned_prompts": {
            "type": "object", "required": ["total", "by_type"], "additionalProperties": False,
            "properties": {"total": {"$ref": "#/$defs/count"},
                           "by_type": {"$ref": "#/$defs/counts_by", "propertyNames": {"$ref": "#/$defs/slug"}}}}},
        rows=at("learned_prompts", "total"),
    ),
)
