"""Stores DataFrame outputs as Parquet and other outputs as JSON in the instance's storage directory."""

from __future__ import annotations

import json
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from dagster import (
    ConfigurableIOManagerFactory,
    InitResourceContext,
    InputContext,
    OutputContext,
    UPathIOManager,
)
from pydantic import Field
from upath import UPath

from learning_assets.exportfiles.parquet import (
    PARQUET_MAGIC,
    read_arrow_frame,
    write_table,
)


def _signature(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


# Input metadata (`AssetIn(metadata=ON_DEMAND)`): the step receives a `StoredTable` and reads the table
# when it needs it, instead of every input being read before the step starts.
ON_DEMAND = {"load": "on_demand"}


@dataclass(frozen=True)
class StoredTable:
    """A stored upstream table, read by `load()`: a step that works through many tables one at a time
    holds one of them at a time, not all of them for its whole run."""

    load: Callable[[], pd.DataFrame]


class _TableIO(UPathIOManager):
    """Writes every table to Parquet, and hands downstream steps in this process the frame it wrote
    instead of reading it back: the newest ones up to `cache_bytes` (by their Arrow size) are kept for
    that, and any other as long as something else still holds it (the result of an in-process run keeps
    every output). A table is handed out only while its file is unchanged, so it cannot go stale."""

    extension = ""

    def __init__(self, base_path: UPath, cache_bytes: int):
        super().__init__(base_path=base_path)
        self._cache_bytes = cache_bytes
        self._written: dict[str, tuple[weakref.ref, tuple[int, int]]] = {}
        self._kept: OrderedDict[str, tuple[pd.DataFrame, int]] = OrderedDict()

    def dump_to_path(self, context: OutputContext, obj, path: UPath) -> None:
        if isinstance(obj, pd.DataFrame):
            self._hold(str(path), obj, write_table(obj, str(path)).nbytes)
        else:
            path.write_text(json.dumps(obj, default=str))

    def _hold(self, path: str, frame: pd.DataFrame, size: int) -> None:
        self._written.pop(path, None)
        self._kept.pop(path, None)
        index = frame.index
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
            return  # the file reads back with a 0..n index
        self._written[path] = (weakref.ref(frame), _signature(path))
        if size <= self._cache_bytes:
            self._kept[path] = (frame, size)
            total = sum(entry[1] for entry in self._kept.values())
            while total > self._cache_bytes:
                _, (_, evicted) = self._kept.popitem(last=False)
                total -= evicted

    def load_from_path(self, context: InputContext, path: UPath):
        if context.definition_metadata.get("load") == ON_DEMAND["load"]:
            if not path.exists():
                raise FileNotFoundError(f"{path}: the upstream table was never stored; materialize it first")
            return StoredTable(lambda: self._read(path))
        return self._read(path)

    def _read(self, path: UPath):
        written = self._written.get(str(path))
        frame = written[0]() if written is not None and written[1] == _signature(str(path)) else None
        if frame is not None:
            if str(path) in self._kept:
                self._kept.move_to_end(str(path))
            return frame
        with open(str(path), "rb") as fh:
            is_parquet = fh.read(4) == PARQUET_MAGIC
        return read_arrow_frame(str(path)) if is_parquet else json.loads(path.read_text())


class TableIOManager(ConfigurableIOManagerFactory):
    """Parquet (zstd) for tables, JSON for everything else; under the instance's storage directory."""

    base_dir: str | None = Field(default=None, description="Defaults to the instance's storage directory.")
    cache_mb: int = Field(default=64, ge=0, description=(
        "Tables kept in memory for later steps of the same process (the in-process executor), by their Arrow "
        "size, newest first; the rest are read back from Parquet unless still held elsewhere (an in-process "
        "run's result holds every output). 64 MB holds every table of a typical project."))

    def create_io_manager(self, context: InitResourceContext) -> _TableIO:
        base = self.base_dir or context.instance.storage_directory()
        return _TableIO(base_path=UPath(base), cache_bytes=self.cache_mb * 1024 * 1024)
