"""Child daemons for tests: started so they cannot outlive the test run,
stopped as a whole process group, and found again by an environment marker.

Used by ``registry`` (docker-registry) and ``secret_service`` (dbus-daemon,
gnome-keyring-daemon); both start their daemons with
``start_new_session=True, preexec_fn=die_with_parent()``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from pathlib import Path
from typing import Callable

__all__ = ["die_with_parent", "marked_processes", "terminate_group"]


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM if we die (Linux).

    So a test run killed with SIGKILL (e.g. a CI timeout) does not leave
    daemons behind.  PR_SET_PDEATHSIG fires when the *thread* that forked
    exits, so start daemons from a long-lived thread (the main thread).
    """
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # parent already gone
            os._exit(1)

    return preexec


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_exited(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until ``proc`` has exited *without reaping it*.

    While the leader is an unreaped zombie its PID (= the process-group ID)
    cannot be reused, so signalling the group afterwards is safe.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        return proc.returncode is not None
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def terminate_group(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM the process group led by ``proc``, SIGKILL what is left, reap."""
    if proc.returncode is None:
        pgid = proc.pid  # start_new_session=True: leader of its own group
        _killpg(pgid, signal.SIGTERM)
        if not _wait_exited(proc, timeout):
            _killpg(pgid, signal.SIGKILL)
            _wait_exited(proc, timeout)
        if proc.returncode is None:
            _killpg(pgid, signal.SIGKILL)  # stragglers in the group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def marked_processes(variable: str, value: str) -> list[int]:
    """Live (non-zombie) processes whose initial environment holds ``VARIABLE=VALUE``.

    A daemon started with the marker passes it on to anything it spawns, so
    this finds every process a test started, wherever it was reparented.
    """
    needle = f"{variable}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if needle not in environ.split(b"\0"):
            continue
        state = stat.rsplit(")", 1)[1].split()[0]
        if state not in ("Z", "X"):
            found.append(int(entry.name))
    return found
