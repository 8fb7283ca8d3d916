"""Coercing the values of a schema 1.0 document (the framework's own exporter) for `learning migrate`.

A value that is not what 1.x promises (a rate outside 0..1, a count that is not a whole number) becomes
null or is left out, never an error: 1.0 documents were written by many framework versions.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any


def number(value: Any, lo: float | None = None, hi: float | None = None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    if value in (float("inf"), float("-inf")):
        return None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None
    return float(value)


def count(value: Any) -> int | None:
    n = number(value, 0)
    return int(n) if n is not None and n == int(n) else None


def day(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc)
    return ts.date().isoformat()


def mean(values: list[float | None], digits: int = 4) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), digits) if vals else None


def counts_by(value: Any, allowed: tuple[str, ...]) -> dict[str, int]:
    """Counts per key, keys outside `allowed` summed under `other`."""
    out: Counter = Counter()
    if isinstance(value, dict):
        for key, n in value.items():
            c = count(n)
            if c:
                out[key if key in allowed else "other"] += c
    return dict(sorted(out.items()))


def sum_counts(records: Any, *keys: str) -> int:
    """The sum over `records` of the first of `keys` each holds as a count."""
    total = 0
    for rec in records if isinstance(records, list) else []:
        if isinstance(rec, dict):
            total += next((c for k in keys if (c := count(rec.get(k))) is not None), 0)
    return total
