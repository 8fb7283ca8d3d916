"""The owner's own names: the export's keyed pseudonyms mapped back, on the owner's machine.

Every rule that gives pseudonyms says of which kind (`Rule.pseudonym_kind`), so the names are found the
same way for every table: each distinct source value of such a column, pseudonymized under the
installation's key, is the pseudonym the export holds for it. Nothing here is written anywhere; the
mapping lives only as long as the view that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from learning_assets.sources.frames import TEXT, TEXT_LIST, arrow_values, distinct
from learning_assets.tables import SPECS

# The tables whose names the owner's dashboard shows (capabilities, agents, workflows, steps, patterns).
NAME_TABLES = ("capabilities", "capability_refinements", "agent_executions", "workflow_executions",
               "step_executions", "patterns")
PSEUDONYM = re.compile(r"\b[a-z]+_[0-9a-f]{16}\b")


@dataclass
class Names:
    """pseudonym -> the source value it stands for."""

    names: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def show(self, value):
        """A value with every pseudonym in it replaced by its name (other values as they are)."""
        if not isinstance(value, str) or not self.names:
            return value
        found = self.names.get(value)
        if found is not None:
            return found
        return PSEUDONYM.sub(lambda m: self.names.get(m.group(0), m.group(0)), value) if "_" in value else value

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """`df` with the pseudonyms in its text and text-list columns replaced by names (once per distinct text)."""
        if not self.names:
            return df
        out, seen = df.copy(), {}

        def one(value):
            if isinstance(value, str):
                if value not in seen:
                    seen[value] = self.show(value)
                return seen[value]
            if isinstance(value, (list, tuple, np.ndarray)):
                return [one(v) for v in value]
            return value

        for column in df.columns:
            series = df[column]
            if series.dtype == object or isinstance(series.dtype, pd.StringDtype) or series.dtype in (TEXT, TEXT_LIST):
                out[column] = pd.Series([one(v) for v in series.tolist()], index=series.index, dtype=object)
        return out


def owner_names(raw_tables: dict[str, pd.DataFrame], pseudonymize: Callable[[str, str], str]) -> Names:
    """The names behind the pseudonyms an export of these raw tables holds, under `pseudonymize`'s key."""
    names: dict[str, str] = {}
    for table, raw in raw_tables.items():
        for column, rule in SPECS[table].rules.items():
            kind = rule.pseudonym_kind
            if kind is None:
                continue
            series = rule.column(column, raw)
            if series.dtype == TEXT_LIST:
                values = pc.unique(pc.list_flatten(arrow_values(series))).drop_null().to_pylist()
            else:
                values = distinct(series)[1]
            for value in values:
                if value is not None:
                    names.setdefault(pseudonymize(kind, str(value)), str(value))
    return Names(names)
