"""DuckDB over the pooled tables: where the release's per-project aggregation runs.

DuckDB scans the Hive-partitioned Parquet (`pooled/<table>/project=<p>/*.parquet`) in place, reads only
the columns a query names, aggregates vectorized on `threads` cores, and spills its hash tables and
sorts to `<store>/spill/` once they outgrow `memory_limit`: the number of pooled projects is bounded by
the store's disk, not by RAM, in one process and without a cluster (docs/operations.md, "Scaling the
receiving side"). The same SQL runs over DataFrames, for callers that hold the tables in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from learning_assets.insights.pool import POOLED, pooled_schema

SPILL = "spill"

# The pooled tables: a store's root (its Parquet files), or DataFrames with the same columns and `project`.
Pooled = Path | Mapping[str, pd.DataFrame]


@dataclass(frozen=True)
class EngineSettings:
    """DuckDB's limits; its own defaults (80 % of RAM, every core) assume the machine is its alone."""

    memory_limit: str = "1GB"
    threads: int = 2


def literal(text: str) -> str:
    """A SQL string literal (DuckDB reads backslashes verbatim)."""
    return "'" + text.replace("'", "''") + "'"


@contextlib.contextmanager
def connect(pooled: Pooled, tables: tuple[str, ...], settings: EngineSettings | None = None
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with one view per table of `tables`, named like the table."""
    settings = settings or EngineSettings()
    spill = ""  # DataFrames are in memory already; an empty directory turns spilling off
    if isinstance(pooled, Path):
        spill = str(pooled / SPILL)
    con = duckdb.connect(":memory:", config={"memory_limit": settings.memory_limit, "threads": settings.threads,
                                             "temp_directory": spill})
    try:
        for table in tables:
            if isinstance(pooled, Path):
                _parquet_view(con, pooled, table)
            else:
                con.register(table, pa.Table.from_pandas(pooled[table], preserve_index=False))
        yield con
    finally:
        con.close()


def _parquet_view(con: duckdb.DuckDBPyConnection, root: Path, table: str) -> None:
    base = root / POOLED / table
    if next(base.glob("project=*/*.parquet"), None) is None:  # no project has rows: an empty table
        schema = pooled_schema(table).append(pa.field("project", pa.string()))
        con.register(table, schema.empty_table())
        return
    # `project=*` skips the dot-named directories of a replacement in progress (pool.replace_project)
    con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM read_parquet('
                f'{literal(str(base / "project=*" / "*.parquet"))}, hive_partitioning = true, '
                "hive_types = {'project': VARCHAR})")
