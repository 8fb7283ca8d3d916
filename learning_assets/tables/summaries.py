"""The numbers a table writes into the JSON document: rates, means, counts, records, per-day aggregates.

JSON-safe: days as YYYY-MM-DD, missing values as null, floats rounded to 4 places.
"""

from __future__ import annotations

import json

import pandas as pd


def records(df: pd.DataFrame, limit: int | None = None, json_columns: tuple[str, ...] = ()) -> list[dict]:
    """JSON-safe records: days as YYYY-MM-DD, JSON-string columns decoded, missing values as null."""
    if limit is not None:
        df = df.head(limit)
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    records = json.loads(out.to_json(orient="records", date_format="iso"))
    json_columns = [c for c in json_columns if df[c].astype(str).str.startswith("{").all()]
    for rec in records:
        for key in json_columns:
            rec[key] = json.loads(rec[key])
    return records


def rate(series: pd.Series) -> float | None:
    s = series.dropna()
    return None if s.empty else round(float(s.astype(float).mean()), 4)


def mean(series: pd.Series) -> float | None:
    s = series.dropna()
    return None if s.empty else round(float(s.mean()), 4)


def counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}


def per_day(df: pd.DataFrame, key: str) -> list[dict]:
    """Executions, success rate and mean duration per day and `key` (timestamps are already days)."""
    if df.empty:
        return []
    agg = (df.assign(success=df["success"].astype("Float64"))
           .groupby(["timestamp", key], dropna=False, sort=True)
           .agg(executions=("duration", "size"), success_rate=("success", "mean"),
                average_duration=("duration", "mean"))
           .reset_index())
    agg.insert(0, "date", agg.pop("timestamp").dt.strftime("%Y-%m-%d"))
    agg[["success_rate", "average_duration"]] = agg[["success_rate", "average_duration"]].astype(float).round(4)
    return json.loads(agg.to_json(orient="records"))


def at(*keys: str):
    """Reads the number at `keys` of a document section (None when it is not a count)."""
    def read(section: dict) -> int | None:
        value = section
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return read
