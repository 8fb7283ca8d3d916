"""Table frames as Parquet and back, in the dtypes the assets hold them in.

Files carry the pandas metadata of plain Python values (text and lists as `object`), whatever the frame
held, so a pandas reader of an export gets plain Python objects.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_MAGIC = b"PAR1"
_ARROW_BACKED = (pa.string(), pa.list_(pa.string()))


def _arrow_backed(arrow_type: pa.DataType):
    """The pandas dtype of a column as the assets hold it (see `learning_assets.tables.columns`)."""
    if arrow_type in _ARROW_BACKED:
        return pd.ArrowDtype(arrow_type)
    return {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get(arrow_type)


def read_arrow_frame(path) -> pd.DataFrame:
    """Read a Parquet file written from a table frame into the dtypes the assets use: text and lists of
    text Arrow-backed (no copy), integers and booleans nullable."""
    return pq.read_table(path).to_pandas(types_mapper=_arrow_backed, ignore_metadata=True)


def frame_table(df: pd.DataFrame) -> pa.Table:
    """A table frame as Arrow (Arrow-backed columns are not copied), with the pandas metadata of the
    same values held as Python objects.

    Converted on this thread: what is not Arrow already is Python objects, which convert under the GIL
    anyway, so pyarrow's pool of threads per call only adds its start-up.
    """
    table = pa.Table.from_pandas(df, preserve_index=False, nthreads=1)
    dtypes = tuple((name, "object" if isinstance(dtype, pd.ArrowDtype) else str(dtype))
                   for name, dtype in df.dtypes.items())
    return table.replace_schema_metadata(_plain_metadata(table.schema.remove_metadata(), dtypes))


@functools.lru_cache(maxsize=256)
def _plain_metadata(schema: pa.Schema, dtypes: tuple[tuple[str, str], ...]) -> dict:
    """The pandas metadata of a frame of `dtypes` (text and lists as `object`) written as `schema`."""
    empty = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes})
    return pa.Table.from_pandas(empty, schema=schema, preserve_index=False).schema.metadata


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with its Arrow-backed columns as Python objects."""
    return df.astype({name: object for name, dtype in df.dtypes.items() if isinstance(dtype, pd.ArrowDtype)})


def write_table(df: pd.DataFrame, path: Path | str) -> pa.Table:
    """Write a table frame as Parquet (zstd); returns it as Arrow. The file is closed even when writing
    fails (a full disk), so a removed staging file frees its space at once."""
    table = frame_table(df)
    with open(path, "wb") as sink:
        pq.write_table(table, sink, compression="zstd")
    return table
