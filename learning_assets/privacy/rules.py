"""The anonymization rules a table spec gives its columns; `anonymize.Anonymizer` applies them.

A rule names what a column holds (an id, a framework name, free text, a path...) and so how it may leave
the machine. A string column needs a rule: `tables.spec.TableSpec` refuses a spec that would pass one
through as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

Prepare = Callable[[pd.Series], pd.Series]
# Values for a name that is not the framework's (`other`) or that is missing (`unknown`).
OTHER, UNKNOWN = "other", "unknown"
# The framework's agent roles: an agent id that carries one (`implementer-alice`) is reduced to it.
ROLES = ("analyst", "architect", "debugger", "designer", "documenter", "enhancer", "evaluator",
         "implementer", "improver", "ops", "orchestrator", "planner", "reviewer", "tester")


@dataclass(frozen=True)
class Rule:
    """How one anonymized column is made: from raw column `source` (default: the same name), after `prepare`."""

    source: str | None = None
    prepare: Prepare | None = None

    def column(self, name: str, raw: pd.DataFrame) -> pd.Series:
        series = raw[self.source or name]
        return self.prepare(series) if self.prepare is not None else series


@dataclass(frozen=True)
class Keep(Rule):
    """A number, flag or count: exported as it is."""


@dataclass(frozen=True)
class Pseudonym(Rule):
    """An identifier: a keyed pseudonym `<kind>_<16 hex>`."""

    kind: str = "name"


@dataclass(frozen=True)
class Pseudonyms(Rule):
    """A list of identifiers: each a keyed pseudonym."""

    kind: str = "name"


@dataclass(frozen=True)
class FrameworkName(Rule):
    """A name from the framework's vocabulary (`vocabulary` lists its kinds) as it is; any other name a keyed
    pseudonym of `kind`; a missing one `unknown`."""

    vocabulary: tuple[str, ...] = ()
    kind: str = "name"


@dataclass(frozen=True)
class Category(Rule):
    """A closed set of values: each as it is, anything else `other`, a missing value `missing`.

    `values` lists them, or `vocabulary` names the framework's lists that hold them."""

    values: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    missing: str = OTHER


@dataclass(frozen=True)
class Agent(Rule):
    """An agent id: the framework's as it is, one carrying a role and a user or host reduced to the role,
    anything else a keyed pseudonym."""


@dataclass(frozen=True)
class Experts(Rule):
    """A list of expert names: the framework's as they are, others keyed pseudonyms."""


@dataclass(frozen=True)
class Text(Rule):
    """Free text: scrubbed, and then only allowed words, placeholders and pseudonyms remain."""


@dataclass(frozen=True)
class Texts(Rule):
    """A list of free texts, each scrubbed as `Text`."""


@dataclass(frozen=True)
class FilePattern(Rule):
    """A file path: generalized to a pattern such as `src/**/*.py`."""


@dataclass(frozen=True)
class Day(Rule):
    """A timestamp: rounded down to its UTC day."""


@dataclass(frozen=True)
class Mapping(Rule):
    """A JSON object: only known keys kept, their text scrubbed and paths generalized."""


@dataclass(frozen=True)
class Scores(Rule):
    """A JSON object of numbers: only numeric values under known score names (`any_name`: under short
    lowercase names the scrubber leaves alone) kept."""

    any_name: bool = False


@dataclass(frozen=True)
class LineCount(Rule):
    """Code: never exported; only its number of lines is."""
