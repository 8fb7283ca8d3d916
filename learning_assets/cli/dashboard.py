"""`learning dashboard`: the learning metrics of the latest export."""

from __future__ import annotations

from pathlib import Path

import typer

from learning_assets.cli.app import (
    CliError,
    app,
    console,
    export_root,
    os_words,
    out,
    published_export,
)
from learning_assets.exportfiles.atomic import write_atomic


@app.command()
def dashboard(
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    export_id: str = typer.Option(None, "--export", help="Export id (default: the latest)."),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report to this file instead."),
    top: int = typer.Option(10, "--top", min=1, max=200, help="Rows in the capability and pattern tables."),
) -> None:
    """Learning metrics of the latest export: capabilities, top patterns, agents per day."""
    from learning_assets.reports.dashboard import (
        NoExport,
        build,
        render_html,
        render_terminal,
    )

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
        write_atomic(target, render_html(dash).encode("utf-8"))
    except OSError as exc:
        raise CliError(f"{target}: cannot write the HTML report ({os_words(exc)})") from None
    console.print(f"dashboard of export {dash.export_id} written (self-contained, opens offline)", highlight=False)
    typer.echo(target)


