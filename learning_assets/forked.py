"""A share of a step's work on the second core: a forked child computes it while the step goes on.

A fork starts in milliseconds and shares everything already imported and read (copy-on-write), where a
new process would spend seconds importing Dagster, pandas and Great Expectations. The child's result is
pickled straight into a pipe and unpickled as it arrives, so neither side holds the pickled bytes
whole. Work handed to a child must be a pure function of what it is given: it may read files, but must
not log through Dagster or write anything the parent relies on.

`LEARNING_EXPORT_PROCESSES=1` keeps all work in the step's process (as do a machine with one core or
no `fork`, and a step over more data than `may_fork` allows); if the child fails for any reason the
parent computes the share itself, so a failure shows up with its real traceback.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")
ENV = "LEARNING_EXPORT_PROCESSES"
# After a fork, every page either process writes is copied (copy-on-write), so a child costs memory in
# proportion to the data the step holds. Above this much (about three typical projects) a step stays in
# one process: for a large export the memory bound (1 GB at 10x the design's limits) matters more than
# the seconds saved.
MAX_ROWS = 400_000
MAX_SOURCE_BYTES = 96 * 1024 * 1024


def processes() -> int:
    """How many processes a step may use: $LEARNING_EXPORT_PROCESSES, else the cores this process may run on."""
    if not hasattr(os, "fork"):
        return 1
    configured = os.environ.get(ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ValueError(f"{ENV}={configured!r}: expected a whole number of processes") from None
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def may_fork(*, rows: int = 0, source_bytes: int = 0) -> bool:
    """Whether a step over this much data (table rows, or source files it reads) may hand work to a child."""
    return rows <= MAX_ROWS and source_bytes <= MAX_SOURCE_BYTES and processes() >= 2


def split_work(items: Iterable[T], cost: Callable[[T], float]) -> tuple[list[T], list[T]]:
    """`items` in two shares of about equal cost, (a child's, the caller's): largest first, each to the
    lighter share, so the two differ by at most one item's cost."""
    theirs: list[T] = []
    ours: list[T] = []
    balance = 0.0  # their share's cost minus ours
    for item, item_cost in sorted(((item, cost(item)) for item in items), key=lambda pair: -pair[1]):
        if balance <= 0:
            theirs.append(item)
            balance += item_cost
        else:
            ours.append(item)
            balance -= item_cost
    return theirs, ours


class Forked(Generic[R]):
    """`fn()` started in a forked child if `fork` (see `may_fork`); `result()` returns its value (computed
    here when no child ran it).

    A child that has not finished `patience` seconds, or ten times as long as the caller took to get to
    `result()`, after that is presumed stuck (a lock another thread held at the fork, say): it is killed
    and its share computed here.
    """

    def __init__(self, fn: Callable[[], R], *, fork: bool, patience: float = 60.0):
        self._fn = fn
        self._pid: int | None = None
        self._received: list = []  # [value] once the whole value arrived
        self._patience = patience
        self._started = time.monotonic()
        self.in_child = False  # whether the value came from the child
        if not fork:
            return
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:
            os.close(read_fd)
            _child(fn, write_fd)
        os.close(write_fd)
        self._pid = pid
        # drained on a thread: the child would block on a full pipe until the parent gets to `result()`
        self._reader = threading.Thread(target=self._drain, args=(read_fd,), daemon=True)
        self._reader.start()

    def _drain(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            try:
                self._received.append(pickle.load(pipe))
            except Exception:  # noqa: BLE001 - the child died or failed; `result` computes the value here
                pass

    def result(self) -> R:
        if self._pid is not None:
            self._reader.join(max(self._patience, 10 * (time.monotonic() - self._started)))
            if self._reader.is_alive():
                os.kill(self._pid, signal.SIGKILL)  # its end of the pipe closes: the reader stops
                self._reader.join()
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            if os.waitstatus_to_exitcode(status) == 0 and self._received:
                self.in_child = True
                return self._received.pop()
        return self._fn()


def _child(fn: Callable[[], object], fd: int) -> None:
    """Run in the forked child: write fn()'s pickled value and leave without running the parent's cleanup."""
    status = 1
    try:
        value = fn()
        with os.fdopen(fd, "wb") as pipe:
            pickle.dump(value, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        status = 0
    finally:
        os._exit(status)


def later(child: Forked[Iterable[R]] | None) -> Iterator[R]:
    """A child's values, waited for only when iteration gets to them (nothing without a child)."""
    if child is not None:
        yield from child.result()
