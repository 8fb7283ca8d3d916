"""Stores DataFrame outputs as Parquet and other outputs as JSON in the instance's storage directory."""

from __future__ import annotations

import json
import os
import weakref

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableIOManagerFactory, InitResourceContext, InputContext, OutputContext, UPathIOManager
from pydantic import Field
from upath import UPath

PARQUET_MAGIC = b"PAR1"


def read_table_frame(path) -> pd.DataFrame:
    """Read a Parquet file written from a table frame, restoring list columns as Python lists."""
    table = pq.read_table(path)
    lists = [f.name for f in table.schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]
    # Arrow builds Python lists directly, several times faster than converting pandas' numpy arrays.
    df = table.drop_columns(lists).to_pandas()
    for name in lists:
        df[name] = pd.Series([[] if v is None else v for v in table.column(name).to_pylist()], dtype=object)
    return df[table.column_names]


def _signature(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


class _TableIO(UPathIOManager):
    """Writes every table to Parquet; a table this process wrote and still holds (the in-process
    executor keeps step outputs) is handed to downstream steps as is, instead of being read back.
    Held weakly and only while the file is unchanged, so it costs no memory and cannot go stale."""

    extension = ""

    def __init__(self, base_path: UPath):
        super().__init__(base_path=base_path)
        self._written: weakref.WeakValueDictionary[str, pd.DataFrame] = weakref.WeakValueDictionary()
        self._signatures: dict[str, tuple[int, int]] = {}

    def dump_to_path(self, context: OutputContext, obj, path: UPath) -> None:
        if isinstance(obj, pd.DataFrame):
            pq.write_table(pa.Table.from_pandas(obj, preserve_index=False), str(path), compression="zstd")
            if isinstance(obj.index, pd.RangeIndex) and obj.index.start == 0 and obj.index.step == 1:
                self._written[str(path)] = obj
                self._signatures[str(path)] = _signature(str(path))
        else:
            path.write_text(json.dumps(obj, default=str))

    def load_from_path(self, context: InputContext, path: UPath):
        held = self._written.get(str(path))
        if held is not None and self._signatures.get(str(path)) == _signature(str(path)):
            return held
        with open(str(path), "rb") as fh:
            is_parquet = fh.read(4) == PARQUET_MAGIC
        return read_table_frame(str(path)) if is_parquet else json.loads(path.read_text())


class TableIOManager(ConfigurableIOManagerFactory):
    """Parquet (zstd) for tables, JSON for everything else; under the instance's storage directory."""

    base_dir: str | None = Field(default=None, description="Defaults to the instance's storage directory.")

    def create_io_manager(self, context: InitResourceContext) -> _TableIO:
        base = self.base_dir or context.instance.storage_directory()
        return _TableIO(base_path=UPath(base))
