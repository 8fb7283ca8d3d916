"""Steps that build millions of containers run without Python's cyclic garbage collector.

Parsing JSON and filling object columns allocate lists and dicts by the million; each allocation burst
triggers a full collection that walks every live container (the tables already read included), about
0.3 s apiece at the typical scale, and finds almost nothing: these structures hold no reference cycles and
are freed by reference counting, so pausing the collector for the step saves the walks without holding
memory; it is re-enabled when the step ends, and anything cyclic is collected then.
"""

from __future__ import annotations

import functools
import gc
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

F = TypeVar("F", bound=Callable)


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic collector off inside the block, back as it was after (nesting is fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def without_gc_pauses(fn: F) -> F:
    """`fn` (a step's compute function, generator or not) runs inside `paused_gc`; Dagster sees its signature."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            with paused_gc():
                yield from fn(*args, **kwargs)
        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with paused_gc():
            return fn(*args, **kwargs)
    return call  # type: ignore[return-value]
