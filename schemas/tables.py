"""Pandera schemas of every raw and anonymized table: the single source of truth for columns and types.

Text and lists of text are Arrow-backed (`pd.ArrowDtype`): their values stay in Arrow buffers, not Python
objects, so type checks compare dtypes, pattern and set checks run in `pyarrow.compute`, and tables go to
and from Parquet without conversion.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.pandas import Check, Column

TEXT = pd.ArrowDtype(pyarrow.string())
TEXT_LIST = pd.ArrowDtype(pyarrow.list_(pyarrow.string()))
UTC_TS = pd.DatetimeTZDtype(tz="UTC")
RATE = Check.in_range(0.0, 1.0)
NON_NEGATIVE = Check.ge(0)

IMPROVEMENT_TYPES = ["prompt_optimization", "pattern_learning", "feedback_loop"]
OUTCOMES = ["success", "failure", "partial", "cancelled", "timeout", "error"]
PATTERN_TYPES = ["function", "class", "import", "structure"]


def _str(nullable: bool = True, **kw) -> Column:
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


def _float(*checks: Check, nullable: bool = True) -> Column:
    return Column(float, checks=[FINITE, *checks], nullable=nullable)


def _int(*checks: Check, nullable: bool = True) -> Column:
    return Column("Int64", checks=list(checks), nullable=nullable)


def _bool() -> Column:
    return Column("boolean", nullable=True)


def _ts(nullable: bool = True) -> Column:
    return Column(UTC_TS, nullable=nullable)


def _list() -> Column:
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
        bad = pc.invert(pc.match_substring_regex(pc.list_flatten(lists), pattern))
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


def _json() -> Column:
    """A dictionary serialized as a JSON object string."""
    return Column(TEXT, [Check.str_startswith("{"), Check(_per_distinct(_json_object), name="is_json_object")],
                  nullable=False)


def _scores() -> Column:
    """A JSON object of numeric scores."""
    return Column(TEXT, Check(_per_distinct(lambda v: _json_object(v, numbers_only=True)),
                              name="is_json_object_of_numbers"), nullable=False)


def _matching(pattern: str, nullable: bool = False, **kw) -> Column:
    return Column(TEXT, Check.str_matches(pattern), nullable=nullable, **kw)


def _experts() -> Column:
    return Column(TEXT_LIST, Check(_items_match(EXPERT), name="list_of_expert_names"), nullable=False)


def _day(nullable: bool = True) -> Column:
    """A UTC timestamp rounded to the day."""
    return Column(UTC_TS, Check(lambda s: (s.dropna() == s.dropna().dt.floor("D")).all(),
                                name="rounded_to_day"), nullable=nullable)


def _pseudonym(prefix: str, unique: bool = False, nullable: bool = False) -> Column:
    return Column(TEXT, Check.str_matches(rf"^{prefix}_[0-9a-f]{{16}}$"), unique=unique, nullable=nullable)


def _pseudonyms(prefix: str) -> Column:
    return Column(TEXT_LIST, Check(_items_match(rf"^{prefix}_[0-9a-f]{{16}}$"), name=f"list_of_{prefix}_pseudonyms"),
                  nullable=False)


def _before_after() -> dict[str, Column]:
    """A refinement's metrics before and after it, as flat columns."""
    return {f"{when}_{name}": column() for when in ("before", "after") for name, column in (
        ("success_rate", lambda: _float(RATE)), ("average_duration", lambda: _float(NON_NEGATIVE)),
        ("quality_score", lambda: _float(RATE)), ("usage_count", lambda: _int(NON_NEGATIVE)))}


def _schema(name: str, columns: dict[str, Column], **kw) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(columns, name=name, strict=True, ordered=True, **kw)


