"""`learning export`: run the export job with live progress, then a summary."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from learning_assets.cli.app import (
    CliError,
    Format,
    anonymization_key,
    app,
    console,
    ensure_writable,
    export_root,
    human_bytes,
    learning_dir,
    os_words,
    source_dir,
)
from learning_assets.governance.consent import ConsentRequired, ConsentStore
from learning_assets.oserrors import OS_ERRORS
from learning_assets.sources.window import InvalidWindow, validate


class ExportProgress:
    """A live status fed by the run's Dagster events: one line per finished step, a bar for the rest."""

    def __init__(self, total: int):

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True,
                                 redirect_stdout=False, redirect_stderr=False)
        self.task = self.progress.add_task("starting", total=total)
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.materialized: set[str] = set()
        self.checks: dict[str, list[tuple[str, str, bool]]] = {}  # step -> (check, asset, passed)
        self.tables: dict[tuple[str, str], str] = {}  # (step, asset it made) -> rows, shown with its check
        self.table_steps: set[str] = set()  # steps that printed a line per table
        self.lap: dict[str, float] = {}  # step -> when its previous table was done
        self.passed_quietly: Counter = Counter()  # passed checks of intermediate assets, shown as one line
        self.failed: list[str] = []

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self._flush()
        self.progress.stop()

    def _print(self, text: str) -> None:
        self._flush()
        self.progress.console.print(text, highlight=False, soft_wrap=True)

    def _flush(self) -> None:
        if self.passed_quietly:
            summary = ", ".join(f"{name} on {n} asset{'s' if n > 1 else ''}" for name, n in self.passed_quietly.items())
            self.passed_quietly.clear()
            self.progress.console.print(f"  [green]✓[/green] checks passed: {escape(summary)}", highlight=False,
                                        soft_wrap=True)

    @staticmethod
    def name(step: str | None) -> str:
        return (step or "run").replace("__", "/")

    def _describe(self) -> None:
        running = [self.name(s) for s in self.started]
        text = ", ".join(running[:3]) + (f" +{len(running) - 3}" if len(running) > 3 else "")
        self.progress.update(self.task, description=text or "…")

    def event(self, event) -> None:
        kind, step = event.event_type_value, event.step_key
        if kind == "STEP_START":
            self.started[step] = self.lap[step] = time.monotonic()
            self._describe()
        elif kind == "ASSET_MATERIALIZATION":
            self.materialized.add(step)
            materialization = event.event_specific_data.materialization
            count = materialization.metadata.get("dagster/row_count")
            if count is not None:
                self.rows[step] = self.rows.get(step, 0) + int(count.value)
            self.tables[(step, materialization.asset_key.to_user_string())] = (
                f"{int(count.value):>9,} rows" if count is not None else " " * 14)
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            asset = data.asset_key.to_user_string()
            if (step, asset) in self.tables:  # a table checked by the step that made it: a line per table
                now, began = time.monotonic(), self.lap[step]
                self.lap[step] = now
                self.table_steps.add(step)
                mark, verdict = ("[green]✓[/green]", "[green]✓[/green]") if data.passed else ("[red]✗[/red]",
                                                                                              "[red]✗ FAILED[/red]")
                self._print(f"  {mark} {escape(asset):<40} {self.tables.pop((step, asset))} {now - began:5.1f}s  "
                            f"{verdict} {escape(data.check_name)}")
            else:
                self.checks.setdefault(step, []).append((data.check_name, asset, bool(data.passed)))
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            began = self.started.pop(step, None)
            secs = f"{time.monotonic() - began:5.1f}s" if began else "     "
            mark = {"STEP_SUCCESS": "[green]✓[/green]", "STEP_FAILURE": "[red]✗[/red]",
                    "STEP_SKIPPED": "[yellow]-[/yellow]"}[kind]
            rows = f"{self.rows[step]:>9,} rows" if step in self.rows else " " * 14
            if kind == "STEP_FAILURE":
                self.failed.append(step)
            checks = self.checks.pop(step, [])
            if step in self.table_steps and kind == "STEP_SUCCESS" and not checks:
                pass  # its tables have their lines
            elif step in self.materialized or not checks or kind != "STEP_SUCCESS":
                inline = "  " + " ".join(f"{'[green]✓[/green]' if ok else '[red]✗ FAILED[/red]'} {escape(name)}"
                                         for name, _, ok in checks) if checks else ""
                self._print(f"  {mark} {escape(self.name(step)):<40} {rows} {secs}{inline}")
            else:  # a step that only runs checks: one line per check of the export, a tally for the others
                for name, asset, ok in checks:
                    if ok and asset != "learning_export":
                        self.passed_quietly[name] += 1
                        continue
                    self._print(f"  {'[green]✓[/green]' if ok else '[red]✗[/red]'} check {escape(name)} on "
                                f"{escape(asset)} {'passed' if ok else 'FAILED'}")
            self.progress.advance(self.task)
            self._describe()

    def log(self, level: int, step: str | None, message: str) -> None:
        first = message.strip().splitlines()[0] if message.strip() else ""
        self._print(f"  [yellow]![/yellow] {escape(first)}")


