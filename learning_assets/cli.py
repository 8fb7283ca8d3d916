"""The `learning` command: runs the same Dagster assets in-process against the configured instance.

    learning export      materialize the export job (consent required), with live progress and a summary
    learning dashboard   learning metrics of the latest export in the terminal, or as a self-contained HTML file
    learning submit      package the latest export as a tar.gz for manual upload
    learning consent     grant | revoke | status: export consent per project, kept in the instance home
    learning audit       the append-only log of exports, submissions and consent changes

Every error is one line on stderr and a non-zero exit; `--debug` shows the traceback. Human-readable
progress and summaries go to stderr; what a command produces (the export's path, the package's path,
the dashboard, the audit listing) goes to stdout. Heavy imports (Dagster, pandas) happen only in the
commands that need them, so consent/audit/error paths answer quickly.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import time
import traceback
import warnings
from collections import Counter
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from learning_assets.oserrors import OS_ERRORS

app = typer.Typer(help="Anonymized, validated exports of agent learning data.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
consent_app = typer.Typer(help="Grant, revoke or show export consent for a project.", no_args_is_help=True)
app.add_typer(consent_app, name="consent")
# Progress, summaries and errors on stderr; what a command produces on stdout. Not on a terminal
# (logs, pipes), tables get a fixed, generous width instead of rich's 80 columns.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
DEBUG = {"on": False}
REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"


class CliError(Exception):
    """An error the user can act on; printed as one line."""


class Format(str, Enum):
    parquet = "parquet"
    json = "json"
    both = "both"


# --- locations -----------------------------------------------------------------------------

def instance_home() -> Path:
    """$DAGSTER_HOME, else ./.dagster_home; seeded with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists() and REPO_DAGSTER_YAML.is_file():
            shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")
    except OSError as exc:
        raise CliError(f"{home}: cannot set up the Dagster instance home ({os_words(exc)})") from None
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def learning_dir() -> Path:
    """`$DAGSTER_HOME/learning`: consent, audit trail and the anonymization key."""
    from learning_assets.consent import learning_home

    return learning_home(instance_home())


def source_dir(source: Path | None) -> Path:
    """--source, else $LEARNING_SOURCE_DIR, else the bundled sample; must be a readable directory."""
    from learning_assets.consent import project_key

    path = Path(source or os.environ.get("LEARNING_SOURCE_DIR") or SAMPLE_DIR).expanduser()
    if not path.exists():
        raise CliError(f"{path}: source directory does not exist")
    if not path.is_dir():
        raise CliError(f"{path}: source is not a directory")
    root = Path(project_key(path))
    try:
        os.listdir(root)
    except PermissionError:
        raise CliError(f"{root}: permission denied reading the source directory") from None
    except OSError as exc:
        raise CliError(f"{root}: cannot read the source directory ({os_words(exc)})") from None
    return path


def export_root(output: Path | None) -> Path:
    """--output, else $LEARNING_EXPORT_DIR, else ./export."""
    return Path(output or os.environ.get("LEARNING_EXPORT_DIR") or "export").expanduser().resolve()


