"""Running the export job in-process against the configured instance, for the CLI and tests.

The CLI runs exactly the job the Dagster UI runs (`learning_export_job`); progress is fed from the
run's own Dagster events through an extra logger, and the result is read back from the run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (
    AssetCheckSeverity,
    DagsterEvent,
    DagsterInstance,
    build_reconstructable_job,
    execute_job,
    logger,
)

from learning_assets.definitions import build_definitions
from learning_assets.defs.export.publish import check_results
from learning_assets.errors import UserError, one_line, user_error_names
from learning_assets.exportfiles.atomic import LOCK_FILE, ExportBusy, exclusive
from learning_assets.oserrors import OS_ERRORS

JOB_NAME = "learning_export_job"
FORMATS = {"parquet": (True, False), "json": (False, True), "both": (True, True)}


class ExportFailed(UserError, RuntimeError):
    """The run failed; the message names the step or check that stopped it."""


@dataclass
class ExportResult:
    run_id: str
    path: Path
    export_id: str
    manifest: dict = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


_ERRNO = re.compile(r"\[Errno (\d+)\][^']*(?:'([^']+)')?")


def _os_error(text: str) -> str | None:
    """A plain-words description (with the file, when named) when an error text is one of the OS errors in
    OS_ERRORS."""
    match = _ERRNO.search(text)
    if match is None or int(match.group(1)) not in OS_ERRORS:
        return None
    return OS_ERRORS[int(match.group(1))] + (f": {match.group(2)}" if match.group(2) else "")


def _step_error(event: DagsterEvent) -> str:
    """The root cause of a failed step in one line, in the user's words (Dagster wraps user errors in its own)."""
    chain, err = [], event.event_specific_data.error
    while err is not None:
        chain.append(err)
        err = err.cause
    root = chain[-1]
    # the message starts with the exception's (qualified) class name, as in a traceback's last line
    message = re.sub(rf"^(?:[\w.]+\.)?{re.escape(root.cls_name or '')}: ", "", (root.message or "").strip())
    if root.cls_name == "Failure" or root.cls_name in user_error_names():  # written for the user
        return one_line(message)
    for e in reversed(chain):
        os_words = _os_error(f"{e.message}")
        if os_words:
            return os_words
    return f"unexpected error ({one_line(message)})"


def _failure_message(result, published: bool = False) -> str:
    failed = [e.event_specific_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
              and e.event_specific_data.severity == AssetCheckSeverity.ERROR]
    if failed:
        names = ", ".join(f"{c.check_name} on {c.asset_key.to_user_string()}"
                          + (f" ({one_line(c.description)[:200]})" if c.description else "") for c in failed)
        return f"blocking check(s) failed: {names}; nothing was published (see run {result.run_id})"
    for event in result.all_events:
        if event.is_step_failure:
            error = _step_error(event)
            if error.startswith("unexpected error"):
                error += f" (the log of run {result.run_id} in the Dagster UI shows where)"
            said = published or "nothing was published" in error  # e.g. by a refused consent
            return f"step {event.step_key} failed: {error}" + ("" if said else "; nothing was published")
    for event in result.all_events:
        if event.event_type_value == "RUN_FAILURE" and event.message:
            return event.message.strip().splitlines()[0]
    return f"run {result.run_id} failed"


OnEvent = Callable[[DagsterEvent], None]
OnLog = Callable[[int, "str | None", str], None]  # level, step key, message


class _EventHandler(logging.Handler):
    def __init__(self, on_event: OnEvent, on_log: OnLog | None):
        super().__init__(level=logging.DEBUG)
        self.on_event, self.on_log = on_event, on_log

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        meta = meta if isinstance(meta, dict) else {}
        try:
            if meta.get("dagster_event") is not None:
                self.on_event(meta["dagster_event"])
            elif self.on_log is not None and record.levelno >= logging.WARNING and not _engine_notice(meta):
                self.on_log(record.levelno, meta.get("step_key"), str(meta.get("orig_message") or record.msg))
        except Exception:  # noqa: BLE001 - a display problem must never fail the export
            pass


def _engine_notice(meta: dict) -> bool:
    """Dagster's own notes about steps it skips; the progress display shows skipped steps already."""
    return str(meta.get("orig_message") or "").startswith("Dependencies for step")


PROGRESS = logging.getLogger("learning.progress")


@logger(description="Hands the run's events to the CLI's progress display (the handlers `run_export` adds).")
def progress_logger(_init_context):
    PROGRESS.setLevel(logging.DEBUG)
    return PROGRESS


