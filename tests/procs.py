"""Helpers for tests that run real processes (servers, the CLI): start in a new process group, stop it all;
run one without root's power over file permissions."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PR_CAPBSET_DROP = 24  # prctl(2)
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2  # capability(7)


def without_file_privileges() -> None:
    """A `preexec_fn`: as root, drop the capabilities that let root read, write and search regardless of
    file modes, so the program run next meets permissions as an unprivileged user does (a `chmod 000` file
    is unreadable). Not `setuid(nobody)`: the interpreter (here under /root) may be out of nobody's reach.
    Nothing to drop for a user who is not root."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _default_signals() -> None:
    # A process started from a background job inherits SIGINT ignored; `dagster dev` stops its
    # children with SIGINT, so give the group default handlers back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_group(cmd: list[str], *, cwd, env: dict, log: Path | None = None,
                stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """Start `cmd` as the leader of a new session (and process group), output to `log`."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_default_signals)
    finally:
        if log is not None:
            out.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left after `grace` seconds.

    Waits until no process of the group remains (children that ignore SIGTERM included).
    """
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not linger as a zombie
            if not _group_alive(pgid):
                break
            time.sleep(0.2)
        else:
            continue
        break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