def ensure_writable(path: Path) -> None:
    """Create the export directory and prove a file can be written there, or fail with one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"{path}: cannot write to the export directory ({os_words(exc)})") from None


def os_words(exc: OSError) -> str:
    return OS_ERRORS.get(exc.errno, exc.strerror or str(exc))


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def published_export(root: Path, export_id: str | None) -> Path:
    """The named (or newest) published export under an export directory."""
    if export_id:
        path = root / "exports" / export_id
        if not path.is_dir():
            raise CliError(f"{path}: no such published export")
        return path
    pointer = root / "LATEST"
    if pointer.is_file():
        path = root / "exports" / pointer.read_text().strip()
        if path.is_dir():
            return path
    raise CliError(f"{root}: no published export yet; run `learning export --output {root}` first")


# --- export --------------------------------------------------------------------------------

class ExportProgress:
    """A live status fed by the run's Dagster events: one line per finished step, a bar for the rest."""

    def __init__(self, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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
    from rich.table import Table

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
    from learning_assets.consent import ConsentRequired, ConsentStore
    from learning_assets.window import InvalidWindow, validate

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

    from learning_assets.run import FORMATS, ExportFailed, export_job, run_export, step_count

    parquet, json_document = FORMATS[fmt.value]
    job = export_job(str(src), str(root))
    kwargs = dict(parquet=parquet, json_document=json_document, compress_json=compress, since=since, until=until,
                  job=job)
    try:
        if quiet:
            result = run_export(**kwargs, log_level="CRITICAL")
        else:
            console.print(f"exporting {src} → {root}", highlight=False, soft_wrap=True)
            with ExportProgress(step_count(job)) as progress:
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


# --- dashboard -----------------------------------------------------------------------------

@app.command()
def dashboard(
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    export_id: str = typer.Option(None, "--export", help="Export id (default: the latest)."),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report to this file instead."),
    top: int = typer.Option(10, "--top", min=1, max=200, help="Rows in the capability and pattern tables."),
) -> None:
    """Learning metrics of the latest export: capabilities, top patterns, agents per day."""
    from learning_assets.dashboard import NoExport, build, render_html, render_terminal

    path = published_export(export_root(output), export_id)
    try:
        dash = build(path, top=top)
    except NoExport as exc:
        raise CliError(str(exc)) from None
    if html is None:
        render_terminal(dash, out)
        return
    target = html.expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(render_html(dash), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        raise CliError(f"{target}: cannot write the HTML report ({os_words(exc)})") from None
    console.print(f"dashboard of export {dash.export_id} written (self-contained, opens offline)", highlight=False)
    typer.echo(target)


# --- submit --------------------------------------------------------------------------------

def _export_source(home: Path, export_dir: Path) -> str:
    """The source directory an export was made from, per the audit trail (needed to check consent)."""
    from learning_assets.audit import find_export, read

    entry = find_export(home, export_dir.name)
    if entry is None:
        try:
            project = json.loads((export_dir / "export_metadata.json").read_text()).get("project_hash")
        except (OSError, ValueError):
            project = None
        entry = next((e for e in reversed(read(home)) if e.get("event") == "export" and project
                      and e.get("project") == project), None)
    if entry is None or not entry.get("source"):
        raise CliError(f"export {export_dir.name} is not in this instance's audit trail, so its project's consent "
                       f"cannot be checked; export it again with `learning export`")
    return entry["source"]


@app.command()
def submit(
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    export_id: str = typer.Option(None, "--export", help="Export id (default: the latest)."),
) -> None:
    """Package the latest export (tar.gz with manifest, checksums, anonymization report) for manual upload."""
    from learning_assets import audit
    from learning_assets.consent import ConsentRequired, ConsentStore
    from learning_assets.submit import SubmitError, build_package

    root = export_root(output)
    path = published_export(root, export_id)
    home = learning_dir()
    source = _export_source(home, path)
    try:
        ConsentStore(home).require(source, refused="nothing was packaged")
    except ConsentRequired as exc:
        raise CliError(str(exc)) from None
    try:
        package = build_package(path, root)
    except SubmitError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{root / 'submissions'}: cannot write the package ({os_words(exc)})") from None
    audit.append(home, "submission", export_id=package.export_id, package=str(package.path),
                 sha256=package.sha256, bytes=package.bytes, source=source, project=package.project,
                 files=[{k: m[k] for k in ("path", "sha256", "bytes")} for m in package.members])

    top = package.path.name.removesuffix(".tar.gz")
    lines = [f"package:  {package.path}", f"size:     {package.bytes:,} bytes", f"sha256:   {package.sha256}",
             f"export:   {package.export_id} (project {package.project})",
             f"contains: {top}/ with {len(package.members)} files:"]
    width = max(len(m["path"]) - len(top) - 1 for m in package.members)
    for m in package.members:
        rows = f"{m['rows']:>7,} rows" if "rows" in m else " " * 12
        lines.append(f"  {m['path'][len(top) + 1:]:<{width}}  {m['bytes']:>10,} B  {rows}  sha256 {m['sha256']}")
    lines.append("Nothing was uploaded: upload the package by hand; `sha256sum -c checksums.sha256` inside the "
                 "unpacked directory verifies it.")
    for line in lines:
        out.print(escape(line), highlight=False)
    typer.echo(package.path)


# --- consent -------------------------------------------------------------------------------

@consent_app.command("grant")
def consent_grant(
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory (env LEARNING_SOURCE_DIR, "
                                                       "else the bundled sample)."),
    note: str = typer.Option(None, "--note", help="Free text kept with the consent record (stays local)."),
) -> None:
    """Allow exports of a project's learning data (anonymized; nothing is uploaded automatically)."""
    from learning_assets import audit
    from learning_assets.consent import ConsentStore

    src = source_dir(source)
    home = learning_dir()
    rec = ConsentStore(home).grant(src, note=note)
    audit.append(home, "consent_grant", source=rec["source"])
    console.print(f"consent granted for {rec['source']} by {rec['granted_by']} at {rec['granted_at']}. Exports "
                  f"hold only anonymized data and stay on this machine until you upload a package yourself; "
                  f"revoke with `learning consent revoke --source {rec['source']}`.", highlight=False, soft_wrap=True)


@consent_app.command("revoke")
def consent_revoke(
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory (env LEARNING_SOURCE_DIR, "
                                                       "else the bundled sample)."),
    output: Path = typer.Option(None, "--output", help="Also look for pending packages in this export directory "
                                                       "(env LEARNING_EXPORT_DIR, else ./export)."),
) -> None:
    """Stop exports of a project (scheduled ones too) and delete its pending submission packages."""
    from learning_assets import audit
    from learning_assets.consent import ConsentStore, project_key
    from learning_assets.submit import packages

    src = Path(source or os.environ.get("LEARNING_SOURCE_DIR") or SAMPLE_DIR).expanduser()
    key = project_key(src)  # the directory may be gone already; revoking must still work
    home = learning_dir()
    rec = ConsentStore(home).revoke(src)
    entries = audit.read(home)
    export_ids = {e.get("export_id") for e in entries if e.get("event") in ("export", "submission")
                  and e.get("source") == key}
    candidates = {Path(e["package"]) for e in entries if e.get("event") == "submission" and e.get("source") == key
                  and e.get("package")}
    roots = {export_root(output)} | {Path(e["path"]).parent.parent for e in entries
                                      if e.get("event") == "export" and e.get("source") == key and e.get("path")}
    for root in roots:
        candidates.update(packages(root, export_ids))
    deleted, failed = [], []
    for pkg in sorted(candidates):
        try:
            pkg.unlink()
            deleted.append(str(pkg))
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed.append(f"{pkg} ({os_words(exc)})")
    audit.append(home, "consent_revoke", source=key, packages_deleted=deleted, packages_not_deleted=failed)
    if rec is None:
        console.print(f"no consent was recorded for {key}; exports of it stay refused", highlight=False,
                      soft_wrap=True)
    else:
        console.print(f"consent revoked for {key} by {rec['revoked_by']} at {rec['revoked_at']}; exports of it, "
                      f"scheduled ones included, are refused from now on", highlight=False, soft_wrap=True)
    for pkg in deleted:
        console.print(f"deleted pending submission package {pkg}", highlight=False, soft_wrap=True)
    if failed:
        raise CliError(f"could not delete {len(failed)} pending package(s): {'; '.join(failed)}")


@consent_app.command("status")
def consent_status(
    source: Path = typer.Option(None, "--source", help="Only this project (default: every recorded project)."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Show who granted or revoked export consent, and when."""
    from rich.table import Table

    from learning_assets.consent import ConsentStore, project_key

    store = ConsentStore(learning_dir())
    projects = store.projects()
    if source is not None:
        key = project_key(source)
        projects = {key: projects.get(key) or {"source": key, "granted": False}}
    if as_json:
        typer.echo(json.dumps(projects, indent=1, sort_keys=True))
        return
    if not projects:
        out.print("no consent recorded; grant it with `learning consent grant --source DIR`", highlight=False)
        return
    table = Table(title=f"Export consent ({store.path})", title_justify="left")
    for col in ("project", "status", "by", "at"):
        table.add_column(col)
    for key, rec in sorted(projects.items()):
        if rec.get("granted"):
            table.add_row(key, "[green]granted[/green]", rec.get("granted_by", ""), rec.get("granted_at", ""))
        elif rec.get("revoked_at"):
            table.add_row(key, "[red]revoked[/red]", rec.get("revoked_by", ""), rec.get("revoked_at", ""))
        else:
            table.add_row(key, "[yellow]not granted[/yellow]", "", "")
    out.print(table)


# --- audit ---------------------------------------------------------------------------------

def _audit_details(e: dict) -> str:
    event = e.get("event")
    if event == "export":
        opts = e.get("options") or {}
        fmt = "both" if opts.get("parquet", True) and opts.get("json_document", True) else (
            "parquet" if opts.get("parquet", True) else "json")
        windowed = opts.get("since") or opts.get("until")
        window = f" {opts.get('since') or '…'}..{opts.get('until') or '…'}" if windowed else ""
        checks = e.get("checks") or []
        ok = sum(1 for c in checks if c.get("passed"))
        return (f"{len(e.get('files') or [])} files, format {fmt}{' gz' if opts.get('compress_json') else ''}{window},"
                f" checks {ok}/{len(checks)}, schema {e.get('schema_version')}")
    if event == "submission":
        return f"{Path(e.get('package', '')).name} ({e.get('bytes', 0):,} bytes, sha256 {str(e.get('sha256'))[:12]})"
    if event == "consent_revoke":
        n = len(e.get("packages_deleted") or [])
        return f"{e.get('source')}; {n} package(s) deleted"
    if event == "damaged":
        return f"unreadable line {e.get('line')}"
    return str(e.get("source") or "")


@app.command("audit")
def audit_log(
    as_json: bool = typer.Option(False, "--json", help="Print the entries as a JSON array."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the newest N entries."),
) -> None:
    """List the audit trail: every export, submission and consent change (newest last)."""
    from rich.table import Table

    from learning_assets import audit

    home = learning_dir()
    entries = audit.read(home)
    if limit:
        entries = entries[-limit:]
    if as_json:
        typer.echo(json.dumps(entries, indent=1))
        return
    if not entries:
        out.print(f"the audit trail is empty ({audit.audit_path(home)})", highlight=False)
        return
    table = Table(title=f"Audit trail ({audit.audit_path(home)})", title_justify="left")
    for col in ("time (UTC)", "event", "user", "export", "run"):
        table.add_column(col, no_wrap=True)
    table.add_column("details", overflow="fold")
    for e in entries:
        when = str(e.get("time", ""))[:16].replace("T", " ")
        table.add_row(when, str(e.get("event", "")), str(e.get("user", "")), str(e.get("export_id") or ""),
                      str(e.get("run_id") or "")[:8], escape(_audit_details(e)))
    out.print(table)


# --- commands registered by other modules (keep these hook lines) ---------------------------

from learning_assets import cli_validate  # noqa: E402

cli_validate.register(app)  # `learning validate`, `learning migrate`, `learning data-docs`

# --- entry point ---------------------------------------------------------------------------

def _kinds(exc: BaseException) -> set[str]:
    """Class names in an exception's hierarchy (typer vendors click, so match by name)."""
    return {c.__name__ for c in type(exc).__mro__}


def _one_line(exc: BaseException) -> str:
    if "UsageError" in _kinds(exc):
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        return " ".join(exc.format_message().split()) + where
    if "ClickException" in _kinds(exc):
        return " ".join(exc.format_message().split())
    if isinstance(exc, OSError) and exc.errno in OS_ERRORS:
        target = f": {exc.filename}" if exc.filename else ""
        return f"{os_words(exc)}{target}"
    known = ("CliError", "ConsentRequired", "ExportFailed", "SubmitError", "NoExport", "InvalidWindow")
    text = str(exc) if type(exc).__name__ in known else f"{type(exc).__name__}: {exc}"
    if "database or disk is full" in text or f"[Errno {errno.ENOSPC}]" in text:  # e.g. the instance's SQLite
        return f"no space left on device (instance {os.environ.get('DAGSTER_HOME')})"
    return " ".join(text.strip().split("\n")[0].split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore")  # Dagster's beta/preview notices are not for end users
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args[1:]:  # accepted anywhere, not only before the command
        args = ["--debug", *[a for a in args if a != "--debug"]]
    try:
        rc = app(args=args, prog_name="learning", standalone_mode=False)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the CLI's promise: one line, never a traceback
        kinds = _kinds(exc)
        if "NoArgsIsHelpError" in kinds:  # `learning` alone: the help was shown
            sys.exit(2)
        if "Exit" in kinds and hasattr(exc, "exit_code"):
            sys.exit(exc.exit_code)
        if DEBUG["on"] or "--debug" in args:
            traceback.print_exc()
        if kinds & {"Abort", "KeyboardInterrupt"}:
            console.print("[red]error:[/red] interrupted", highlight=False)
            sys.exit(130)
        console.print(f"[red]error:[/red] {escape(_one_line(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2 if "UsageError" in kinds else 1)
    sys.exit(rc if isinstance(rc, int) else 0)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks.")) -> None:
    DEBUG["on"] = debug


from learning_assets.cli_backfill import register as _register_incremental  # noqa: E402

_register_incremental(app)  # `learning backfill`, `learning snapshot`


if __name__ == "__main__":
    main()
