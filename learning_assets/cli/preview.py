"""`learning preview`: what an export of a source would hold, before and after anonymization, side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from learning_assets.cli.app import (
    CliError,
    anonymization_key,
    app,
    console,
    export_root,
    out,
    source_dir,
    write_private_html,
)


@app.command()
def preview(
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory (env LEARNING_SOURCE_DIR, "
                                                       "else the bundled sample)."),
    output: Path = typer.Option(None, "--output", help="Export directory the export would go to (env "
                                                       "LEARNING_EXPORT_DIR, else ./export); nothing is written there."),
    rows: int = typer.Option(5, "--rows", min=1, max=10000, help="Rows shown per table."),
    table: list[str] = typer.Option(None, "--table", help="Show only this table (repeatable)."),
    find: str = typer.Option(None, "--find", help="Show the rows whose source values hold this text (any case), "
                                                  "and whether any exported value still would."),
    html: Path = typer.Option(None, "--html", help="Write the preview as a self-contained HTML file (mode 0600: it "
                                                   "holds raw values) instead of printing it."),
) -> None:
    """Each table's rows before and after anonymization, what changed them, and the files an export would
    hold. Reads the source as `learning export` does; writes nothing except the --html file."""
    from zoneinfo import ZoneInfo

    from learning_assets.reports.preview import build, render_html, render_terminal
    from learning_assets.sources.readers import resolve_source_root
    from learning_assets.tables import TABLE_NAMES

    unknown = sorted(set(table or ()) - set(TABLE_NAMES))
    if unknown:
        raise CliError(f"no table {', '.join(unknown)}; the tables are {', '.join(TABLE_NAMES)}")
    src = source_dir(source)
    root = export_root(output)
    key = anonymization_key()
    view = build(resolve_source_root(src), ZoneInfo("UTC"), key, rows=rows, tables=list(table) if table else None,
                 find=find, export_dir=root)
    if html is None:
        render_terminal(view, out)
        return
    target = write_private_html(html, root, render_html(view), "the preview holds raw values", "preview")
    console.print(f"preview of {src} written (self-contained, holds raw values, readable by you only)",
                  highlight=False, soft_wrap=True)
    typer.echo(target)
