"""Running the export job in-process, for the CLI and tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance


class ExportFailed(RuntimeError):
    """The run failed; the message names the step or check that stopped it."""


@dataclass
class ExportResult:
    run_id: str
    path: Path
    export_id: str


def _failure_message(result) -> str:
    checks = [e.event_specific_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]
    if checks:
        names = ", ".join(c.check_name for c in checks)
        return f"blocking check(s) failed: {names}; nothing was published (see run {result.run_id})"
    for event in result.all_events:
        if event.is_step_failure:
            err = event.event_specific_data.error
            cause = err.cause or err
            return f"step {event.step_key} failed: {cause.message.strip().splitlines()[-1]}"
    return f"run {result.run_id} failed"


def run_export(source: str | None = None, output: str | None = None, *, compress_json: bool = False,
               instance: DagsterInstance | None = None, log_level: str = "WARNING") -> ExportResult:
    """Execute `learning_export_job` and return where the published export is."""
    from learning_assets.definitions import build_definitions

    defs = build_definitions(source=source, output=output)
    job = defs.get_job_def("learning_export_job")
    run_config = {"ops": {"learning_export": {"config": {"compress_json": compress_json}}},
                  "loggers": {"console": {"config": {"log_level": log_level}}}}
    instance = instance or DagsterInstance.get()
    result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
    if not result.success:
        raise ExportFailed(_failure_message(result))
    published = result.output_for_node("published_export")
    return ExportResult(run_id=result.run_id, path=Path(published["path"]), export_id=published["export_id"])
