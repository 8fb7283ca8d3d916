"""Column types of the table specs, as Pandera columns, and the closed value sets they use.

Text and lists of text are Arrow-backed (`pd.ArrowDtype`): their values stay in Arrow buffers, not Python
objects, so type checks compare dtypes, pattern and set checks run in `pyarrow.compute`, and tables go to
and from Parquet without conversion.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow.compute as pc
from pandera.pandas import Check, Column

from learning_assets.sources.frames import TEXT, TEXT_LIST, arrow_values, distinct

UTC_TS = pd.DatetimeTZDtype(tz="UTC")
RATE = Check.in_range(0.0, 1.0)
NON_NEGATIVE = Check.ge(0)

IMPROVEMENT_TYPES = ["prompt_optimization", "pattern_learning", "feedback_loop"]
OUTCOMES = ["success", "failure", "partial", "cancelled", "timeout", "error"]
PATTERN_TYPES = ["function", "class", "import", "structure"]


def text(nullable: bool = True, **kw) -> Column:
    return Column(TEXT, nullable=nullable, **kw)


FINITE = Check(lambda s: s.isna() | np.isfinite(s.astype(float)), name="finite")
# Short lowercase names that survive anonymization (framework commands, steps, domains, pseudonyms, "other",
# "unknown").
SLUG = r"^[a-z][a-z0-9_-]{0,39}$"
# A framework's display name (`Rapid Development`) or a slug
NAME = r"^[A-Za-z][A-Za-z0-9 _-]{0,59}$"
# An agent role (`reviewer`), `unknown`/`other`, or the pseudonym of an agent id that carried other names.
AGENT = r"^(?:[a-z]+(?:-[a-z]+)*|agent_[0-9a-f]{16})$"
# A generic expert name (`expert-security`), `unknown`, or the pseudonym of one that carried other names.
EXPERT = r"^(?:expert-[a-z][a-z-]{0,39}|expert_[0-9a-f]{16}|unknown)$"
# What `learning_assets.privacy.paths.generalize_path` produces: `src/**/*.py`, `**/*.md`, `**/setup.py`, `**`.
FILE_PATTERN = r"^(?:[a-z0-9._-]+/)?\*\*(?:/(?:\*\.[a-z0-9]{1,8}|[a-z0-9._-]+(?:/\*\*)?))?$"


def number(*checks: Check, nullable: bool = True) -> Column:
    return Column(float, checks=[FINITE, *checks], nullable=nullable)


def integer(*checks: Check, nullable: bool = True) -> Column:
    return Column("Int64", checks=list(checks), nullable=nullable)


def boolean() -> Column:
    return Column("boolean", nullable=True)


def timestamp(nullable: bool = True) -> Column:
    return Column(UTC_TS, nullable=nullable)


def text_list() -> Column:
    """A column of lists of strings."""
    return Column(TEXT_LIST, nullable=False)


def _per_distinct(fn) -> callable:
    """A check function applying `fn` once per distinct value (JSON text repeats) and spreading the answers."""
    def check(series: pd.Series) -> pd.Series:
        codes, values = distinct(series)
        answers = np.array([bool(fn(v)) for v in values] + [False])
        return pd.Series(answers[codes], index=series.index)
    return check


def _items_match(pattern: str):
    """A check function: every item of each list matches `pattern` (all items at once, in pyarrow)."""
    def check(series: pd.Series) -> pd.Series:
        lists = arrow_values(series)
        bad = pc.invert(pc.fill_null(pc.match_substring_regex(pc.list_flatten(lists), pattern), False))
        failing = pc.unique(pc.filter(pc.list_parent_indices(lists), bad)).to_numpy()
        ok = np.ones(len(series), dtype=bool)
        ok[failing] = False
        return pd.Series(ok, index=series.index) & series.notna()
    return check


def _json_object(value, numbers_only: bool = False) -> bool:
    try:
        obj = json.loads(value)
    except (TypeError, ValueError):
        return False
    if not isinstance(obj, dict):
        return False
    return not numbers_only or all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj.values())


def json_object() -> Column:
    """A dictionary serialized as a JSON object string."""
    return Column(TEXT, [Check.str_startswith("{"), Check(_per_distinct(_json_object), name="is_json_object")],
                  nullable=False)


def scores() -> Column:
    """A JSON object of numeric scores."""
    return Column(TEXT, Check(_per_distinct(lambda v: _json_object(v, numbers_only=True)),
                              name="is_json_object_of_numbers"), nullable=False)


def matching(pattern: str, nullable: bool = False, **kw) -> Column:
    return Column(TEXT, Check.str_matches(pattern), nullable=nullable, **kw)


def experts() -> Column:
    return Column(TEXT_LIST, Check(_items_match(EXPERT), name="list_of_expert_names"), nullable=False)


def utc_day(nullable: bool = True) -> Column:
    """A UTC timestamp rounded to the day."""
    return Column(UTC_TS, Check(lambda s: (s.dropna() == s.dropna().dt.floor("D")).all(),
                                name="rounded_to_day"), nullable=nullable)


def pseudonym(prefix: str, unique: bool = False, nullable: bool = False) -> Column:
    return Column(TEXT, Check.str_matches(rf"^{prefix}_[0-9a-f]{{16}}$"), unique=unique, nullable=nullable)


def pseudonyms(prefix: str) -> Column:
    return Column(TEXT_LIST, Check(_items_match(rf"^{prefix}_[0-9a-f]{{16}}$"), name=f"list_of_{prefix}_pseudonyms"),
                  nullable=False)


def before_after() -> dict[str, Column]:
    """A refinement's metrics before and after it, as flat columns."""
    return {f"{when}_{name}": column() for when in ("before", "after") for name, column in (
        ("success_rate", lambda: number(RATE)), ("average_duration", lambda: number(NON_NEGATIVE)),
        ("quality_score", lambda: number(RATE)), ("usage_count", lambda: integer(NON_NEGATIVE)))}


def schema(name: str, columns: dict[str, Column], **kw) -> pa.DataFrameSchema:
    """A table's schema: exactly these columns, in this order."""
    return pa.DataFrameSchema(columns, name=name, strict=True, ordered=True, **kw)


def one_of(values: list[str]) -> Column:
    """Text that is one of `values`."""
    return Column(TEXT, Check.isin(values), nullable=False)
