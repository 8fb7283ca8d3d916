"""Frames with exactly a Pandera schema's columns, order and dtypes (no validation), and their Arrow side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow

# Text and lists of text are Arrow-backed: values stay in Arrow buffers, checks and writes run in pyarrow.
TEXT = pd.ArrowDtype(pyarrow.string())
TEXT_LIST = pd.ArrowDtype(pyarrow.list_(pyarrow.string()))


def empty_frame(schema: pa.DataFrameSchema) -> pd.DataFrame:
    """An empty DataFrame with exactly the schema's columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=col.dtype.type) for name, col in schema.columns.items()})


def arrow_schema(schema: pa.DataFrameSchema) -> pyarrow.Schema:
    """The Arrow schema of a table's Parquet file."""
    def arrow_type(dtype) -> pyarrow.DataType:
        if isinstance(dtype, pd.ArrowDtype):
            return dtype.pyarrow_dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            return pyarrow.timestamp("ns", tz="UTC")
        return {"float64": pyarrow.float64(), "Int64": pyarrow.int64(), "boolean": pyarrow.bool_()}[str(dtype)]
    return pyarrow.schema([(name, arrow_type(col.dtype.type)) for name, col in schema.columns.items()])


def arrow_values(series: pd.Series, arrow_type: pyarrow.DataType | None = None) -> pyarrow.Array:
    """A column's values as one Arrow array (an Arrow-backed column may hold several chunks)."""
    values = pyarrow.array(series, arrow_type, from_pandas=True)
    return values.combine_chunks() if isinstance(values, pyarrow.ChunkedArray) else values


def distinct(series: pd.Series) -> tuple[np.ndarray, list]:
    """(code of each row, -1 where missing; the distinct values in order of first appearance, as Python objects).

    Arrow-backed values convert in one call: iterating them converts one value at a time.
    """
    codes, uniques = pd.factorize(series)
    return codes, pyarrow.array(uniques).to_pylist() if isinstance(uniques.dtype, pd.ArrowDtype) else list(uniques)


def conform(df: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Cast a frame built from records to the schema's column order and dtypes (no validation)."""
    out = {}
    for name, col in schema.columns.items():
        series = df[name] if name in df else pd.Series([None] * len(df), dtype=object)
        dtype = col.dtype.type
        if series.dtype == dtype:
            out[name] = series
        elif isinstance(dtype, pd.ArrowDtype):
            values = pyarrow.array(series.to_numpy(dtype=object), dtype.pyarrow_dtype, from_pandas=True)
            out[name] = pd.Series(values, dtype=dtype, index=series.index)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            out[name] = pd.to_datetime(series, utc=True, errors="coerce", cache=False)  # its cache check costs more
        else:
            out[name] = series.astype(dtype)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))
