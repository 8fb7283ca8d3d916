"""Raw tables: one asset per source file family, parsed as far as the data allows."""


import time

from dagster import AssetExecutionContext, AssetKey, AssetOut, MetadataValue, Output, multi_asset

from learning_assets.memory import heavy_step
from learning_assets.quality import table_dagster_type
from learning_assets.quality_checks import schema_check_result, schema_check_selected, schema_check_spec
from learning_assets.metadata import skips_markdown, table_metadata
from learning_assets.sources import (SourceRead, read_agent_executions, read_capabilities, read_code_outcomes,
                                     read_confidence_metrics, read_expert_performance, read_feedback,
                                     read_learned_prompts, read_patterns, read_step_executions, read_task_memories,
                                     read_workflow_executions)
from resources import SourceDirectory
from schemas.tables import RAW

# Shape (columns, order, dtypes) as the Dagster type; value rules run as the `pandera_schema` check.
RAW_TYPES = {name: table_dagster_type(schema) for name, schema in RAW.items()}


def raw_output(context: AssetExecutionContext, read: SourceRead, output_name: str, started: float) -> Output:
    """The table plus an account of its input and the seconds since `started`; raw values are never shown."""
    for warning in read.warnings:
        context.log.warning(warning)
    if read.skipped:
        context.log.warning(f"{read.table}: skipped {len(read.skipped)} damaged record(s); see metadata")
    df = read.frame()
    skipped = [s.as_dict() for s in read.skipped]
    return Output(df, output_name=output_name, metadata={
        **table_metadata(df, preview=False),
        "source_files": len(read.files),
        "skipped": len(skipped),
        "skipped_records": MetadataValue.md(skips_markdown(skipped)),
        "warnings": MetadataValue.json(read.warnings),
        "seconds": round(time.perf_counter() - started, 3),
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


@multi_asset(
    name="raw_tables",
    group_name="raw",
    outs={table: AssetOut(key=AssetKey(["raw", table]), dagster_type=RAW_TYPES[table], description=description,
                          is_required=False)
          for table, (_, description) in SOURCES.items()},
    check_specs=[schema_check_spec("raw", table) for table in SOURCES],
    can_subset=True,
)
@heavy_step
def raw_tables(context: AssetExecutionContext, source: SourceDirectory):
    """Every selected source read in one step (one process start, not one per table, under the
    multiprocess executor), each table with its own timing, account of skips and schema check."""
    root, tz = source.root(), source.tz()
    reads: dict = {}
    for table in SOURCES:
        if table not in context.selected_output_names:
            continue
        reader = SOURCES[table][0]
        started = time.perf_counter()
        if reader not in reads:
            reads[reader] = reader(root, tz)
        read = reads[reader]
        if isinstance(read, tuple):  # capabilities and their refinements
            read = read[0] if table == "capabilities" else read[1]
        output = raw_output(context, read, table, started)
        yield output
        if schema_check_selected(context, "raw", table):
            yield schema_check_result("raw", table, output.value)


RAW_ASSETS = [raw_tables]
