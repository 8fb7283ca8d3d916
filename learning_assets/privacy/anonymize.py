"""Applies a table's anonymization rules (`privacy.rules`, given by its spec in `tables/`) and counts
every replacement.

All rules are always applied; there is no switch to turn any of them off.
"""

from __future__ import annotations

import functools
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
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.rules import (
    OTHER,
    ROLES,
    UNKNOWN,
    Agent,
    Category,
    Day,
    Experts,
    FilePattern,
    FrameworkName,
    Keep,
    LineCount,
    Mapping,
    Pseudonym,
    Pseudonyms,
    Rule,
    Scores,
    Text,
    Texts,
)
from learning_assets.privacy.scrub import Scrubber
from learning_assets.privacy.vocabulary import framework_names
from learning_assets.sources.frames import TEXT, TEXT_LIST, arrow_values, distinct

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

AGENT_IDS = framework_names("agent_ids")
EXPERTS = framework_names("expert_ids", "expert_id_aliases")


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
    """`fn` of the list of distinct items (one output each), taken back to every item."""
    encoded = pc.dictionary_encode(items, null_encoding="encode")
    return pa.array(fn(encoded.dictionary.to_pylist()), pa.string()).take(encoded.indices)


@dataclass
class Anonymizer:
    """Applies the rules to one table at a time and counts every replacement."""

    pseudonymize: Pseudonymizer
    scrubber: Scrubber
    stats: Counter = field(default_factory=Counter)

    # --- column helpers ---------------------------------------------------------------------

    def ids(self, series: pd.Series, kind: str) -> pd.Series:
        codes, values = distinct(series)
        self.stats["ids_pseudonymized"] += int((codes >= 0).sum())
        return _spread(codes, self.pseudonymize.many(kind, values), None, series.index)

    def id_lists(self, series: pd.Series, kind: str) -> pd.Series:
        lists = _lists(series)
        items = pc.list_flatten(lists)
        self.stats["ids_pseudonymized"] += len(items)
        return _with_items(lists, _each_distinct(items, functools.partial(self.pseudonymize.many, kind)), series.index)

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
        return _with_items(lists, _each_distinct(items, lambda texts: [scrubbed[t] for t in texts]), series.index)

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
        codes, values = distinct(series)
        return self._per_distinct(codes, values, fn, series.index)

    def _per_distinct(self, codes: np.ndarray, values: list, fn, index: pd.Index) -> pd.Series:
        """`per_distinct` of a column already factorized: `fn` of each of `values`, spread over `codes`."""
        outer, out = self.stats, []
        try:
            for value, n in zip(values, np.bincount(codes[codes >= 0], minlength=len(values)).tolist()):
                self.stats = outer if n == 1 else Counter()  # a single occurrence counts as it goes
                out.append(fn(value))
                if n > 1:
                    for rule, c in self.stats.items():
                        outer[rule] += c * n
        finally:
            self.stats = outer
        return _spread(codes, out, None, index)

    def mapping_json(self, series: pd.Series, keys: frozenset[str] = ALLOWED_KEYS) -> pd.Series:
        codes, texts = distinct(series)
        docs = [json.loads(s) for s in texts]
        self.scrubber.scrub_many(s for doc in docs for s in free_text(doc, keys))
        return self._per_distinct(codes, docs, lambda doc: SORTED_JSON.encode(self._allow(doc, keys, 0)), series.index)

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
        if isinstance(value, str):
            return self._allow_text(value, key)
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                self.stats["context_keys_dropped"] += len(value)
                return {}
            out = {}
            for k, v in value.items():
                if k not in keys:
                    self.stats["context_keys_dropped"] += 1
                elif isinstance(v, str):  # most values: no call of `_allow` for them
                    out[k] = self._allow_text(v, k)
                else:
                    out[k] = self._allow(v, keys, depth + 1, k)
            return out
        if isinstance(value, list):
            return [self._allow(v, keys, depth + 1, key) for v in value[:50]]
        if isinstance(value, (bool, int, float)) or value is None:
            return value
        return None

    def _allow_text(self, value: str, key: str | None) -> str:
        if key in PATH_KEYS:
            self.stats["path"] += 1
            return generalize_path(value)
        clean, counts = self.scrubber.scrub(value)
        if counts:
            self.stats.update(counts)
        return clean

    def experts(self, series: pd.Series) -> pd.Series:
        lists = _lists(series)
        items = pc.list_flatten(lists)
        names = sorted(set(items.to_pylist()))
        mapped = dict(zip(names, self.name(pd.Series(names, dtype=TEXT), EXPERTS, "expert")))
        return _with_items(lists, _each_distinct(items, lambda names: [mapped[n] for n in names]), series.index)

    def line_counts(self, series: pd.Series) -> pd.Series:
        code = series.fillna("")
        self.stats["code.snippet_removed"] += int((code != "").sum())
        return code.map(lambda c: c.count("\n") + 1 if c else 0).astype("Int64")

    def apply(self, rule: Rule, series: pd.Series) -> pd.Series:
        """One column made by `rule` from its (prepared) raw column."""
        match rule:
            case Keep():
                return series
            case Pseudonym():
                return self.ids(series, rule.kind)
            case Pseudonyms():
                return self.id_lists(series, rule.kind)
            case FrameworkName():
                return self.name(series, framework_names(*rule.vocabulary), rule.kind)
            case Category():
                return self.category(series, rule.values or framework_names(*rule.vocabulary), rule.missing)
            case Agent():
                return self.agent(series)
            case Experts():
                return self.experts(series)
            case Text():
                return self.text(series)
            case Texts():
                return self.text_lists(series)
            case FilePattern():
                return self.path(series)
            case Day():
                return self.day(series)
            case Mapping():
                return self.mapping_json(series)
            case Scores():
                return self.scores_json(series, keys=None if rule.any_name else SCORE_KEYS)
            case LineCount():
                return self.line_counts(series)
        raise TypeError(f"no anonymization for rule {type(rule).__name__}")

    def frame(self, raw: pd.DataFrame, rules: dict[str, Rule], dated: str | None = None) -> pd.DataFrame:
        """The anonymized columns of one table, in `rules` order. No row is dropped (every row belongs to the
        one project, so group sizes inside an export protect nobody; k counts projects where submissions are
        pooled), except, with `dated`, rows whose `dated` column is missing."""
        if dated is not None and not raw[dated].notna().all():
            raw = raw[raw[dated].notna()]
        return pd.DataFrame({name: self.apply(rule, rule.column(name, raw)) for name, rule in rules.items()},
                            index=raw.index).reset_index(drop=True)


def free_text(value, keys: frozenset[str], depth: int = 0, key: str | None = None):
    """The strings `Anonymizer._allow` scrubs in a decoded JSON value, for scrubbing them in one batch.

    Only a prefetch: a string missed here is still scrubbed, one at a time, when `_allow` reaches it.
    """
    if isinstance(value, dict):
        if depth < MAX_DEPTH:
            for k, v in value.items():
                if k not in keys:
                    continue
                if isinstance(v, str):  # most values: no nested generator for them
                    if k not in PATH_KEYS:
                        yield v
                else:
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
