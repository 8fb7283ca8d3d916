"""Coercing one field of a source record: a value of the wrong type, size or range is a damaged record.

Each function raises `BadRecord` (the record is skipped, with the reason) or returns the value or None.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone, tzinfo

# Limits on one value: longer ones are skipped (recorded), because free text is scrubbed and the
# scrubber's patterns slow down sharply on long runs without spaces (base64 blobs, minified code).
MAX_TEXT_CHARS = 64 * 1024
MAX_TOKEN_CHARS = 1024
MAX_LIST_ITEMS = 1000
INT64_MAX = 2**63 - 1


class BadRecord(ValueError):
    """A record that cannot be used; its message is the reason recorded in the skip list."""


# What parsing one damaged record may raise; it is skipped with the message as the reason.
RECORD_ERRORS = (BadRecord, ValueError, TypeError, OverflowError, RecursionError, UnicodeError)


# Reused encoders: the same output as json.dumps(..., sort_keys=True[, default=str]) without building one per call.
_dump_sorted = json.JSONEncoder(sort_keys=True).encode
_dump_object = json.JSONEncoder(sort_keys=True, default=str).encode


def number(rec: dict, key: str) -> float | None:
    v = rec.get(key)
    if v is None:
        return None
    if type(v) is float:  # the common case: finite stays, NaN and infinities become missing
        return v if v - v == 0 else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRecord(f"field {key!r}: expected a number, got {type(v).__name__}")
    if v != v or v in (float("inf"), float("-inf")):
        return None
    try:
        return float(v)
    except OverflowError:
        raise BadRecord(f"field {key!r}: number out of range") from None


def integer(rec: dict, key: str) -> int | None:
    v = number(rec, key)
    if v is not None and abs(v) > INT64_MAX:
        raise BadRecord(f"field {key!r}: integer out of range")
    return None if v is None else int(v)


def checked_text(key: str, v: str, limits: bool = True) -> str:
    """A text value within the limits (unless `limits` is off), valid Unicode; else BadRecord saying why."""
    if limits and len(v) > MAX_TEXT_CHARS:
        raise BadRecord(f"field {key!r}: {len(v)} characters, more than {MAX_TEXT_CHARS}")
    if limits and len(v) > MAX_TOKEN_CHARS and max(map(len, v.split()), default=0) > MAX_TOKEN_CHARS:
        raise BadRecord(f"field {key!r}: more than {MAX_TOKEN_CHARS} characters without a space")
    if v.isascii():
        return v
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRecord(f"field {key!r}: not valid Unicode (a lone surrogate)") from None
    return v


def text(rec: dict, key: str, limits: bool = True) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if type(v) is str:
        return v if len(v) <= MAX_TOKEN_CHARS and v.isascii() else checked_text(key, v, limits)
    if isinstance(v, (dict, list)):
        raise BadRecord(f"field {key!r}: expected text, got {type(v).__name__}")
    return checked_text(key, str(v), limits)


def required_text(rec: dict, key: str) -> str:
    v = text(rec, key)
    if not v:
        raise BadRecord(f"field {key!r} is missing")
    return v


def boolean(rec: dict, key: str) -> bool | None:
    v = rec.get(key)
    if v is None or isinstance(v, bool):
        return v
    raise BadRecord(f"field {key!r}: expected true/false, got {type(v).__name__}")


def texts(rec: dict, key: str) -> list[str]:
    v = rec.get(key)
    if v is None:
        return []
    if isinstance(v, str):
        return [checked_text(key, v)]
    if not isinstance(v, list):
        raise BadRecord(f"field {key!r}: expected a list, got {type(v).__name__}")
    if len(v) > MAX_LIST_ITEMS:
        raise BadRecord(f"field {key!r}: {len(v)} items, more than {MAX_LIST_ITEMS}")
    # Short ASCII text (most of it) passes `checked_text` unchanged: skip the call.
    return [x if type(x) is str and len(x) <= MAX_TOKEN_CHARS and x.isascii()
            else checked_text(key, x if type(x) is str else _dump_sorted(x) if isinstance(x, (dict, list)) else str(x))
            for x in v if x is not None]


def json_text(rec: dict, key: str) -> str:
    v = rec.get(key)
    if v is None or v == {}:
        return "{}"
    if isinstance(v, str):
        v = {"text": v}
    elif not isinstance(v, dict):
        raise BadRecord(f"field {key!r}: expected an object, got {type(v).__name__}")
    try:
        return checked_text(key, _dump_object(v))
    except RecursionError:
        raise BadRecord(f"field {key!r}: too deeply nested") from None


MIN_TS = datetime(1990, 1, 1, tzinfo=timezone.utc)


MAX_TS = datetime(2200, 1, 1, tzinfo=timezone.utc)


def parse_timestamp(value, naive_tz: tzinfo = timezone.utc) -> datetime | None:
    """ISO 8601 (with `Z`, an offset, or naive, read in `naive_tz`) to an aware UTC datetime."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRecord(f"timestamp: expected ISO 8601 text, got {type(value).__name__}")
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRecord(f"timestamp: not ISO 8601: {value[:40]!r}") from None
    try:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=naive_tz)
        ts = ts.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # e.g. year 1 at +01:00 is before datetime.min in UTC
        raise BadRecord(f"timestamp out of range: {value[:40]!r}") from None
    if not MIN_TS <= ts < MAX_TS:
        raise BadRecord(f"timestamp out of range: {value[:40]!r}")
    return ts
