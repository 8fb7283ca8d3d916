"""`learning validate`, `learning migrate` and `learning data-docs`: schemas and data quality from the command line.

Checking a document needs only `jsonschema`; what needs pandas (the table specs behind a migration, the
package reader, Great Expectations) is imported inside the command that uses it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import typer

from learning_assets.cli.app import (
    CliError,
    app,
    console,
    export_root,
    published_export,
)
from learning_assets.errors import one_line
from learning_assets.exportfiles.manifest import SUBMISSION
from learning_assets.exportfiles.versions import (
    DOCUMENT_NAMES,
    ExportSchemaError,
    Issue,
    SchemaVersionError,
    check_path,
    declared_version,
    read_json,
)


def _print_issues(issues, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([{"severity": i.severity, "file": i.file, "path": i.path, "message": i.message}
                               for i in issues], indent=1))
        return
    for i in issues:
        where = f"{i.file}  " if i.file else ""
        typer.echo(f"{i.severity:<7} {where}{i.path}: {i.message}")


@app.command("validate")
def validate(
    path: Path = typer.Argument(..., help="An export file (learning_export.json[.gz], export_metadata.json, "
                                          "manifest.json, anonymization_report.json, a package's SUBMISSION.json) "
                                          "or an export directory (or unpacked submission package); ours "
                                          "(schema 1.1) or the framework's (1.0)."),
    allow_warnings: bool = typer.Option(False, "--allow-warnings",
                                        help="Succeed when there are warnings but no errors."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check an export against the JSON Schema of its declared version; errors name their JSON path.

    Exit code 0 when valid, 1 on errors, and 1 on warnings unless --allow-warnings.
    """

    from learning_assets.insights.package import Rejected, verify_checksums

    if not path.exists():
        raise CliError(f"{path}: no such file or directory")
    try:
        issues = check_path(path)
        if path.is_dir() and (path / SUBMISSION).is_file():  # an unpacked submission package
            verify_checksums(path)
    except Rejected as exc:
        issues.append(Issue("$", exc.reason, "error", path.name))
    _print_issues(issues, as_json)
    errors = sum(i.severity == "error" for i in issues)
    warnings = sum(i.severity == "warning" for i in issues)
    version = ""
    try:
        doc_path = next((path / n for n in DOCUMENT_NAMES if (path / n).is_file()), None) if path.is_dir() else path
        if doc_path is not None:
            version = f" (schema {declared_version(read_json(doc_path))})"
    except ValueError:
        pass
    if errors:
        console.print(f"{path}: INVALID{version}: {errors} error(s), {warnings} warning(s)", highlight=False,
                      soft_wrap=True)
        raise typer.Exit(1)
    if warnings and not allow_warnings:
        console.print(f"{path}: valid{version} but with {warnings} warning(s); pass --allow-warnings to accept",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"{path}: valid{version}" + (f", {warnings} warning(s) allowed" if warnings else ""),
                  highlight=False, soft_wrap=True)


@app.command("migrate")
def migrate(
    path: Path = typer.Argument(..., help="A schema 1.0 export document (.json or .json.gz)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here (.gz to compress); default stdout."),
    to: str = typer.Option("1.1", "--to", help="Target schema version."),
) -> None:
    """Convert an export document to a newer schema version (the framework's 1.0 to our 1.1)."""

    from learning_assets.exportfiles.migration import migrate as migrate_doc

    doc = read_json(path)
    try:
        migrated = migrate_doc(doc, to)
    except (SchemaVersionError, ExportSchemaError) as exc:
        raise CliError(f"{path}: {exc}") from None
    except RecursionError:
        raise CliError(f"{path}: too deeply nested to migrate") from None
    data = json.dumps(migrated, indent=1) + "\n"
    if output is None:
        typer.echo(data, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(gzip.compress(data.encode(), mtime=0) if output.name.endswith(".gz")
                           else data.encode())
    except OSError as exc:
        raise CliError(f"{output}: cannot write ({exc.strerror or exc})") from None
    console.print(f"{path} -> {output} (schema {to})", highlight=False, soft_wrap=True)


@app.command("data-docs")
def data_docs(
    export: Path = typer.Argument(None, help="An export directory; default the latest published export."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Where to write the HTML; default <export dir>/data_docs/<export id>."),
    export_dir: Path = typer.Option(None, "--export-dir",
                                    help="Export root holding exports/ and LATEST (env LEARNING_EXPORT_DIR, else ./export)."),
) -> None:
    """Run the Great Expectations suites over an export and write their Data Docs (HTML); prints index.html."""
    from learning_assets.quality.validate import build_data_docs

    if export is None:
        root = export_root(export_dir)
        export = published_export(root, None)
    elif not export.is_dir():
        raise CliError(f"{export}: no such export directory")
    else:
        root = export.resolve().parent.parent
    target = output or root / "data_docs" / export.name
    console.print(f"validating {export} with Great Expectations…", highlight=False, soft_wrap=True)
    try:
        index = build_data_docs(export, target)
    except OSError as exc:
        raise CliError(f"{target}: cannot write the Data Docs ({exc.strerror or exc})") from None
    except ValueError as exc:  # a damaged JSON or Parquet file of the export
        raise CliError(f"{export}: the export is damaged ({one_line(str(exc))}); `learning validate {export}` "
                       f"names the files") from None
    typer.echo(index)
