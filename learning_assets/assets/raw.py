"""Raw tables: one per source file family, parsed as far as the data allows."""


from dagster import AssetExecutionContext, AssetKey, AssetOut, MetadataValue, Output, asset, multi_asset

from learning_assets.quality import table_dagster_type
from learning_assets.metadata import skips_markdown, table_metadata
from learning_assets.sources import (SourceRead, read_agent_executions, read_capabilities, read_code_outcomes,
                                     read_confidence_metrics, read_expert_performance, read_feedback,
                                     read_learned_prompts, read_patterns, read_step_executions, read_task_memories,
                                     read_workflow_executions)
from resources import SourceDirectory
from schemas.tables import RAW

# Shape (columns, order, dtypes) as the Dagster type; value rules run as `pandera_schema` asset checks.
RAW_TYPES = {name: table_dagster_type(schema) for name, schema in RAW.items()}


def raw_output(context: AssetExecutionContext, read: SourceRead, output_name: str = "result") -> Output:
    """The table plus an account of its input; raw values are never shown in the UI."""
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
    })


@multi_asset(
    outs={
        "capabilities": AssetOut(key=AssetKey(["raw", "capabilities"]), dagster_type=RAW_TYPES["capabilities"],
                                 description="Capability metrics from capabilities/capabilities.json."),
        "capability_refinements": AssetOut(key=AssetKey(["raw", "capability_refinements"]),
                                           dagster_type=RAW_TYPES["capability_refinements"],
                                           description="Each capability's refinement history, one row per step."),
    },
    group_name="raw",
)
def raw_capabilities(context: AssetExecutionContext, source: SourceDirectory):
    caps, refs = read_capabilities(source.root(), source.tz())
    yield raw_output(context, caps, "capabilities")
    yield raw_output(context, refs, "capability_refinements")


def _raw_asset(table: str, reader, description: str):
    @asset(key=AssetKey(["raw", table]), group_name="raw", dagster_type=RAW_TYPES[table], description=description)
    def _raw(context: AssetExecutionContext, source: SourceDirectory):
        return raw_output(context, reader(source.root(), source.tz()))
    return _raw


raw_task_memories = _raw_asset("task_memories", read_task_memories, "Task memories from memory/memories.json.")
raw_patterns = _raw_asset("patterns", read_patterns, "Learned code patterns from learning/patterns.jsonl.")
raw_code_outcomes = _raw_asset("code_outcomes", read_code_outcomes, "Code outcomes from learning/outcomes.jsonl.")
raw_agent_executions = _raw_asset("agent_executions", read_agent_executions,
                                  "Agent executions from analytics/history/agents-*.jsonl.")
raw_workflow_executions = _raw_asset("workflow_executions", read_workflow_executions,
                                     "Workflow executions from analytics/history/workflows-*.jsonl.")
raw_expert_performance = _raw_asset("expert_performance", read_expert_performance,
                                    "Expert consultations from learning/expert_performance.jsonl.")
raw_confidence_metrics = _raw_asset("confidence_metrics", read_confidence_metrics,
                                    "Expert confidence records from confidence_metrics.json.")
raw_feedback = _raw_asset("feedback", read_feedback, "User feedback from feedback/feedback*.json (both shapes).")
raw_step_executions = _raw_asset("step_executions", read_step_executions,
                                 "Workflow step executions from metrics/executions_*.jsonl.")
raw_learned_prompts = _raw_asset("learned_prompts", read_learned_prompts,
                                 "The shape of learned prompts (never their text) from learned-prompts/.")

RAW_ASSETS = [raw_capabilities, raw_task_memories, raw_patterns, raw_code_outcomes, raw_agent_executions,
              raw_workflow_executions, raw_expert_performance, raw_confidence_metrics, raw_feedback,
              raw_step_executions, raw_learned_prompts]
