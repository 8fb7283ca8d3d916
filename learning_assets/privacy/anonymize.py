"""Per-table anonymization: raw frames in, anonymized frames (matching `schemas.tables.ANONYMIZED`) out.

All rules are always applied; there is no switch to turn any of them off.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from learning_assets.privacy.paths import generalize_path
from learning_assets.privacy.scrub import ROLES, Scrubber
from learning_assets.privacy.vocabulary import OTHER, UNKNOWN, framework_names
from schemas.tables import (
    ANONYMIZED,
    IMPROVEMENT_TYPES,
    OUTCOMES,
    PATTERN_TYPES,
    TEXT,
    TEXT_LIST,
    arrow_values,
    conform,
    distinct,
)

# Keys of free-form context/metadata dictionaries that may leave the project; everything else is dropped.
ALLOWED_KEYS = frozenset({
    "description", "language", "framework", "task_type", "domain", "complexity", "category", "tags",
    "priority", "file_type", "file", "files", "target_file", "file_path", "path", "reason",
})
PATH_KEYS = frozenset({"file", "files", "target_file", "file_path", "path"})
SCORE_KEYS = frozenset({"overall", "security", "maintainability", "complexity", "test_coverage",
                        "performance", "linting", "type_checking", "duplication", "readability"})
SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_DEPTH = 3
SORTED_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(..., sort_keys=True) without a new encoder per call

# The framework's names that pass verbatim, per kind of column; any other name becomes a keyed pseudonym.
AGENT_IDS = framework_names("agent_ids")
AGENT_NAMES = framework_names("agent_names", "agent_ids")
COMMANDS = framework_names("commands", "workflow_actions")
WORKFLOW_NAMES = framework_names("workflow_names", "workflow_ids", "workflow_preset_aliases")
STEP_IDS = framework_names("step_ids", "workflow_actions")
SKILLS = framework_names("skills", "agent_ids")
DOMAINS = framework_names("expert_domains", "expert_domain_aliases")
EXPERTS = framework_names("expert_ids", "expert_id_aliases")
CAPABILITY_TYPES = framework_names("commands", "workflow_actions", "task_types", "skills", "step_ids")
STATUSES = framework_names("statuses")
PROMPT_TYPES = framework_names("prompt_types")


def _spread(codes: np.ndarray, values: list[str], missing: str | None, index: pd.Index) -> pd.Series:
    """Per-distinct `values` (in factorize order) spread back over the rows; `missing` where code is -1."""
    lookup = pa.array([*values, missing], pa.string())
    return pd.Series(lookup.take(np.where(codes < 0, len(values), codes)), index=index, dtype=TEXT)


def _lists(series: pd.Series) -> pa.ListArray:
    """A column of lists of text as one Arrow array."""
    return arrow_values(series, pa.list_(pa.string()))


def _with_items(lists: pa.ListArray, items: pa.Array, index: pd.Index) -> pd.Series:
    """`lists` with their items (flattened, in order) replaced by `items`."""
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    rebuilt = pa.ListArray.from_arrays(offsets, items, mask=lists.is_null() if lists.null_count else None)
    return pd.Series(rebuilt, index=index, dtype=TEXT_LIST)


def _each_distinct(items: pa.Array, fn) -> pa.Array:
    """`fn` of each distinct item, taken back to every item."""
    distinct = pc.unique(items)
    return pa.array([fn(v) for v in distinct.to_pylist()], pa.string()).take(pc.index_in(items, distinct))


@dataclass
class Anonymizer:
    """Applies the rules to one table at a time and counts every replacement."""

    pseudonymize: callable
    scrubber: Scrubber
    stats: Counter = field(default_factory=Counter)

    # --- column helpers ---------------------------------------------------------------------

    def ids(self, series: pd.Series, kind: str) -> pd.Series:
        codes, values = distinct(series)
        self.stats["ids_pseudonymized"] += int((codes >= 0).sum())
        return _spread(codes, [self.pseudonymize(kind, v) for v in values], None, series.index)

    def id_lists(self, series: pd.Series, kind: str) -> pd.Series:
        lists = _lists(series)
        items = pc.list_flatten(lists)
        self.stats["ids_pseudonymized"] += len(items)
        return _with_items(lists, _each_distinct(items, lambda i: self.pseudonymize(kind, i)), series.index)

    def text(self, series: pd.Series) -> pd.Series:
        """Scrub each distinct value once; count replacements per occurrence."""
        codes, values = distinct(series)
        values = list(map(str, values))
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        scrubbed = self._scrub_counted(zip(values, counts.tolist()))
        return _spread(codes, [scrubbed[value] for value in values], None, series.index)

    def text_lists(self, series: pd.Series) -> pd.Series:
        lists = _lists(series)
        items = pc.list_flatten(lists)
        counts = pc.value_counts(items)  # in order of first appearance
        scrubbed = self._scrub_counted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
        return _with_items(lists, _each_distinct(items, scrubbed.__getitem__), series.index)

    def _scrub_counted(self, occurrences: Iterable[tuple[str, int]]) -> dict[str, str]:
        """Scrub each distinct text in one batch; count its replacements once per occurrence."""
        occurrences = list(occurrences)
        scrubbed = self.scrubber.scrub_many(text for text, _ in occurrences)
        for text, n in occurrences:
            for rule, c in scrubbed[text][1].items():
                self.stats[rule] += c * n
        return {text: out for text, (out, _) in scrubbed.items()}

    def path(self, series: pd.Series) -> pd.Series:
        codes, values = distinct(series)
        self.stats["path"] += int((codes >= 0).sum())
        return _spread(codes, [generalize_path(v) for v in values], "**", series.index)

    def agent(self, series: pd.Series) -> pd.Series:
        codes, values = distinct(series)
        return _spread(codes, [self._agent(v) for v in values], "unknown", series.index)

    def _agent(self, agent_id: str) -> str:
        """A framework agent id as it is; an id with a role and a user or host name (`implementer-alice`)
        generalized to the role; anything else (command text with paths, say) pseudonymized."""
        if agent_id in AGENT_IDS:
            return agent_id
        tokens = re.split(r"[@._\-\s/:\\]+", agent_id.lower())
        role = next((t for t in tokens if t in ROLES), None)
        if role is None:
            self.stats["ids_pseudonymized"] += 1
            return self.pseudonymize("agent", agent_id)
        self.stats["agent_ids_generalized"] += 1
        return role

    def category(self, series: pd.Series, allowed: Iterable[str], missing: str = OTHER) -> pd.Series:
        """An enumeration: its values as they are, anything else `other`, a missing value `missing`."""
        allowed = set(allowed)
        codes, values = distinct(series)
        values = [v if v in allowed else OTHER for v in values]
        self.stats["values_generalized"] += int(np.isin(codes, [i for i, v in enumerate(values) if v == OTHER]).sum())
        return _spread(codes, values, missing, series.index)

    def name(self, series: pd.Series, allowed: frozenset[str], kind: str = "name") -> pd.Series:
        """A name column: the framework's names as they are, any other name a keyed pseudonym."""
        codes, names = distinct(series)
        values = []
        for v in map(str, names):
            if v in allowed:
                values.append(v)
            else:
                self.stats["ids_pseudonymized"] += 1
                values.append(self.pseudonymize(kind, v))
        return _spread(codes, values, UNKNOWN, series.index)

    def day(self, series: pd.Series) -> pd.Series:
        return series.dt.floor("D")

    def per_distinct(self, series: pd.Series, fn) -> pd.Series:
        """Apply `fn` once per distinct value; the stats it records count once per occurrence."""
        outer, mapping = self.stats, {}
        try:
            counts = series.value_counts(dropna=True)  # most frequent first
            for value, n in zip(distinct(counts.index.to_series())[1], counts.tolist()):
                self.stats = outer if n == 1 else Counter()  # a single occurrence counts as it goes
                mapping[value] = fn(value)
                if n > 1:
                    for rule, c in self.stats.items():
                        outer[rule] += c * int(n)
        finally:
            self.stats = outer
        codes, values = distinct(series)
        return _spread(codes, [mapping[v] for v in values], None, series.index)

    def mapping_json(self, series: pd.Series, keys: frozenset[str] = ALLOWED_KEYS) -> pd.Series:
        docs = {s: json.loads(s) for s in distinct(series)[1]}
        self.scrubber.scrub_many(s for doc in docs.values() for s in free_text(doc, keys))
        return self.per_distinct(series, lambda s: SORTED_JSON.encode(self._allow(docs[s], keys, 0)))

    def scores_json(self, series: pd.Series, keys: frozenset[str] | None = SCORE_KEYS) -> pd.Series:
        """Numeric scores only, under known names (or, with keys=None, under short lowercase names)."""
        def allowed(k: str) -> bool:
            return k in keys if keys is not None else bool(SLUG.match(k)) and self.scrubber.scrub(k)[0] == k

        def clean(s: str) -> str:
            obj = json.loads(s)
            kept = {k: float(v) for k, v in obj.items()
                    if allowed(k) and isinstance(v, (int, float)) and not isinstance(v, bool)}
            self.stats["context_keys_dropped"] += len(obj) - len(kept)
            return SORTED_JSON.encode(kept)
        return self.per_distinct(series, clean)

    def _allow(self, value, keys: frozenset[str], depth: int, key: str | None = None):
        if isinstance(value, str):  # the common case first
            if key in PATH_KEYS:
                self.stats["path"] += 1
                return generalize_path(value)
            clean, counts = self.scrubber.scrub(value)
            if counts:
                self.stats.update(counts)
            return clean
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                self.stats["context_keys_dropped"] += len(value)
                return {}
            out = {}
            for k, v in value.items():
                if k in keys:
                    out[k] = self._allow(v, keys, depth + 1, k)
                else:
                    self.stats["context_keys_dropped"] += 1
            return out
        if isinstance(value, list):
            return [self._allow(v, keys, depth + 1, key) for v in value[:50]]
        if isinstance(value, (bool, int, float)) or value is None:
            return value
        return None

    def experts(self, series: pd.Series) -> pd.Series:
        lists = _lists(series)
        items = pc.list_flatten(lists)
        names = sorted(set(items.to_pylist()))
        mapped = dict(zip(names, self.name(pd.Series(names, dtype=TEXT), EXPERTS, "expert")))
        return _with_items(lists, _each_distinct(items, mapped.__getitem__), series.index)

