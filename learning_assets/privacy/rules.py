"""The anonymization rules a table spec gives its columns; `anonymize.Anonymizer` applies them.

A rule names what a column holds (an id, a framework name, free text, a path...) and so how it may leave
the machine. A string column needs a rule: `tables.spec.TableSpec` refuses a spec that would pass one
through as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

Prepare = Callable[[pd.Series], pd.Series]
# Values for a name that is not the framework's (`other`) or that is missing (`unknown`).
OTHER, UNKNOWN = "other", "unknown"
# The framework's agent roles: an agent id that carries one (`implementer-alice`) is reduced to it.
ROLES = ("analyst", "architect", "debugger", "designer", "documenter", "enhancer", "evaluator",
         "implementer", "improver", "ops", "orchestrator", "planner", "reviewer", "tester")

# What a rule did to one value (`Rule.change`), in the words the preview shows.
PSEUDONYM = "pseudonym"
PATH_PATTERN = "path pattern"
GENERALIZED = "generalized to `other`"
NOT_ALLOWED = "token not on the allow-list"
ROLE = "generalized to the agent role"
DAY = "rounded to the UTC day"
KEYS_DROPPED = "keys dropped"
CODE_REMOVED = "code removed, line count kept"
MISSING = "missing"
NORMALIZED = "normalized"
CHANGED = "changed"
# The allow-list's own placeholders: a token it did not allow (`allowlist.AllowList`).
ALLOWLIST_PLACEHOLDERS = frozenset({"<WORD>", "<NAME>", "<ID>"})
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*>")
_PSEUDONYM = re.compile(r"\b[a-z]+_[0-9a-f]{16}\b")
_GLOB = re.compile(r"\*\*|\*\.[A-Za-z0-9]+")


def placeholder_change(placeholder: str) -> str:
    """The change a placeholder stands for: a token not on the allow-list, or a detector's typed placeholder."""
    return NOT_ALLOWED if placeholder in ALLOWLIST_PLACEHOLDERS else f"placeholder {placeholder}"


def text_changes(before: str | None, after: str | None) -> tuple[str, ...]:
    """What scrubbing made of a text, read from the result: placeholders by type, pseudonyms, path patterns."""
    if before == after or after is None:
        return ()
    found: dict[str, None] = {}
    for placeholder in _PLACEHOLDER.findall(after):
        if placeholder not in (before or ""):
            found[placeholder_change(placeholder)] = None
    if any(token not in (before or "") for token in _PSEUDONYM.findall(after)):
        found[PSEUDONYM] = None
    if any(glob not in (before or "") for glob in _GLOB.findall(after)):
        found[PATH_PATTERN] = None
    return tuple(found) or (NORMALIZED,)


def _missing(value) -> bool:
    return value is None or (not isinstance(value, (str, list, tuple, dict)) and bool(pd.isna(value)))


@dataclass(frozen=True)
class Rule:
    """How one anonymized column is made: from raw column `source` (default: the same name), after `prepare`."""

    source: str | None = None
    prepare: Prepare | None = None

    def column(self, name: str, raw: pd.DataFrame) -> pd.Series:
        series = raw[self.source or name]
        return self.prepare(series) if self.prepare is not None else series

    # The kind of pseudonym this rule may give a column's values (None: it gives none), so that the owner's
    # own views can map the pseudonyms back on the owner's machine.
    pseudonym_kind: ClassVar[str | None] = None

    def change(self, before, after) -> tuple[str, ...]:
        """What this rule did to one value (`before` as the rule reads it, after `prepare`; `after` as it
        is exported): the kinds of change, none when the value passed as it is."""
        if _missing(before) and _missing(after):
            return ()
        return () if before == after else (CHANGED,)


@dataclass(frozen=True)
class Keep(Rule):
    """A number, flag or count: exported as it is."""

    def change(self, before, after) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class Pseudonym(Rule):
    """An identifier: a keyed pseudonym `<kind>_<16 hex>`."""

    kind: str = "name"

    @property
    def pseudonym_kind(self) -> str:
        return self.kind

    def change(self, before, after) -> tuple[str, ...]:
        return () if _missing(before) else (PSEUDONYM,)


