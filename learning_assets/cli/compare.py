"""`learning insights compare`: the project's latest export beside a shared-insights release."""

from __future__ import annotations

from pathlib import Path

import typer

from learning_assets.cli.app import (
    CliError,
    console,
    export_root,
    os_words,
    out,
    published_export,
)
from learning_assets.cli.insights import insights_app
from learning_assets.exportfiles.atomic import write_atomic


@insights_app.command()
def compare(
    release: Path = typer.Option(..., "--release", help="The release: its insights.json, its directory "
                                 "(releases/<id>/), or a receiver's store (its releases/LATEST)."),
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    export_id: str = typer.Option(None, "--export", help="Export id (default: the latest)."),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report to this file instead."),
) -> None:
    """This project's metrics beside the pool's: where it is behind, and the best practices that apply."""
    from learning_assets.insights.compare import compare as build
    from learning_assets.insights.compare import load_release
    from learning_assets.reports.comparison import render_html, render_terminal

    loaded = load_release(release)
    path = published_export(export_root(output), export_id)
    comparison = build(path, loaded)
    if html is None:
        render_terminal(comparison, out)
        return
    target = html.expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, render_html(comparison).encode("utf-8"))
    except OSError as exc:
        raise CliError(f"{target}: cannot write the HTML report ({os_words(exc)})") from None
    s = comparison.summary()
    console.print(f"export {comparison.export_id} beside release {comparison.release_id}: {s['compared']} compared, "
                  f"{s['behind']} behind the pool, {s['practices']} practices apply; written (self-contained, opens "
                  "offline)", highlight=False)
    typer.echo(target)