def free_text(value, keys: frozenset[str], depth: int = 0, key: str | None = None):
    """The strings `Anonymizer._allow` scrubs in a decoded JSON value, for scrubbing them in one batch.

    Only a prefetch: a string missed here is still scrubbed, one at a time, when `_allow` reaches it.
    """
    if isinstance(value, dict):
        if depth < MAX_DEPTH:
            for k, v in value.items():
                if k in keys:
                    yield from free_text(v, keys, depth + 1, k)
    elif isinstance(value, list):
        for v in value[:50]:
            yield from free_text(v, keys, depth + 1, key)
    elif isinstance(value, str) and key not in PATH_KEYS:
        yield value


def json_doc_strings(doc: str) -> list[str] | None:
    """Every string of a JSON document, keys included (for learning names from it); None when it is not JSON."""
    try:
        value = json.loads(doc)
    except ValueError:
        return None
    out: list[str] = [value] if isinstance(value, str) else []
    if isinstance(value, (dict, list)):
        _collect_strings(value, out)
    return out


def _collect_strings(value: dict | list, out: list[str]) -> None:
    """Appends the strings of a dict or list; string leaves inline, as they are most of a document."""
    if isinstance(value, dict):
        out.extend(map(str, value))
        value = value.values()
    for v in value:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, (dict, list)):
            _collect_strings(v, out)


