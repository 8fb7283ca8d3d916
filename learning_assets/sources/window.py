"""`--since/--until`: a day window applied to the time-based tables of an export.

The filter runs on the anonymized tables, i.e. on timestamps already rounded to the UTC day. Tables of
events are filtered; capabilities, patterns and learned prompts are exported whole.
"""

from __future__ import annotations

import re
from datetime import date

from learning_assets.errors import UserError

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidWindow(UserError, ValueError):
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