def export_job(source: str | None = None, output: str | None = None, progress: bool = False):
    """`learning_export_job` bound to a source and an export directory, with the progress logger if asked.

    Module scope, so that `run_export` can hand Dagster a reconstructable job (see there).
    """
    job = build_definitions(source=source, output=output).resolve_job_def(JOB_NAME)
    return job.with_logger_defs({**job.loggers, "learning_progress": progress_logger}) if progress else job


def step_count(job) -> int:
    return len(list(job.nodes_in_topological_order))


def run_config(*, parquet: bool = True, json_document: bool = True, compress_json: bool = False,
               since: str | None = None, until: str | None = None, log_level: str = "WARNING",
               progress: bool = False) -> dict:
    loggers = {"console": {"config": {"log_level": log_level}}}
    if progress:
        loggers["learning_progress"] = {}
    return {"ops": {"learning_export": {"config": {"parquet": parquet, "json_document": json_document,
                                                   "compress_json": compress_json, "since": since,
                                                   "until": until}}},
            "loggers": loggers}


def run_export(source: str | None = None, output: str | None = None, *, compress_json: bool = False,
               parquet: bool = True, json_document: bool = True, since: str | None = None,
               until: str | None = None, instance: DagsterInstance | None = None, log_level: str = "WARNING",
               on_event: OnEvent | None = None, on_log: OnLog | None = None) -> ExportResult:
    """Execute `learning_export_job` and return where the published export is and what it holds.

    The job runs through `execute_job`, with the code location's in-process executor: unlike
    `execute_in_process`, it keeps no step's output alive until the run ends, so each table is freed
    once the steps that read it are done.
    """

    started = time.monotonic()
    progress = on_event is not None
    job = build_reconstructable_job(__name__, export_job.__name__,
                                    reconstructable_kwargs={"source": source, "output": output, "progress": progress})
    config = run_config(parquet=parquet, json_document=json_document, compress_json=compress_json, since=since,
                        until=until, log_level=log_level, progress=progress)
    handler = _EventHandler(on_event, on_log) if progress else None
    if handler is not None:
        PROGRESS.addHandler(handler)
    try:
        result, instance = _execute_exclusively(job, instance, config)
    finally:
        if handler is not None:
            PROGRESS.removeHandler(handler)
    published = _materialized(result, "published_export")
    if published is None:
        raise ExportFailed(_failure_message(result))
    path = Path(published["export_path"].value)
    warnings = [] if result.success else [f"the export was published, but a later step failed: "
                                          f"{_failure_message(result, published=True)}"]
    manifest = json.loads((path / "manifest.json").read_text())
    rows = _export_rows(result) or {f["table"]: f["rows"] for f in manifest.get("files", []) if "table" in f}
    return ExportResult(run_id=result.run_id, path=path, export_id=published["export_id"].value,
                        manifest=manifest, checks=check_results(instance, result.run_id), rows=rows,
                        seconds=time.monotonic() - started, warnings=warnings)


def _execute_exclusively(job, instance: DagsterInstance | None, config: dict):
    """Run the job holding the instance home's export lock; returns (result, instance).

    Runs of one instance share its intermediate-table storage and would read each other's tables, so
    a second concurrent export is refused, not mixed. The lock is taken before the instance is opened
    ($DAGSTER_HOME when none is given): two processes creating a new SQLite instance at once race.
    """
    home = instance.root_directory if instance is not None else os.environ.get("DAGSTER_HOME")
    if not home:
        instance = DagsterInstance.get()  # raises Dagster's own error about DAGSTER_HOME
        home = instance.root_directory
    try:
        with exclusive(Path(home) / LOCK_FILE, f"with the Dagster instance in {home}"):
            instance = instance or DagsterInstance.get()
            return execute_job(job, instance=instance, run_config=config, raise_on_error=False), instance
    except ExportBusy as exc:
        raise ExportFailed(str(exc)) from None


def _export_rows(result) -> dict[str, int]:
    """Rows per table as `learning_export` recorded them (also when no Parquet was written)."""
    for mat in result.asset_materializations_for_node("learning_export"):
        rows = mat.metadata.get("rows")
        if rows is not None:
            return {str(k): int(v) for k, v in rows.value.items()}
    return {}


def _materialized(result, node: str) -> dict | None:
    """The metadata of the asset a node materialized in the run, if it did."""
    materializations = result.asset_materializations_for_node(node)
    return dict(materializations[-1].metadata) if materializations else None
