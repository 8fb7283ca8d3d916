"""JSON text from outside (sources, exports, packages): parsing it safely, and saying why it did not parse.

`json_error` says why text did not parse, and `wide_encoding` recognises text in UTF-16 or UTF-32.
"""

from __future__ import annotations

import json

# UTF-32 first: its little-endian mark starts with UTF-16's
_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"), (b"\xfe\xff", "UTF-16"),
         (b"\xff\xfe", "UTF-16"))


def json_error(exc: Exception, where: bool = False) -> str:
    """Why text did not parse as JSON, in words; `where` adds the line and column."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}" if where else exc.msg
    if isinstance(exc, RecursionError):
        return "too deeply nested"
    return str(exc).split(";")[0][:120]  # e.g. a number with more digits than Python converts


def wide_encoding(head: bytes) -> str | None:
    """"UTF-16" or "UTF-32" when JSON text that starts with `head` (its first 8 bytes) is in that encoding:
    by its byte-order mark, or without one by the NUL bytes that its first (ASCII) characters have."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if len(head) < 8:
        return None
    nul = [b == 0 for b in head[:8]]
    for name, width in (("UTF-32", 4), ("UTF-16", 2)):
        for ascii_byte in (0, width - 1):  # little- or big-endian
            if all(nul[i] != (i % width == ascii_byte) for i in range(8)):
                return name
    return None