RAW: dict[str, pa.DataFrameSchema] = {
    "capabilities": _schema("raw_capabilities", {
        "capability_id": _str(nullable=False, unique=True),
        "agent_id": _str(),
        "success_rate": _float(RATE),
        "average_duration": _float(NON_NEGATIVE),
        "quality_score": _float(RATE),
        "usage_count": _int(NON_NEGATIVE),
        "last_improved": _ts(),
        "refinement_count": _int(NON_NEGATIVE, nullable=False),
        "metadata": _json(),
    }),
    "capability_refinements": _schema("raw_capability_refinements", {
        "capability_id": _str(nullable=False),
        "position": _int(NON_NEGATIVE, nullable=False),
        "timestamp": _ts(),
        "improvement_type": _str(checks=Check.isin(IMPROVEMENT_TYPES)),
        **_before_after(),
        "improvement_percent": _float(),
        "learned_patterns": _list(),
        "metadata": _json(),
    }, unique=["capability_id", "position"]),
    "task_memories": _schema("raw_task_memories", {
        "task_id": _str(nullable=False, unique=True),
        "agent_id": _str(),
        "command": _str(),
        "timestamp": _ts(),
        "outcome": _str(checks=Check.isin(OUTCOMES)),
        "quality_score": _float(RATE),
        "key_learnings": _list(),
        "patterns_used": _list(),
        "similar_tasks": _list(),
        "context": _json(),
        "metadata": _json(),
    }),
    "patterns": _schema("raw_patterns", {
        "pattern_id": _str(nullable=False, unique=True),
        "pattern_type": _str(checks=Check.isin(PATTERN_TYPES)),
        "code_snippet": _str(),
        "context": _str(),
        "quality_score": _float(RATE),
        "usage_count": _int(NON_NEGATIVE),
        "success_rate": _float(RATE),
        "learned_from": _list(),
        "metadata": _json(),
        "security_score": _float(Check.in_range(0.0, 10.0)),
        "is_anti_pattern": _bool(),
        "failure_reasons": _list(),
        "rejection_count": _int(NON_NEGATIVE),
    }),
    "code_outcomes": _schema("raw_code_outcomes", {
        "workflow_id": _str(),
        "file_path": _str(),
        "initial_scores": _json(),
        "final_scores": _json(),
        "iterations": _int(NON_NEGATIVE),
        "expert_consultations": _list(),
        "time_to_correctness": _float(NON_NEGATIVE),
        "first_pass_success": _bool(),
        "timestamp": _ts(),
        "agent_id": _str(),
        "prompt_hash": _str(),
    }),
    "agent_executions": _schema("raw_agent_executions", {
        "agent_id": _str(),
        "agent_name": _str(),
        "duration": _float(NON_NEGATIVE),
        "success": _bool(),
        "timestamp": _ts(),
    }),
    "workflow_executions": _schema("raw_workflow_executions", {
        "workflow_id": _str(),
        "workflow_name": _str(),
        "duration": _float(NON_NEGATIVE),
        "steps": _int(NON_NEGATIVE),
        "success": _bool(),
        "timestamp": _ts(),
    }),
    "expert_performance": _schema("raw_expert_performance", {
        "expert_id": _str(),
        "domain": _str(),
        "confidence": _float(RATE),
        "query": _str(),
        "timestamp": _ts(),
    }),
    "confidence_metrics": _schema("raw_confidence_metrics", {
        "timestamp": _ts(),
        "agent_id": _str(),
        "domain": _str(),
        "confidence": _float(RATE),
        "threshold": _float(RATE),
        "meets_threshold": _bool(),
        "agreement_level": _float(RATE),
        "num_experts": _int(NON_NEGATIVE),
        "primary_expert": _str(),
        "query_preview": _str(),
    }),
    "feedback": _schema("raw_feedback", {
        "feedback_id": _str(nullable=False, unique=True),
        "agent_id": _str(),
        "command": _str(),
        "accepted": _bool(),
        "feedback_text": _str(),
        "suggestions": _list(),
        "ratings": _json(),
        "quality_score": _float(NON_NEGATIVE),
        "execution_time_seconds": _float(NON_NEGATIVE),
        "code_lines_processed": _int(NON_NEGATIVE),
        "timestamp": _ts(),
        "metadata": _json(),
    }),
    "step_executions": _schema("raw_step_executions", {
        "execution_id": _str(),
        "workflow_id": _str(),
        "step_id": _str(),
        "command": _str(),
        "status": _str(),
        "duration_ms": _float(NON_NEGATIVE),
        "timestamp": _ts(),
        "retry_count": _int(NON_NEGATIVE),
        "error_message": _str(),
        "skill": _str(),
        "gate_pass": _bool(),
    }),
    "learned_prompts": _schema("raw_learned_prompts", {
        "prompt_type": _str(),
        "agent_id": _str(),
        "timestamp": _ts(),
        "has_parent": _bool(),
        "prompt_chars": _int(NON_NEGATIVE, nullable=False),
        "examples": _int(NON_NEGATIVE, nullable=False),
    }),
}

