"""Pooled cross-project tables: one row set per project, replaced whole when the project resubmits.

Layout (Hive partitioning): `pooled/<table>/project=<pseudonym>/<submission>.parquet`, each file with a
`submission` column; the release reads it with DuckDB (`engine`), `read_pooled` with `pyarrow.dataset`.
A project's row sets are swapped under the store's lock: the new directory is written under a dot-name
(which both readers skip), the old one is renamed away and the new one into place, so readers holding
the lock see either the old or the new rows of a project.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from learning_assets.exportfiles.parquet import frame_table, plain
from learning_assets.sources.frames import arrow_schema, conform, empty_frame
from learning_assets.tables import ANONYMIZED, TABLE_NAMES
from learning_assets.tables.columns import TEXT

POOLED = "pooled"


def pooled_schema(table: str) -> pa.Schema:
    """The fixed Arrow schema of a pooled table: the anonymized columns plus `submission`."""
    return arrow_schema(ANONYMIZED[table]).append(pa.field("submission", pa.string()))


def write_table(df: pd.DataFrame, table: str, path: Path, submission: str, conformed: bool = False) -> None:
    frame = (df if conformed else conform(df, ANONYMIZED[table])).assign(
        submission=pd.Series(submission, index=df.index, dtype=TEXT))
    pq.write_table(frame_table(frame).cast(pooled_schema(table)), path, compression="zstd")


def replace_project(root: Path, project: str, submission: str, staged: dict[str, Path]) -> None:
    """Make `staged[table]` (Parquet files, possibly absent) the only rows of `project` in every table.

    Call with the store's lock held.
    """
    for table in TABLE_NAMES:
        base = root / POOLED / table
        base.mkdir(parents=True, exist_ok=True)
        final = base / f"project={project}"
        fresh = base / f".new-{project}-{secrets.token_hex(4)}"
        fresh.mkdir()
        if table in staged and staged[table].is_file():
            shutil.copyfile(staged[table], fresh / f"{submission}.parquet")
        old = None
        if final.exists():
            old = base / f".old-{project}-{secrets.token_hex(4)}"
            final.rename(old)
        if any(fresh.iterdir()):
            fresh.rename(final)
        else:
            fresh.rmdir()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def remove_project(root: Path, project: str) -> None:
    for table in TABLE_NAMES:
        shutil.rmtree(root / POOLED / table / f"project={project}", ignore_errors=True)


def dataset(root: Path, table: str) -> ds.Dataset:
    schema = pooled_schema(table).append(pa.field("project", pa.string()))
    base = root / POOLED / table
    if not base.is_dir():
        return ds.dataset(pa.table({f.name: pa.array([], f.type) for f in schema}))
    return ds.dataset(base, format="parquet", schema=schema,
                      partitioning=ds.partitioning(pa.schema([pa.field("project", pa.string())]), flavor="hive"))


def read_pooled(root: Path, tables: tuple[str, ...] = TABLE_NAMES) -> dict[str, pd.DataFrame]:
    """Pooled tables as DataFrames (with `project` and `submission` columns), to inspect a store.

    The release does not load them: it aggregates the Parquet files in DuckDB (`release`, `engine`).
    """
    out = {}
    for table in tables:
        t = dataset(root, table).to_table()
        df = t.to_pandas()
        for f in t.schema:
            if pa.types.is_list(f.type):
                df[f.name] = df[f.name].map(lambda v: [] if v is None else list(v))
        if df.empty:
            df = plain(empty_frame(ANONYMIZED[table])).assign(submission=pd.Series(dtype=object),
                                                              project=pd.Series(dtype=object))
        out[table] = df
    return out
