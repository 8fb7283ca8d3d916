"""The `learning` app and what its commands share: one-line errors, the consoles, and where things are.

Progress, summaries and errors go to stderr; what a command produces goes to stdout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from learning_assets.errors import UserError, os_words
from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.governance.consent import learning_home, project_key

app = typer.Typer(help="Anonymized, validated exports of agent learning data.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
consent_app = typer.Typer(help="Grant, revoke or show export consent for a project.", no_args_is_help=True)
app.add_typer(consent_app, name="consent")
# Progress, summaries and errors on stderr; what a command produces on stdout. Not on a terminal
# (logs, pipes), tables get a fixed, generous width instead of rich's 80 columns.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
DEBUG = {"on": False}
REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"


class CliError(UserError):
    """An error the user can act on; printed as one line."""


class Format(str, Enum):
    parquet = "parquet"
    json = "json"
    both = "both"


# --- locations -----------------------------------------------------------------------------

def instance_home() -> Path:
    """$DAGSTER_HOME, else ./.dagster_home; seeded with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists() and REPO_DAGSTER_YAML.is_file():
            shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")
    except OSError as exc:
        raise CliError(f"{home}: cannot set up the Dagster instance home ({os_words(exc)})") from None
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def learning_dir() -> Path:
    """`$DAGSTER_HOME/learning`: consent, audit trail and the anonymization key."""

    return learning_home(instance_home())


def source_path(source: Path | None) -> Path:
    """--source, else $LEARNING_SOURCE_DIR, else the bundled sample (it need not exist)."""
    return Path(source or os.environ.get("LEARNING_SOURCE_DIR") or SAMPLE_DIR).expanduser()


def source_dir(source: Path | None) -> Path:
    """`source_path`, which must be a readable directory."""
    path = source_path(source)
    if not path.exists():
        raise CliError(f"{path}: source directory does not exist")
    if not path.is_dir():
        raise CliError(f"{path}: source is not a directory")
    root = Path(project_key(path))
    try:
        os.listdir(root)
    except PermissionError:
        raise CliError(f"{root}: permission denied reading the source directory") from None
    except OSError as exc:
        raise CliError(f"{root}: cannot read the source directory ({os_words(exc)})") from None
    return path


def export_root(output: Path | None) -> Path:
    """--output, else $LEARNING_EXPORT_DIR, else ./export."""
    return Path(output or os.environ.get("LEARNING_EXPORT_DIR") or "export").expanduser().resolve()


def ensure_writable(path: Path) -> None:
    """Create the export directory and prove a file can be written there, or fail with one line."""
    probe = path / f".write-test-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        try:
            with open(probe, "wb") as fh:
                fh.write(b"ok")
        finally:  # also when the write failed: a full disk still lets the empty file be created
            with contextlib.suppress(OSError):
                probe.unlink()
    except OSError as exc:
        raise CliError(f"{path}: cannot write to the export directory ({os_words(exc)})") from None


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def published_export(root: Path, export_id: str | None) -> Path:
    """The named (or newest) published export under an export directory."""
    if export_id:
        path = root / "exports" / export_id
        if not path.is_dir():
            raise CliError(f"{path}: no such published export")
        return path
    pointer = root / "LATEST"
    if pointer.is_file():
        try:
            name = pointer.read_text(errors="replace").strip()
        except OSError as exc:
            raise CliError(f"{pointer}: cannot read it ({os_words(exc)}); name the export with --export") from None
        path = root / "exports" / name
        if name and name == Path(name).name and not name.startswith(".") and path.is_dir():
            return path
        raise CliError(f"{pointer} names no published export; name one of {root / 'exports'} with --export")
    raise CliError(f"{root}: no published export yet; run `learning export --output {root}` first")


def write_private_html(html: Path, root: Path, page: str, holds: str, what: str) -> Path:
    """Write a page that holds the owner's own values (`holds`, for the refusal) as a 0600 file outside the
    export directory `root`, which only ever receives what may leave the machine; returns its path."""
    target = html.expanduser().resolve()
    if target == root or root in target.parents:
        raise CliError(f"{target}: {holds}; write it outside the export directory {root}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, page.encode("utf-8"), mode=0o600)
        target.chmod(0o600)
    except OSError as exc:
        raise CliError(f"{target}: cannot write the {what} ({os_words(exc)})") from None
    return target


def anonymization_key(create: bool = True) -> bytes | None:
    """The key an export uses: $LEARNING_ANONYMIZATION_KEY, else the instance's key file. Without `create`,
    None when there is no key yet (nothing was exported, so there is nothing to map back)."""
    from learning_assets.privacy.keyfile import SecretKeyError
    from resources.anonymization import Anonymization, default_key_file

    instance_home()
    env_key = os.environ.get("LEARNING_ANONYMIZATION_KEY") or None
    if env_key is None and not create and not default_key_file().is_file():
        return None
    try:
        return Anonymization(key=env_key).secret()
    except SecretKeyError as exc:
        raise CliError(str(exc)) from None