@dataclass(frozen=True)
class Pseudonyms(Rule):
    """A list of identifiers: each a keyed pseudonym."""

    kind: str = "name"

    @property
    def pseudonym_kind(self) -> str:
        return self.kind

    def change(self, before, after) -> tuple[str, ...]:
        return (PSEUDONYM,) if not _missing(before) and len(before) else ()


@dataclass(frozen=True)
class FrameworkName(Rule):
    """A name from the framework's vocabulary (`vocabulary` lists its kinds) as it is; any other name a keyed
    pseudonym of `kind`; a missing one `unknown`."""

    vocabulary: tuple[str, ...] = ()
    kind: str = "name"

    @property
    def pseudonym_kind(self) -> str:
        return self.kind

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before):
            return (MISSING,)
        return () if before == after else (PSEUDONYM,)


@dataclass(frozen=True)
class Category(Rule):
    """A closed set of values: each as it is, anything else `other`, a missing value `missing`.

    `values` lists them, or `vocabulary` names the framework's lists that hold them."""

    values: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    missing: str = OTHER

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before):
            return (MISSING,)
        return () if before == after else (GENERALIZED,)


@dataclass(frozen=True)
class Agent(Rule):
    """An agent id: the framework's as it is, one carrying a role and a user or host reduced to the role,
    anything else a keyed pseudonym."""

    pseudonym_kind: ClassVar[str | None] = "agent"

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before):
            return (MISSING,)
        if before == after:
            return ()
        return (ROLE,) if after in ROLES else (PSEUDONYM,)


@dataclass(frozen=True)
class Experts(Rule):
    """A list of expert names: the framework's as they are, others keyed pseudonyms."""

    pseudonym_kind: ClassVar[str | None] = "expert"

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before):
            return ()
        return () if list(before) == list(after) else (PSEUDONYM,)


@dataclass(frozen=True)
class Text(Rule):
    """Free text: scrubbed, and then only allowed words, placeholders and pseudonyms remain."""

    def change(self, before, after) -> tuple[str, ...]:
        return () if _missing(before) else text_changes(str(before), None if _missing(after) else str(after))


@dataclass(frozen=True)
class Texts(Rule):
    """A list of free texts, each scrubbed as `Text`."""

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before):
            return ()
        found: dict[str, None] = {}
        for b, a in zip(before, after if not _missing(after) else []):
            found.update(dict.fromkeys(text_changes(b, a)))
        return tuple(found)


@dataclass(frozen=True)
class FilePattern(Rule):
    """A file path: generalized to a pattern such as `src/**/*.py`."""

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before):
            return ()
        return () if before == after else (PATH_PATTERN,)


@dataclass(frozen=True)
class Day(Rule):
    """A timestamp: rounded down to its UTC day."""

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before):
            return ()
        return () if before == after else (DAY,)


@dataclass(frozen=True)
class Mapping(Rule):
    """A JSON object: only known keys kept, their text scrubbed and paths generalized."""

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before) or before == after:
            return ()
        found = dict.fromkeys(() if _key_count(after) >= _key_count(before) else (KEYS_DROPPED,))
        found.update(dict.fromkeys(c for c in text_changes(before, after) if c != NORMALIZED))
        return tuple(found) or (NORMALIZED,)


@dataclass(frozen=True)
class Scores(Rule):
    """A JSON object of numbers: only numeric values under known score names (`any_name`: under short
    lowercase names the scrubber leaves alone) kept."""

    any_name: bool = False

    def change(self, before, after) -> tuple[str, ...]:
        if _missing(before) or _key_count(before) == _key_count(after):
            return ()
        return (KEYS_DROPPED,)


@dataclass(frozen=True)
class LineCount(Rule):
    """Code: never exported; only its number of lines is."""

    def change(self, before, after) -> tuple[str, ...]:
        return (CODE_REMOVED,) if not _missing(before) and before else ()


def _key_count(doc: str | None) -> int:
    """Keys of a JSON object at any depth (0 when it is not one)."""
    try:
        value = json.loads(doc) if isinstance(doc, str) else doc
    except ValueError:
        return 0

    def count(v) -> int:
        if isinstance(v, dict):
            return len(v) + sum(count(x) for x in v.values())
        if isinstance(v, list):
            return sum(count(x) for x in v)
        return 0
    return count(value)
