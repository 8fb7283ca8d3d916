"""The `learning` command: runs the same Dagster assets in-process against the configured instance.

    learning export      materialize the export job (consent required), with live progress and a summary
    learning preview     what an export would hold: rows before and after anonymization, side by side
    learning dashboard   learning metrics of the latest export in the terminal, or as a self-contained HTML file
    learning submit      package the latest export as a tar.gz for manual upload
    learning withdraw    a request that erases the project's submissions from the pool, for delivery by hand
    learning consent     grant | revoke | status: export consent per project, kept in the instance home
    learning audit       the append-only log of exports, submissions and consent changes
    learning insights    pool: the receiving side's intake, retention and release, for an operator;
                         compare: the latest export beside a shared-insights release (terminal or HTML)

Every error is one line on stderr and a non-zero exit; `--debug` shows the traceback. Human-readable
progress and summaries go to stderr; what a command produces (the export's path, the package's path,
the dashboard, the audit listing) goes to stdout. Heavy imports (Dagster, pandas) happen only in the
commands that need them, so consent/audit/error paths answer quickly.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
import warnings

import typer
from rich.markup import escape

# Importing a command module registers its commands, in this order in `learning --help`.
# isort: off
from learning_assets.cli import export, preview, dashboard, governance, validate, backfill, insights, compare  # noqa: F401,E501
# isort: on
from learning_assets.cli.app import DEBUG, app, console
from learning_assets.errors import in_words


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
    text = in_words(exc)
    if "database or disk is full" in text or f"[Errno {errno.ENOSPC}]" in text:  # e.g. the instance's SQLite
        return f"no space left on device (instance {os.environ.get('DAGSTER_HOME')})"
    if text.startswith("unexpected error"):
        return f"{text}; rerun with --debug to see where"
    return text


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
