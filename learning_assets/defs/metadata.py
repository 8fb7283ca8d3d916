"""Materialization metadata that makes the Dagster UI useful: row counts, column schema, previews."""

from __future__ import annotations

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

PREVIEW_ROWS = 10


def column_schema(df: pd.DataFrame) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=str(c), type=str(df[c].dtype)) for c in df.columns])


def table_metadata(df: pd.DataFrame, *, preview: bool) -> dict:
    """Row count and column schema always; a markdown preview only where values are safe to show."""
    meta = {"dagster/row_count": len(df), "dagster/column_schema": column_schema(df)}
    if preview:
        shown = df.head(PREVIEW_ROWS).copy()
        for col in shown.columns:
            shown[col] = shown[col].map(lambda v: str(v)[:60])
        meta["preview"] = MetadataValue.md(shown.to_markdown(index=False) if len(shown) else "_empty_")
    return meta


def skips_markdown(skipped: list[dict], limit: int = 20) -> str:
    if not skipped:
        return "_nothing skipped_"
    rows = ["| file | line | reason |", "|---|---|---|"]
    rows += [f"| {s['file']} | {s['line'] if s['line'] is not None else ''} | {s['reason']} |"
             for s in skipped[:limit]]
    if len(skipped) > limit:
        rows.append(f"| … | | {len(skipped) - limit} more |")
    return "\n".join(rows)
