"""Names learned from the source (user, host and project names): from the source directory's own path and
every string of the raw tables. Used by the export, the daily and snapshot paths, and the preview."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from learning_assets.privacy.anonymize import json_doc_strings
from learning_assets.privacy.scrub import (
    ROLES,
    VOCABULARY_TRIGGER,
    Vocabulary,
    flagged,
    learn_vocabulary,
    to_arrow,
)
from learning_assets.sources.frames import TEXT, TEXT_LIST, arrow_values, distinct


def text_values(df: pd.DataFrame, trigger: str | None = None):
    """Every distinct string in a frame's text columns: list items, and JSON columns decoded to their leaves.

    With a `trigger` (see `privacy.scrub`), only the strings it flags; a JSON document is not even decoded
    when its text has no escape (so every string in it is a plain substring) and the trigger does not flag it.
    """
    for col in df.columns:
        if df[col].dtype == TEXT_LIST:
            strings = pc.unique(pc.list_flatten(arrow_values(df[col])))
        elif df[col].dtype == TEXT:
            strings = pc.unique(arrow_values(df[col]).drop_null())
        else:
            continue
        if df[col].dtype == TEXT and len(strings) and strings[0].as_py().startswith("{"):
            docs = _flagged(strings, None if trigger is None else r"\\|" + trigger)
            leaves = [s for doc in docs for s in _json_leaves(doc)]
            array = to_arrow(leaves)  # None when a leaf cannot be UTF-8 (a lone surrogate from JSON)
            yield from leaves if trigger is None or array is None else _flagged(array, trigger)
        else:
            yield from _flagged(strings, trigger)


def _json_leaves(doc: str) -> list[str]:
    """A JSON document's strings; the document itself when it is not JSON."""
    strings = json_doc_strings(doc)
    return [doc] if strings is None else strings


def _flagged(strings: pa.Array, trigger: str | None) -> list[str]:
    """The strings `trigger` flags (all of them without one)."""
    return strings.to_pylist() if trigger is None else strings.take(flagged(strings, trigger)).to_pylist()


def learn_source_vocabulary(root: Path, raw_tables: Iterable[pd.DataFrame]) -> Vocabulary:
    """User, host and project names from the source directory's own path and every string of the raw tables."""
    values = [str(root.resolve())]
    agent_ids = set()
    for df in raw_tables:
        values.extend(text_values(df, VOCABULARY_TRIGGER))
        if "agent_id" in df:
            agent_ids.update(distinct(df["agent_id"])[1])
    return learn_vocabulary(values, agent_ids, roles=ROLES)
