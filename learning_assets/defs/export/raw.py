"""Raw tables: one asset per source file family, parsed as far as the data allows."""


import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from learning_assets.defs.export.schema_checks import (
    schema_check_selected,
    schema_check_spec,
    schema_report,
    with_schema_check,
)
from learning_assets.defs.metadata import skips_markdown, table_metadata
from learning_assets.defs.types import table_dagster_type
from learning_assets.sources.readers import SourceRead
from learning_assets.tables import RAW, SPECS
from resources import SourceDirectory

RAW_GROUP = "raw"

# Shape (columns, order, dtypes) as the Dagster type; value rules run as the `pandera_schema` check.
RAW_TYPES = {name: table_dagster_type(schema) for name, schema in RAW.items()}
DESCRIPTIONS = {name: spec.description for name, spec in SPECS.items()}


@dataclass
class TableRead:
    name: str
    read: SourceRead  # its account of the input (files, skips, warnings), without the records
    frame: pd.DataFrame
    seconds: float
    report: dict | None  # the Pandera report, when the run checks the table


def raw_output(context: AssetExecutionContext, table: TableRead) -> Output:
    """The table plus an account of its input and the seconds it took; raw values are never shown."""
    read, df = table.read, table.frame
    for warning in read.warnings:  # among them each file left out whole, with how many records it held
        context.log.warning(warning)
    damaged = sum(not s.whole_file for s in read.skipped)
    if damaged:
        empty = "; none could be read, the table is empty" if df.empty else ""
        context.log.warning(f"{read.table}: skipped {damaged} damaged record(s){empty}; see the "
                            f"skipped_records metadata of raw/{read.table} for file, line and reason")
    skipped = [s.as_dict() for s in read.skipped]
    return Output(df, output_name=table.name, metadata={
        **table_metadata(df, preview=False),
        "source_files": len(read.files),
        "skipped": len(skipped),
        "skipped_records": MetadataValue.md(skips_markdown(skipped)),
        "warnings": MetadataValue.json(read.warnings),
        "seconds": round(table.seconds, 3),
    })


def read_tables(root: Path, tz, tables: list[str], checked: set[str]) -> Iterator[TableRead]:
    """Each of `tables` read and made a frame (a reader serving two tables runs once), checked if in `checked`."""
    reads: dict[str, SourceRead] = {}
    for table in tables:
        started = time.perf_counter()
        if table not in reads:
            reads.update(SPECS[table].read(root, tz))
        read = reads[table]
        df = read.frame()
        read.parts = []  # the records are in the frame now: not held twice while the other tables are read
        report = schema_report("raw", table, df) if table in checked else None
        yield TableRead(table, read, df, time.perf_counter() - started, report)


@multi_asset(
    name="raw_tables",
    group_name=RAW_GROUP,
    outs={table: AssetOut(key=AssetKey(["raw", table]), dagster_type=RAW_TYPES[table], description=description,
                          is_required=False)
          for table, description in DESCRIPTIONS.items()},
    check_specs=[schema_check_spec("raw", table) for table in SPECS],
    can_subset=True,
)
def raw_tables(context: AssetExecutionContext, source: SourceDirectory):
    """Every selected source read in one step (one process start, not one per table, under the
    multiprocess executor), each table with its own timing, account of skips and schema check."""
    selected = [table for table in SPECS if table in context.selected_output_names]
    checked = {table for table in selected if schema_check_selected(context, "raw", table)}
    for table in read_tables(source.root(), source.tz(), selected, checked):
        yield from with_schema_check(raw_output(context, table), "raw", table.report)


RAW_ASSETS = [raw_tables]
