"""Errors in the user's words: one line that says what happened and where, never a Python class name.

`UserError` marks an exception whose message is written for the user (it names the file, the table or
the field, and what to do); `in_words` turns any exception into such a line, and `user_error_names` lets
the runner recognise one that reaches it only as text (a failed Dagster step's error). `json_error` and
`wide_encoding` say why a file's text is not the JSON it should be.
"""

from __future__ import annotations

import json

from learning_assets.oserrors import OS_ERRORS

# UTF-32 first: its little-endian mark starts with UTF-16's
_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"), (b"\xfe\xff", "UTF-16"),
         (b"\xff\xfe", "UTF-16"))


class UserError(Exception):
    """An error the user can act on; its message is shown as it is, as one line."""


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def user_error_names() -> frozenset[str]:
    """The class names of every `UserError` defined so far."""
    return frozenset(cls.__name__ for cls in {UserError, *_subclasses(UserError)})


def one_line(text: str) -> str:
    return " ".join(text.strip().split("\n")[0].split())


def os_words(exc: OSError) -> str:
    """What an OS error means, in plain words (without the file)."""
    return OS_ERRORS.get(exc.errno) or (exc.strerror or str(exc)).lower()


def in_words(exc: BaseException) -> str:
    """One line for any exception: a user error's own message, an OS error in plain words with its file,
    and for anything unexpected its message (never its class), marked as unexpected."""
    if isinstance(exc, UserError):
        return one_line(str(exc))
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_words(exc) + (f": {exc.filename}" if exc.filename else "")
    if isinstance(exc, RecursionError):
        return "too deeply nested to process"
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = one_line(str(exc))
    return f"unexpected error ({text})" if text else "unexpected error"


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
