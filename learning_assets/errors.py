"""Errors in the user's words: one line that says what happened and where, never a Python class name.

`UserError` marks an exception whose message is written for the user (it names the file, the table or
the field, and what to do); `in_words` turns any exception into such a line, and `user_error_names` lets
the runner recognise one that reaches it only as text (a failed Dagster step's error).
"""

from __future__ import annotations

from learning_assets.oserrors import OS_ERRORS


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
    return OS_ERRORS.get(exc.errno) or (exc.strerror.lower() if exc.strerror else str(exc))


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