ANONYMIZED: dict[str, pa.DataFrameSchema] = {
    "capabilities": _schema("anonymized_capabilities", {
        "capability_id": _pseudonym("cap", unique=True),
        "agent_id": _matching(AGENT),
        "capability_type": _matching(SLUG),
        "success_rate": _float(RATE),
        "average_duration": _float(NON_NEGATIVE),
        "quality_score": _float(RATE),
        "usage_count": _int(NON_NEGATIVE),
        "last_improved": _day(),
        "refinement_count": _int(NON_NEGATIVE, nullable=False),
    }),
    "capability_refinements": _schema("anonymized_capability_refinements", {
        "capability_id": _pseudonym("cap"),
        "position": _int(NON_NEGATIVE, nullable=False),
        "timestamp": _day(),
        "improvement_type": Column(TEXT, Check.isin(IMPROVEMENT_TYPES + ["other"]), nullable=False),
        **_before_after(),
        "improvement_percent": _float(),
        "learned_patterns": _pseudonyms("pat"),
        "metadata": _json(),
    }, unique=["capability_id", "position"]),
    "task_memories": _schema("anonymized_task_memories", {
        "task_id": _pseudonym("task", unique=True),
        "agent_id": _matching(AGENT),
        "command": _matching(SLUG),
        "timestamp": _day(),
        "outcome": Column(TEXT, Check.isin(OUTCOMES + ["other"]), nullable=False),
        "quality_score": _float(RATE),
        "key_learnings": _list(),
        "patterns_used": _pseudonyms("pat"),
        "similar_tasks": _pseudonyms("task"),
        "context": _json(),
        "metadata": _json(),
    }),
    "patterns": _schema("anonymized_patterns", {
        "pattern_id": _pseudonym("pat", unique=True),
        "pattern_type": Column(TEXT, Check.isin(PATTERN_TYPES + ["other"]), nullable=False),
        "code_lines": _int(NON_NEGATIVE, nullable=False),
        "context": _str(),
        "quality_score": _float(RATE),
        "usage_count": _int(NON_NEGATIVE),
        "success_rate": _float(RATE),
        "learned_from": _pseudonyms("task"),
        "metadata": _json(),
        "security_score": _float(Check.in_range(0.0, 10.0)),
        "is_anti_pattern": _bool(),
        "failure_reasons": _list(),
        "rejection_count": _int(NON_NEGATIVE),
    }),
    "code_outcomes": _schema("anonymized_code_outcomes", {
        "workflow_id": _pseudonym("wf"),
        "file_pattern": _matching(FILE_PATTERN),
        "initial_scores": _scores(),
        "final_scores": _scores(),
        "iterations": _int(NON_NEGATIVE),
        "expert_consultations": _experts(),
        "time_to_correctness": _float(NON_NEGATIVE),
        "first_pass_success": _bool(),
        "timestamp": _day(),
        "agent_id": _matching(AGENT),
        "prompt_hash": _pseudonym("prompt", nullable=True),
    }),
    "agent_executions": _schema("anonymized_agent_executions", {
        "agent_id": _matching(AGENT),
        "agent_name": _str(),
        "duration": _float(NON_NEGATIVE),
        "success": _bool(),
        "timestamp": _day(nullable=False),
    }),
    "workflow_executions": _schema("anonymized_workflow_executions", {
        "workflow_id": _pseudonym("wf"),
        "workflow_name": _matching(NAME),
        "duration": _float(NON_NEGATIVE),
        "steps": _int(NON_NEGATIVE),
        "success": _bool(),
        "timestamp": _day(nullable=False),
    }),
    "expert_performance": _schema("anonymized_expert_performance", {
        "expert_id": _matching(EXPERT),
        "domain": _matching(SLUG),
        "confidence": _float(RATE),
        "query": _str(),
        "timestamp": _day(),
    }),
    "confidence_metrics": _schema("anonymized_confidence_metrics", {
        "timestamp": _day(),
        "agent_id": _matching(AGENT),
        "domain": _matching(SLUG),
        "confidence": _float(RATE),
        "threshold": _float(RATE),
        "meets_threshold": _bool(),
        "agreement_level": _float(RATE),
        "num_experts": _int(NON_NEGATIVE),
        "primary_expert": _matching(EXPERT),
        "query_preview": _str(),
    }),
    "feedback": _schema("anonymized_feedback", {
        "feedback_id": _pseudonym("fb", unique=True),
        "agent_id": _matching(AGENT),
        "command": _matching(SLUG),
        "accepted": _bool(),
        "feedback_text": _str(),
        "suggestions": _list(),
        "ratings": _scores(),
        "quality_score": _float(NON_NEGATIVE),
        "execution_time_seconds": _float(NON_NEGATIVE),
        "code_lines_processed": _int(NON_NEGATIVE),
        "timestamp": _day(),
        "metadata": _json(),
    }),
    "step_executions": _schema("anonymized_step_executions", {
        "execution_id": _pseudonym("exec", nullable=True),
        "workflow_id": _pseudonym("wf", nullable=True),
        "step_id": _matching(SLUG),
        "command": _matching(SLUG),
        "status": _matching(SLUG),
        "duration_ms": _float(NON_NEGATIVE),
        "timestamp": _day(),
        "retry_count": _int(NON_NEGATIVE),
        "error_message": _str(),
        "skill": _matching(SLUG),
        "gate_pass": _bool(),
    }),
    "learned_prompts": _schema("anonymized_learned_prompts", {
        "prompt_type": _matching(SLUG),
        "agent_id": _matching(AGENT),
        "timestamp": _day(),
        "has_parent": _bool(),
        "prompt_chars": _int(NON_NEGATIVE, nullable=False),
        "examples": _int(NON_NEGATIVE, nullable=False),
    }),
}

