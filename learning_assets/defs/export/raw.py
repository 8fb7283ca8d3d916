"""Raw tables: one asset per source file family, parsed as far as the data allows."""


import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
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
from learning_assets.sources.readers import (
    SourceRead,
    read_agent_executions,
    read_capabilities,
    read_code_outcomes,
    read_confidence_metrics,
    read_expert_performance,
    read_feedback,
    read_learned_prompts,
    read_patterns,
    read_step_executions,
    read_task_memories,
    read_workflow_executions,
)
from resources import SourceDirectory
from schemas.tables import RAW

RAW_GROUP = "raw"

# Shape (columns, order, dtypes) as the Dagster type; value rules run as the `pandera_schema` check.
RAW_TYPES = {name: table_dagster_type(schema) for name, schema in RAW.items()}


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
    for warning in read.warnings:
        context.log.warning(warning)
    if read.skipped:
        context.log.warning(f"{read.table}: skipped {len(read.skipped)} damaged record(s); see metadata")
    skipped = [s.as_dict() for s in read.skipped]
    return Output(df, output_name=table.name, metadata={
        **table_metadata(df, preview=False),
        "source_files": len(read.files),
        "skipped": len(skipped),
        "skipped_records": MetadataValue.md(skips_markdown(skipped)),
        "warnings": MetadataValue.json(read.warnings),
        "seconds": round(table.seconds, 3),
    })


# table -> (reader, what it reads); read_capabilities yields two tables from one file.
SOURCES = {
    "capabilities": (read_capabilities, "Capability metrics from capabilities/capabilities.json."),
    "capability_refinements": (read_capabilities, "Each capability's refinement history, one row per step."),
    "task_memories": (read_task_memories, "Task memories from memory/memories.json."),
    "patterns": (read_patterns, "Learned code patterns from learning/patterns.jsonl."),
    "code_outcomes": (read_code_outcomes, "Code outcomes from learning/outcomes.jsonl."),
    "agent_executions": (read_agent_executions, "Agent executions from analytics/history/agents-*.jsonl."),
    "workflow_executions": (read_workflow_executions,
                            "Workflow executions from analytics/history/workflows-*.jsonl."),
    "expert_performance": (read_expert_performance, "Expert consultations from learning/expert_performance.jsonl."),
    "confidence_metrics": (read_confidence_metrics, "Expert confidence records from confidence_metrics.json."),
    "feedback": (read_feedback, "User feedback from feedback/feedback*.json (both shapes)."),
    "step_executions": (read_step_executions, "Workflow step executions from metrics/executions_*.jsonl."),
    "learned_prompts": (read_learned_prompts, "The shape of learned prompts (never their text) from learned-prompts/."),
}


def read_tables(root: Path, tz, tables: list[str], checked: set[str]) -> Iterator[TableRead]:
    """Each of `tables` read and made a frame (a reader serving two tables runs once), checked if in `checked`."""
    reads: dict = {}
    for table in tables:
        started = time.perf_counter()
        reader = SOURCES[table][0]
        if reader not in reads:
            reads[reader] = reader(root, tz)
        read = reads[reader]
        if isinstance(read, tuple):  # capabilities and their refinements
            read = read[0] if table == "capabilities" else read[1]
        df = read.frame()
        report = schema_report("raw", table, df) if table in checked else None
        yield TableRead(table, replace(read, parts=[]), df, time.perf_counter() - started, report)


@multi_asset(
    name="raw_tables",
    group_name=RAW_GROUP,
    outs={table: AssetOut(key=AssetKey(["raw", table]), dagster_type=RAW_TYPES[table], description=description,
                          is_required=False)
          for table, (_, description) in SOURCES.items()},
    check_specs=[schema_check_spec("raw", table) for table in SOURCES],
    can_subset=True,
)
def raw_tables(context: AssetExecutionContext, source: SourceDirectory):
    """Every selected source read in one step (one process start, not one per table, under the
    multiprocess executor), each table with its own timing, account of skips and schema check."""
    selected = [table for table in SOURCES if table in context.selected_output_names]
    checked = {table for table in selected if schema_check_selected(context, "raw", table)}
    for table in read_tables(source.root(), source.tz(), selected, checked):
        yield from with_schema_check(raw_output(context, table), "raw", table.report)


RAW_ASSETS = [raw_tables]
