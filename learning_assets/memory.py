"""Memory habits of the heavy steps: no cyclic-GC pauses while they run, freed memory returned when they end.

Parsing JSON and filling object columns allocate lists and dicts by the million; each allocation burst
triggers a full collection that walks every live container (the tables already read included), about
0.3 s apiece at the typical scale, and finds almost nothing: these structures hold no reference cycles and
are freed by reference counting, so pausing the collector for the step saves the walks without holding
memory; it is re-enabled when the step ends, and anything cyclic is collected then.

Inside them, malloc keeps freed blocks for reuse (from the first heavy step on, for the rest of the
process): by default glibc maps each block over a dynamic threshold (128 KB at first) on its own and
unmaps it when freed, and trims its heap whenever the top holds twice that, so the columns a step builds
and drops by the megabyte came back as fresh pages, a page fault each on first touch. Anonymizing a
million analytics events took 20,000 faults and 0.29 s, and 1,400 faults and 0.23 s with the settings
below; the large export runs 6 % faster, its peak 20 MB higher. What a step leaves free (Arrow's pool,
malloc's heap; about 170 MB at the large scale) is handed back when it ends.
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


def _glibc(name: str) -> Callable | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc (musl has neither malloc_trim nor mallopt)
        return None


MALLOC_TRIM, MALLOPT = _glibc("malloc_trim"), _glibc("mallopt")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's largest (64-bit): blocks above it are still mapped on their own
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024  # in effect never: `release_free_memory` trims when a step ends


def keep_freed_memory() -> None:
    """Have malloc reuse freed blocks within a step instead of handing them to the OS at once."""
    if MALLOPT is not None:
        MALLOPT(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        MALLOPT(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)


def release_free_memory() -> None:
    """Hand memory that is allocated but free (Arrow's pool, malloc's heap) back to the OS."""
    pa.default_memory_pool().release_unused()
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


@contextmanager
def heavy_work() -> Iterator[None]:
    """The cyclic collector off and freed memory kept for reuse inside the block (nesting is fine); free
    memory released after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    keep_freed_memory()
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