def print_summary(result, fmt: Format, compress: bool, since: str | None, until: str | None) -> None:

    files = result.manifest.get("files", [])
    table = Table(title=f"Export {result.export_id}", title_justify="left")
    for col, kw in [("file", {"overflow": "fold"}), ("rows", {"justify": "right"}),
                    ("size", {"justify": "right"}), ("sha256", {"no_wrap": True})]:
        table.add_column(col, **kw)
    for f in files:
        table.add_row(f["path"], f"{f['rows']:,}" if "rows" in f else "", human_bytes(f["bytes"]),
                      f["sha256"][:12] + "…")
    console.print(table)
    size = sum(f["bytes"] for f in files)
    rows = sum(result.rows.values())
    checks = result.checks
    passed = [c["check"] for c in checks if c["passed"]]
    failed = [c["check"] for c in checks if not c["passed"]]
    counted = Counter(passed)
    names = ", ".join(f"{n} ×{k}" if k > 1 else n for n, k in counted.items())
    console.print(f"[bold]{len(result.rows)} tables, {rows:,} rows, {len(files)} files, {human_bytes(size)}[/bold]"
                  f" · format {fmt.value}{' (JSON gzip)' if compress else ''}"
                  f" · checks passed {len(passed)}/{len(checks)}: {names or 'none'}"
                  f"{' · FAILED: ' + ', '.join(failed) if failed else ''}"
                  f" · {result.seconds:.1f}s · run {result.run_id[:8]}", highlight=False, soft_wrap=True)
    if since or until:
        console.print(f"date window {since or '…'} to {until or '…'} (UTC days) applied to the time-based tables",
                      highlight=False)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)


@app.command()
def export(
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory (env LEARNING_SOURCE_DIR, "
                                                       "else the bundled sample)."),
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    since: str = typer.Option(None, "--since", metavar="YYYY-MM-DD",
                              help="Only rows of the time-based tables from this UTC day on."),
    until: str = typer.Option(None, "--until", metavar="YYYY-MM-DD",
                              help="Only rows of the time-based tables up to this UTC day (inclusive)."),
    fmt: Format = typer.Option(Format.both, "--format", case_sensitive=False,
                               help="Parquet tables, the JSON document, or both."),
    compress: bool = typer.Option(False, "--compress", help="gzip the JSON document."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or summary; only the export's path."),
) -> None:
    """Read, anonymize, check and publish an export (needs consent: `learning consent grant`)."""

    try:
        validate(since, until)
    except InvalidWindow as exc:
        raise CliError(str(exc)) from None
    if compress and fmt is Format.parquet:
        raise CliError("--compress gzips the JSON document; it cannot be combined with --format parquet")
    src = source_dir(source)
    root = export_root(output)
    try:
        ConsentStore(learning_dir()).require(src)
    except ConsentRequired as exc:
        raise CliError(str(exc)) from None
    ensure_writable(root)

    from learning_assets.defs.export.run import (
        FORMATS,
        ExportFailed,
        export_job,
        run_export,
        step_count,
    )

    anonymization_key()  # the key the run will use: a missing, short or shared key stops here, before anything runs

    parquet, json_document = FORMATS[fmt.value]
    kwargs = dict(source=str(src), output=str(root), parquet=parquet, json_document=json_document,
                  compress_json=compress, since=since, until=until)
    try:
        if quiet:
            result = run_export(**kwargs, log_level="CRITICAL")
        else:
            console.print(f"exporting {src} → {root}", highlight=False, soft_wrap=True)
            with ExportProgress(step_count(export_job(str(src), str(root)))) as progress:
                result = run_export(**kwargs, on_event=progress.event, on_log=progress.log, log_level="CRITICAL")
    except ExportFailed as exc:
        message = str(exc)
        if any(words in message for words in OS_ERRORS.values()):
            message += f" (export directory {root}; instance {os.environ.get('DAGSTER_HOME')})"
        raise CliError(message) from None
    except OSError as exc:  # outside any step (instance storage, run lock): the run never got to publish
        where = f"{exc.filename}: " if exc.filename else ""
        raise CliError(f"{where}{os_words(exc)}; nothing was published (export directory {root}; "
                       f"instance {os.environ.get('DAGSTER_HOME')})") from None
    if not quiet:
        print_summary(result, fmt, compress, since, until)
    typer.echo(result.path)