def anonymize_table(table: str, raw: pd.DataFrame, anon: Anonymizer) -> pd.DataFrame:
    """Anonymize one raw table. No row is dropped: every row belongs to the one project, so group sizes
    inside an export protect nobody; k counts projects where submissions are pooled."""
    return conform(TRANSFORMS[table](raw, anon).reset_index(drop=True), ANONYMIZED[table])


def _capabilities(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "capability_id": a.ids(df["capability_id"], "cap"),
        "agent_id": a.agent(df["agent_id"]),
        # map, not .str.partition: that has no column 2 when the table is empty (no capabilities file)
        "capability_type": a.name(df["capability_id"].map(lambda c: c.partition(".")[2]).astype(object),
                                  CAPABILITY_TYPES),
        "success_rate": df["success_rate"],
        "average_duration": df["average_duration"],
        "quality_score": df["quality_score"],
        "usage_count": df["usage_count"],
        "last_improved": a.day(df["last_improved"]),
        "refinement_count": df["refinement_count"],
    })


def _refinements(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    out = df.copy()
    out["capability_id"] = a.ids(df["capability_id"], "cap")
    out["timestamp"] = a.day(df["timestamp"])
    out["improvement_type"] = a.category(df["improvement_type"], IMPROVEMENT_TYPES)
    out["learned_patterns"] = a.id_lists(df["learned_patterns"], "pat")
    out["metadata"] = a.mapping_json(df["metadata"])
    return out


def _task_memories(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "task_id": a.ids(df["task_id"], "task"),
        "agent_id": a.agent(df["agent_id"]),
        "command": a.name(df["command"].str.lstrip("*"), COMMANDS),
        "timestamp": a.day(df["timestamp"]),
        "outcome": a.category(df["outcome"], OUTCOMES),
        "quality_score": df["quality_score"],
        "key_learnings": a.text_lists(df["key_learnings"]),
        "patterns_used": a.id_lists(df["patterns_used"], "pat"),
        "similar_tasks": a.id_lists(df["similar_tasks"], "task"),
        "context": a.mapping_json(df["context"]),
        "metadata": a.mapping_json(df["metadata"]),
    })


