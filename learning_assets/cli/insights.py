"""`learning insights pool`: the receiving side from the command line, for an operator."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.markup import escape

from learning_assets.cli.app import CliError, app, console, instance_home

insights_app = typer.Typer(help="Shared insights: take in submissions and withdrawals and make releases (the receiving "
                                "side); compare this project with a release.",
                           no_args_is_help=True)
app.add_typer(insights_app, name="insights")


def _describe(decision: dict) -> str:
    name = decision.get("file") or decision.get("submission")
    if decision.get("status") == "rejected":
        what = "refused" if decision["kind"] == "withdrawal" else "rejected"
        return f"{name}: {what} ({decision.get('code')}): {decision.get('reason')}"
    if decision["kind"] == "withdrawal":
        return f"{name}: erased project {decision.get('project')} ({decision.get('erased_rows', 0)} rows)"
    rows = sum((decision.get("rows") or {}).values())
    return f"{name}: {decision.get('status')} (project {decision.get('project')}, {rows} rows)"


@insights_app.command("pool")
def pool(
    inbox: Path = typer.Option(None, "--inbox", help="Where packages and withdrawal requests arrive "
                                                     "(env LEARNING_INBOX_DIR, else ./inbox)."),
    state: Path = typer.Option(None, "--state", help="The receiver's state and releases "
                                                     "(env LEARNING_INSIGHTS_DIR, else ./shared_insights)."),
    release: bool = typer.Option(False, "--release", help="Then make a differentially private release "
                                                          "(spends its epsilon)."),
    epsilon: float = typer.Option(None, "--epsilon", min=0.001, help="Privacy budget of the release "
                                                                     "(default 4)."),
) -> None:
    """Take in every new package and withdrawal request in the inbox, purge expired rows, optionally release."""
    from learning_assets.defs.insights.run import run_pool

    inbox = Path(inbox or os.environ.get("LEARNING_INBOX_DIR") or "inbox").expanduser().resolve()
    state = Path(state or os.environ.get("LEARNING_INSIGHTS_DIR") or "shared_insights").expanduser().resolve()
    if not inbox.is_dir():
        raise CliError(f"{inbox}: inbox directory does not exist")
    instance_home()
    result = run_pool(str(inbox), str(state), release=release, epsilon=epsilon,
                      on_decision=lambda d: console.print(escape(_describe(d)), highlight=False, soft_wrap=True))
    if result.skipped:
        console.print(escape(result.skipped), highlight=False, soft_wrap=True)
    if result.projects_expired:
        console.print(f"{result.projects_expired} project(s) erased: received longer ago than the retention age",
                      highlight=False)
    if result.release is None:
        typer.echo(state)
        return
    r = result.release
    console.print(f"release {r['release_id']}: {r['rows_published']} row(s) published, epsilon "
                  f"{r['epsilon_spent']:.3g}, delta {r['delta_spent']:.3g} (lifetime epsilon "
                  f"{r['lifetime_epsilon']:.3g}, delta {r['lifetime_delta']:.3g})",
                  highlight=False)
    typer.echo(r["path"])