TABLE_NAMES: tuple[str, ...] = tuple(RAW)


def empty_frame(schema: pa.DataFrameSchema) -> pd.DataFrame:
    """An empty DataFrame with exactly the schema's columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=col.dtype.type) for name, col in schema.columns.items()})


def arrow_schema(schema: pa.DataFrameSchema) -> pyarrow.Schema:
    """The Arrow schema of a table's Parquet file."""
    def arrow_type(dtype) -> pyarrow.DataType:
        if isinstance(dtype, pd.ArrowDtype):
            return dtype.pyarrow_dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            return pyarrow.timestamp("ns", tz="UTC")
        return {"float64": pyarrow.float64(), "Int64": pyarrow.int64(), "boolean": pyarrow.bool_()}[str(dtype)]
    return pyarrow.schema([(name, arrow_type(col.dtype.type)) for name, col in schema.columns.items()])


def arrow_values(series: pd.Series, arrow_type: pyarrow.DataType | None = None) -> pyarrow.Array:
    """A column's values as one Arrow array (an Arrow-backed column may hold several chunks)."""
    values = pyarrow.array(series, arrow_type, from_pandas=True)
    return values.combine_chunks() if isinstance(values, pyarrow.ChunkedArray) else values


def distinct(series: pd.Series) -> tuple[np.ndarray, list]:
    """(code of each row, -1 where missing; the distinct values in order of first appearance, as Python objects).

    Arrow-backed values convert in one call: iterating them converts one value at a time.
    """
    codes, uniques = pd.factorize(series)
    return codes, pyarrow.array(uniques).to_pylist() if isinstance(uniques.dtype, pd.ArrowDtype) else list(uniques)


def conform(df: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Cast a frame built from records to the schema's column order and dtypes (no validation)."""
    out = {}
    for name, col in schema.columns.items():
        series = df[name] if name in df else pd.Series([None] * len(df), dtype=object)
        dtype = col.dtype.type
        if series.dtype == dtype:
            out[name] = series
        elif isinstance(dtype, pd.ArrowDtype):
            values = pyarrow.array(series.to_numpy(dtype=object), dtype.pyarrow_dtype, from_pandas=True)
            out[name] = pd.Series(values, dtype=dtype, index=series.index)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            out[name] = pd.to_datetime(series, utc=True, errors="coerce", cache=False)  # its cache check costs more
        else:
            out[name] = series.astype(dtype)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))