def _patterns(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    code = df["code_snippet"].fillna("")
    a.stats["code.snippet_removed"] += int((code != "").sum())
    return pd.DataFrame({
        "pattern_id": a.ids(df["pattern_id"], "pat"),
        "pattern_type": a.category(df["pattern_type"], PATTERN_TYPES),
        "code_lines": code.map(lambda c: c.count("\n") + 1 if c else 0).astype("Int64"),
        "context": a.text(df["context"]),
        "quality_score": df["quality_score"],
        "usage_count": df["usage_count"],
        "success_rate": df["success_rate"],
        "learned_from": a.id_lists(df["learned_from"], "task"),
        "metadata": a.mapping_json(df["metadata"]),
        "security_score": df["security_score"],
        "is_anti_pattern": df["is_anti_pattern"],
        "failure_reasons": a.text_lists(df["failure_reasons"]),
        "rejection_count": df["rejection_count"],
    })


def _code_outcomes(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "workflow_id": a.ids(df["workflow_id"].fillna("unknown"), "wf"),
        "file_pattern": a.path(df["file_path"]),
        "initial_scores": a.scores_json(df["initial_scores"]),
        "final_scores": a.scores_json(df["final_scores"]),
        "iterations": df["iterations"],
        "expert_consultations": a.experts(df["expert_consultations"]),
        "time_to_correctness": df["time_to_correctness"],
        "first_pass_success": df["first_pass_success"],
        "timestamp": a.day(df["timestamp"]),
        "agent_id": a.agent(df["agent_id"]),
        "prompt_hash": a.ids(df["prompt_hash"], "prompt"),
    })


