"""`learning dashboard`: the owner's learning metrics of the latest export, by the owner's names."""

from __future__ import annotations

from pathlib import Path

import typer

from learning_assets.cli.app import (
    CliError,
    anonymization_key,
    app,
    console,
    export_root,
    learning_dir,
    out,
    published_export,
    write_private_html,
)


def _names_source(source: Path | None, export_dir: Path) -> Path | None:
    """--source, else the directory the export was made from (per the audit trail), if it still exists."""
    from learning_assets.governance.audit import find_export
    from learning_assets.sources.readers import resolve_source_root

    if source is None:
        entry = find_export(learning_dir(), export_dir.name)
        source = Path(entry["source"]) if entry and entry.get("source") else None
    if source is None:
        return None
    root = resolve_source_root(source)
    return root if root.is_dir() else None


def owner_names(source: Path | None, export_dir: Path):
    """The owner's names for the export's pseudonyms, read from the source under the instance's key; None
    (pseudonyms shown) when the source or the key is not there."""
    from zoneinfo import ZoneInfo

    from learning_assets.privacy.pseudonyms import Pseudonymizer
    from learning_assets.reports.names import NAME_TABLES
    from learning_assets.reports.names import owner_names as names_from
    from learning_assets.tables import read_tables

    root = _names_source(source, export_dir)
    key = anonymization_key(create=False) if root is not None else None
    if root is None or key is None:
        return None
    reads = read_tables(root, ZoneInfo("UTC"), list(NAME_TABLES))
    return names_from({name: read.frame() for name, read in reads.items()}, Pseudonymizer(key))


@app.command()
def dashboard(
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    export_id: str = typer.Option(None, "--export", help="Export id (default: the latest)."),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report to this file instead (mode "
                                                   "0600, outside the export directory: it shows your own names)."),
    top: int = typer.Option(10, "--top", min=1, max=200, help="Rows in the capability and pattern tables."),
    source: Path = typer.Option(None, "--source", help="Where to read your names from (default: the directory the "
                                                       "export was made from, per the audit trail)."),
    pseudonyms: bool = typer.Option(False, "--pseudonyms", help="Show names as exported, not mapped back."),
) -> None:
    """Your learning metrics from the latest export, by your own names: capabilities, agents, workflows and
    steps, their success and duration per day, failure reasons. Stays on this machine."""
    from learning_assets.reports.dashboard import (
        NoExport,
        build,
        render_html,
        render_terminal,
    )

    root = export_root(output)
    path = published_export(root, export_id)
    names = None if pseudonyms else owner_names(source, path)
    try:
        dash = build(path, top=top, names=names)
    except NoExport as exc:
        raise CliError(str(exc)) from None
    if html is None:
        render_terminal(dash, out)
        return
    target = write_private_html(html, root, render_html(dash), "the dashboard shows your own names", "HTML report")
    console.print(f"dashboard of export {dash.export_id} written (self-contained, opens offline, readable by you "
                  f"only)", highlight=False)
    typer.echo(target)
