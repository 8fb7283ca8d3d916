"""`--since/--until`: a day window applied to the time-based tables of an export.

The filter runs on the anonymized tables, i.e. on timestamps already rounded to the UTC day. Tables of
events are filtered; capabilities, patterns and learned prompts are exported whole.
"""

from __future__ import annotations

import re
from datetime import date

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidWindow(ValueError):
    pass


def parse_day(value: str | None, option: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        if not DAY.fullmatch(str(value)):
            raise ValueError
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidWindow(f"{option} {value!r}: expected a date as YYYY-MM-DD") from None


def validate(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    if start and end and start > end:
        raise InvalidWindow(f"--since {start} is after --until {end}")
    return start, end


def time_based(table: str, df) -> bool:
    """Tables of events (a `timestamp` per row); capabilities, patterns and learned prompts are exported whole."""
    return "timestamp" in df.columns and table not in ("capabilities", "patterns", "learned_prompts")


def filter_tables(tables: dict, since: str | None, until: str | None) -> tuple[dict, dict[str, int]]:
    """Tables with rows outside [since, until] (inclusive days, UTC) dropped; and rows dropped per table."""
    import pandas as pd

    start, end = validate(since, until)
    if start is None and end is None:
        return tables, {}
    out, dropped = {}, {}
    for name, df in tables.items():
        if not time_based(name, df):
            out[name] = df
            continue
        ts = pd.to_datetime(df["timestamp"], utc=True)
        keep = ts.notna()
        if start is not None:
            keep &= ts >= pd.Timestamp(start, tz="UTC")
        if end is not None:
            keep &= ts < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
        out[name] = df[keep].reset_index(drop=True)
        dropped[name] = int((~keep).sum())
    return out, dropped