def _dated(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with a timestamp (the frame itself when all have one)."""
    dated = df["timestamp"].notna()
    return df if dated.all() else df[dated]


def _agent_executions(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    df = _dated(df)
    return pd.DataFrame({
        "agent_id": a.agent(df["agent_id"]),
        "agent_name": a.name(df["agent_name"], AGENT_NAMES, "agent"),
        "duration": df["duration"],
        "success": df["success"],
        "timestamp": a.day(df["timestamp"]),
    })


def _workflow_executions(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    df = _dated(df)
    return pd.DataFrame({
        "workflow_id": a.ids(df["workflow_id"].fillna("unknown"), "wf"),
        "workflow_name": a.name(df["workflow_name"], WORKFLOW_NAMES),
        "duration": df["duration"],
        "steps": df["steps"],
        "success": df["success"],
        "timestamp": a.day(df["timestamp"]),
    })


def _expert_performance(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "expert_id": a.name(df["expert_id"], EXPERTS, "expert"),
        "domain": a.name(df["domain"], DOMAINS),
        "confidence": df["confidence"],
        "query": a.text(df["query"]),
        "timestamp": a.day(df["timestamp"]),
    })


def _confidence_metrics(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "timestamp": a.day(df["timestamp"]),
        "agent_id": a.agent(df["agent_id"]),
        "domain": a.name(df["domain"], DOMAINS),
        "confidence": df["confidence"],
        "threshold": df["threshold"],
        "meets_threshold": df["meets_threshold"],
        "agreement_level": df["agreement_level"],
        "num_experts": df["num_experts"],
        "primary_expert": a.name(df["primary_expert"], EXPERTS, "expert"),
        "query_preview": a.text(df["query_preview"]),
    })


def _feedback(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "feedback_id": a.ids(df["feedback_id"], "fb"),
        "agent_id": a.agent(df["agent_id"]),
        "command": a.name(df["command"].str.lstrip("*"), COMMANDS),
        "accepted": df["accepted"],
        "feedback_text": a.text(df["feedback_text"]),
        "suggestions": a.text_lists(df["suggestions"]),
        "ratings": a.scores_json(df["ratings"], keys=None),
        "quality_score": df["quality_score"],
        "execution_time_seconds": df["execution_time_seconds"],
        "code_lines_processed": df["code_lines_processed"],
        "timestamp": a.day(df["timestamp"]),
        "metadata": a.mapping_json(df["metadata"]),
    })


def _step_executions(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "execution_id": a.ids(df["execution_id"], "exec"),
        "workflow_id": a.ids(df["workflow_id"], "wf"),
        "step_id": a.name(df["step_id"], STEP_IDS),
        "command": a.name(df["command"].str.lstrip("*"), COMMANDS),
        "status": a.category(df["status"], STATUSES, UNKNOWN),
        "duration_ms": df["duration_ms"],
        "timestamp": a.day(df["timestamp"]),
        "retry_count": df["retry_count"],
        "error_message": a.text(df["error_message"]),
        "skill": a.name(df["skill"], SKILLS),
        "gate_pass": df["gate_pass"],
    })


def _learned_prompts(df: pd.DataFrame, a: Anonymizer) -> pd.DataFrame:
    return pd.DataFrame({
        "prompt_type": a.category(df["prompt_type"], PROMPT_TYPES, UNKNOWN),
        "agent_id": a.agent(df["agent_id"]),
        "timestamp": a.day(df["timestamp"]),
        "has_parent": df["has_parent"],
        "prompt_chars": df["prompt_chars"],
        "examples": df["examples"],
    })


TRANSFORMS = {
    "capabilities": _capabilities,
    "capability_refinements": _refinements,
    "task_memories": _task_memories,
    "patterns": _patterns,
    "code_outcomes": _code_outcomes,
    "agent_executions": _agent_executions,
    "workflow_executions": _workflow_executions,
    "expert_performance": _expert_performance,
    "confidence_metrics": _confidence_metrics,
    "feedback": _feedback,
    "step_executions": _step_executions,
    "learned_prompts": _learned_prompts,
}
