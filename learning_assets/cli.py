"""The `learning` command: runs the same Dagster assets in-process against the configured instance."""

from __future__ import annotations

import os
import shutil
import sys
import traceback
import warnings
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Anonymized, validated exports of agent learning data.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
console = Console(stderr=True)
DEBUG = {"on": False}
REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


class CliError(Exception):
    """An error the user can act on; printed as one line."""


def instance_home() -> Path:
    """$DAGSTER_HOME, else ./.dagster_home; seeded with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if not (home / "dagster.yaml").exists() and REPO_DAGSTER_YAML.is_file():
        shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")
    return home


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks.")) -> None:
    DEBUG["on"] = debug


@app.command()
def export(
    source: Path = typer.Option(None, "--source", help="Project or .tapps-agents directory [env LEARNING_SOURCE_DIR]."),
    output: Path = typer.Option(None, "--output", help="Export directory [env LEARNING_EXPORT_DIR]."),
    compress: bool = typer.Option(False, "--compress", help="gzip the JSON document."),
) -> None:
    """Materialize every asset in-process and publish an export."""
    from learning_assets.run import run_export

    if source is not None and not source.is_dir():
        raise CliError(f"{source}: source directory does not exist")
    instance_home()
    result = run_export(source=str(source) if source else None, output=str(output) if output else None,
                        compress_json=compress)
    typer.echo(result.path)


def main() -> None:
    warnings.filterwarnings("ignore")  # Dagster's beta/preview notices are not for end users
    try:
        app(standalone_mode=False)
    except CliError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)
    except (typer.Exit, SystemExit) as exc:
        sys.exit(getattr(exc, "exit_code", getattr(exc, "code", 0)))
    except Exception as exc:  # noqa: BLE001 - the CLI's promise: one line, never a traceback
        if DEBUG["on"]:
            traceback.print_exc()
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}".splitlines()[0], highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
