"""Frames with exactly a Pandera schema's columns, order and dtypes (no validation)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa


def empty_frame(schema: pa.DataFrameSchema) -> pd.DataFrame:
    """An empty DataFrame with exactly the schema's columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=col.dtype.type if col.dtype else object)
                         for name, col in schema.columns.items()})


def conform(df: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Cast a frame built from records to the schema's column order and dtypes (no validation)."""
    out = {}
    for name, col in schema.columns.items():
        series = df[name] if name in df else pd.Series([None] * len(df), dtype=object)
        dtype = col.dtype.type if col.dtype else object
        # Column(str) has numpy dtype '<U': astype('<U') would turn None into the text "None".
        if dtype is object or str(dtype) == "str" or getattr(dtype, "kind", None) in ("O", "U"):
            out[name] = series.astype(object)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            out[name] = pd.to_datetime(series, utc=True, errors="coerce", cache=False)  # its cache check costs more
        else:
            out[name] = series.astype(dtype)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))
