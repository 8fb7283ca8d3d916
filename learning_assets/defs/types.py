"""Dagster types of the table assets, from their Pandera schemas."""

from __future__ import annotations

import json

import pandas as pd
import pandera.pandas as pa
from dagster import DagsterType, TypeCheck
from dagster_pandera import pandera_schema_to_dagster_type

from learning_assets.quality.validate import pandera_report, shape_schema


def table_dagster_type(schema: pa.DataFrameSchema):
    """A Dagster type that shows the full schema (every rule) in the UI but enforces only the shape.

    A wrong value must not fail the step with a type-check error: the asset's schema check reports
    it with the rows and columns at fault, and blocks downstream assets when it matters.
    """
    full = pandera_schema_to_dagster_type(schema)
    shape = shape_schema(schema)

    def type_check(_context, value) -> TypeCheck:
        if not isinstance(value, pd.DataFrame):
            return TypeCheck(success=False, description=f"expected a pandas DataFrame, got {type(value).__name__}")
        report = pandera_report(value, shape, reveal_names=False)
        if report["passed"]:
            return TypeCheck(success=True)
        return TypeCheck(success=False, description=report["summary"],
                         metadata={"failures": report["failures"],
                                   "by_column": json.dumps(report["by_column"])[:2000]})

    return DagsterType(type_check_fn=type_check, key=full.key, name=full.unique_name,
                       description=(full.description or "") + " The type check enforces columns, order and "
                       "dtypes; value rules run as the asset's schema check.",
                       metadata=full.metadata, typing_type=pd.DataFrame)
