"""Stores DataFrame outputs as Parquet and other outputs as JSON in the instance's storage directory."""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import pandas as pd
import pyarrow.parquet as pq
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
    frame_table,
    read_arrow_frame,
)


def _signature(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


class _TableIO(UPathIOManager):
    """Writes every table to Parquet, and keeps the tables it wrote most recently, up to `cache_bytes`
    (by their Arrow size), to hand them to downstream steps in this process as they are instead of
    reading them back. A table is handed out only while its file is unchanged, so it cannot go stale."""

    extension = ""

    def __init__(self, base_path: UPath, cache_bytes: int):
        super().__init__(base_path=base_path)
        self._cache_bytes = cache_bytes
        self._held: OrderedDict[str, tuple[pd.DataFrame, tuple[int, int], int]] = OrderedDict()

    def dump_to_path(self, context: OutputContext, obj, path: UPath) -> None:
        if isinstance(obj, pd.DataFrame):
            table = frame_table(obj)
            pq.write_table(table, str(path), compression="zstd")
            self._hold(str(path), obj, table.nbytes)
        else:
            path.write_text(json.dumps(obj, default=str))

    def _hold(self, path: str, frame: pd.DataFrame, size: int) -> None:
        self._held.pop(path, None)
        index = frame.index
        if size > self._cache_bytes or not (isinstance(index, pd.RangeIndex) and index.start == 0
                                           and index.step == 1):
            return
        self._held[path] = (frame, _signature(path), size)
        total = sum(entry[2] for entry in self._held.values())
        while total > self._cache_bytes:
            _, (_, _, evicted) = self._held.popitem(last=False)
            total -= evicted

    def load_from_path(self, context: InputContext, path: UPath):
        held = self._held.get(str(path))
        if held is not None and held[1] == _signature(str(path)):
            self._held.move_to_end(str(path))
            return held[0]
        with open(str(path), "rb") as fh:
            is_parquet = fh.read(4) == PARQUET_MAGIC
        return read_arrow_frame(str(path)) if is_parquet else json.loads(path.read_text())


class TableIOManager(ConfigurableIOManagerFactory):
    """Parquet (zstd) for tables, JSON for everything else; under the instance's storage directory."""

    base_dir: str | None = Field(default=None, description="Defaults to the instance's storage directory.")
    cache_mb: int = Field(default=64, ge=0, description=(
        "Tables kept in memory for later steps of the same process (the in-process executor), by their Arrow "
        "size (as pandas frames of strings they take a few times more), newest first; the rest are read back "
        "from Parquet. 64 MB holds every table of a typical project."))

    def create_io_manager(self, context: InitResourceContext) -> _TableIO:
        base = self.base_dir or context.instance.storage_directory()
        return _TableIO(base_path=UPath(base), cache_bytes=self.cache_mb * 1024 * 1024)
