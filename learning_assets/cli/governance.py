"""`learning submit`, `learning withdraw`, `learning consent` and `learning audit`: what leaves the machine,
with whose consent, and how it is taken back."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from learning_assets.cli.app import (
    CliError,
    app,
    consent_app,
    console,
    export_root,
    learning_dir,
    os_words,
    out,
    published_export,
    source_dir,
    source_path,
)
from learning_assets.governance import audit
from learning_assets.governance.audit import find_export, read
from learning_assets.governance.consent import (
    ConsentRequired,
    ConsentStore,
    project_key,
)
from learning_assets.governance.identity import installation, signing_key
from learning_assets.governance.submit import (
    SubmitError,
    Summary,
    build_package,
    packages,
    submissions_dir,
    summarize,
)
from learning_assets.governance.withdrawal import write_request


def _export_source(home: Path, export_dir: Path) -> str:
    """The source directory an export was made from, per the audit trail (needed to check consent)."""

    entry = find_export(home, export_dir.name)
    if entry is None:
        try:
            metadata = json.loads((export_dir / "export_metadata.json").read_bytes())
        except (OSError, ValueError, RecursionError):
            metadata = None
        project = metadata.get("project_hash") if isinstance(metadata, dict) else None
        entry = next((e for e in reversed(read(home)) if e.get("event") == "export" and project
                      and e.get("project") == project), None)
    if entry is None or not entry.get("source"):
        raise CliError(f"export {export_dir.name} is not in this instance's audit trail, so its project's consent "
                       f"cannot be checked; export it again with `learning export`")
    return entry["source"]


def print_summary(summary: Summary) -> None:
    """What the package would hold: its tables with rows and bytes, and what the anonymization generalized."""
    table = Table(title=f"Export {summary.export_id}: what the package would hold", title_justify="left")
    for col, kw in [("file", {}), ("rows", {"justify": "right"}), ("bytes", {"justify": "right"})]:
        table.add_column(col, **kw)
    for t in summary.tables:
        table.add_row(escape(str(t["path"])), "" if t["rows"] is None else f"{t['rows']:,}",
                      "" if t["bytes"] is None else f"{t['bytes']:,}")
    out.print(table)
    out.print(f"{summary.files} files, {summary.rows:,} rows, {summary.bytes:,} bytes before packaging",
                  highlight=False)
    if summary.generalized:
        out.print("what the anonymization changed: " + ", ".join(
            f"{escape(k)} {v:,}" for k, v in summary.generalized.items()), highlight=False, soft_wrap=True)
    out.print("`learning preview` shows rows before and after anonymization; the Parquet files hold exactly "
                  "what is listed here.", highlight=False, soft_wrap=True)


@app.command()
def submit(
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    export_id: str = typer.Option(None, "--export", help="Export id (default: the latest)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Build the package without asking (for scripts)."),
) -> None:
    """Show what the latest export holds, then package it (tar.gz with manifest, checksums, anonymization
    report) for manual upload, once you confirm."""

    root = export_root(output)
    path = published_export(root, export_id)
    home = learning_dir()
    source = _export_source(home, path)
    try:
        ConsentStore(home).require(source, refused="nothing was packaged")
    except ConsentRequired as exc:
        raise CliError(str(exc)) from None
    try:
        print_summary(summarize(path))
    except SubmitError as exc:
        raise CliError(str(exc)) from None
    if not yes:
        try:
            confirmed = typer.confirm("Build the submission package?", default=False, err=True)
        except (typer.Abort, EOFError, OSError):  # no answer (stdin closed): not a yes
            console.print("", highlight=False)
            confirmed = False
        if not confirmed:
            raise CliError("not confirmed; nothing was packaged (`--yes` skips the confirmation in scripts)")
    try:
        package = build_package(path, root, home, signing_key(home))
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


@app.command()
def withdraw(
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    export_id: str = typer.Option(None, "--export", help="An export of the project (default: the latest)."),
) -> None:
    """Write a request that erases the project's submissions from the pool, for delivery like a package."""

    root = export_root(output)
    path = published_export(root, export_id)
    try:
        project = json.loads((path / "export_metadata.json").read_bytes()).get("project_hash")
    except (OSError, ValueError, AttributeError):
        project = None
    if not project:
        raise CliError(f"{path}: export_metadata.json names no project; the export is damaged: learning validate "
                       f"{path} lists what else is wrong")
    home = learning_dir()
    submitted = sorted({e["export_id"] for e in audit.read(home) if e.get("event") == "submission"
                        and e.get("project") == project and e.get("export_id")})
    if not submitted:
        raise CliError(f"no submission of project {project} is recorded in this instance's audit trail "
                       f"({audit.audit_path(home)}); nothing to withdraw")
    unit = installation(signing_key(home))  # what the receiver pooled this installation's packages under
    try:
        request = write_request(home, unit, submitted, submissions_dir(root))
    except OSError as exc:
        raise CliError(f"{submissions_dir(root)}: cannot write the request ({os_words(exc)})") from None
    audit.append(home, "withdrawal", project=project, request=str(request), export_ids=submitted)
    out.print(escape(f"withdrawal request for project {project}: {len(submitted)} submission(s) "
                     f"({', '.join(submitted)}). Deliver the file to the receiver like a package; once its intake "
                     f"verifies it, the project's pooled rows are erased and later releases are computed without "
                     f"them. It proves your withdrawal secret: keep it private until delivered."),
              highlight=False)
    typer.echo(request)


# --- consent -------------------------------------------------------------------------------

@consent_app.command("grant")
def consent_grant(
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory (env LEARNING_SOURCE_DIR, "
                                                       "else the bundled sample)."),
    note: str = typer.Option(None, "--note", help="Free text kept with the consent record (stays local)."),
) -> None:
    """Allow exports of a project's learning data (anonymized; nothing is uploaded automatically)."""

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

    src = source_path(source)
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
    if event == "withdrawal":
        return (f"{Path(e.get('request', '')).name} (project {e.get('project')}, "
                f"{len(e.get('export_ids') or [])} submission(s))")
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


