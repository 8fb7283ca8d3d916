"""`learning backfill` and `learning snapshot`: the incremental exports from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from learning_assets.cli.app import CliError, app, console, instance_home


@app.command("backfill")
def backfill(
    start: str = typer.Option(..., "--from", help="First UTC day to export (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last UTC day to export, inclusive (YYYY-MM-DD)."),
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory (env LEARNING_SOURCE_DIR, else the bundled sample)."),
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
) -> None:
    """Export a range of days to <output>/daily/<table>/<day>.parquet in one run (reruns replace changed days)."""
    from learning_assets.defs.incremental.run import run_backfill, validate_range

    if source is not None and not source.is_dir():
        raise CliError(f"{source}: source directory does not exist")
    try:
        validate_range(start, end)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    instance_home()
    result = run_backfill(start, end, source=str(source) if source else None,
                          output=str(output) if output else None, log_level="CRITICAL")
    for day in result.days:
        rows = ", ".join(f"{t} {n}" for t, n in result.rows.get(day, {}).items())
        console.print(f"{day}  {result.statuses.get(day, '?'):<9}  {rows}", highlight=False, soft_wrap=True)
    typer.echo(result.index)


@app.command("snapshot")
def snapshot(
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory (env LEARNING_SOURCE_DIR, else the bundled sample)."),
    output: Path = typer.Option(None, "--output", help="Export directory (env LEARNING_EXPORT_DIR, else ./export)."),
    as_of: str = typer.Option(None, "--as-of", help="Date of the snapshot (YYYY-MM-DD); default today (UTC)."),
) -> None:
    """Export a dated snapshot of capabilities, refinements and patterns, marking what changed."""
    from learning_assets.defs.incremental.run import run_snapshot
    from learning_assets.exportfiles.incremental import parse_day

    if source is not None and not source.is_dir():
        raise CliError(f"{source}: source directory does not exist")
    if as_of is not None:
        try:
            parse_day(as_of, "--as-of")
        except ValueError as exc:
            raise CliError(str(exc)) from None
    instance_home()
    result = run_snapshot(source=str(source) if source else None, output=str(output) if output else None,
                          as_of=as_of, log_level="CRITICAL")
    console.print(f"snapshot {result.as_of}: {result.status}", highlight=False, soft_wrap=True)
    typer.echo(result.path or result.index)
