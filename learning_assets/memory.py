"""Memory habits of the heavy steps: no cyclic-GC pauses while they run, freed memory returned when they end.

Parsing JSON and filling object columns allocate lists and dicts by the million; each allocation burst
triggers a full collection that walks every live container (the tables already read included), about
0.3 s apiece at the typical scale, and finds almost nothing: these structures hold no reference cycles and
are freed by reference counting, so pausing the collector for the step saves the walks without holding
memory; it is re-enabled when the step ends, and anything cyclic is collected then.

Arrow's allocator and glibc's malloc keep freed blocks for reuse; a step's scratch memory would stay with
the process for the rest of the run (about 170 MB at the large scale), so it is handed back at the end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pyarrow as pa

F = TypeVar("F", bound=Callable)


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand memory that is allocated but free (Arrow's pool, malloc's heap) back to the OS."""
    pa.default_memory_pool().release_unused()
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


@contextmanager
def heavy_work() -> Iterator[None]:
    """The cyclic collector off inside the block (nesting is fine); free memory released after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        release_free_memory()


def heavy_step(fn: F) -> F:
    """`fn` (a step's compute function, generator or not) runs as `heavy_work`; Dagster sees its signature."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            with heavy_work():
                yield from fn(*args, **kwargs)
        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with heavy_work():
            return fn(*args, **kwargs)
    return call  # type: ignore[return-value]
