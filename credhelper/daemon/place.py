"""Where the warm daemon lives (``$XDG_RUNTIME_DIR/credhelper-fast``), what it demands of
that directory, and whether a live daemon serves it: the client's own test, for install.sh's
``--stop``, ``credhelper doctor`` and the tests."""

from __future__ import annotations

import posix
from contextlib import suppress

DIRECTORY = "credhelper-fast"


class Refused(Exception):
    """The daemon's directory cannot be trusted, or another daemon holds it."""


def refuse_unless_private(path: str, exact: bool) -> None:
    """A real directory of this user's that nobody else can write (``exact``: 0700)."""
    info = posix.lstat(path)
    mode = info.st_mode & 0o7777
    if info.st_uid != posix.getuid() or info.st_mode & 0o170000 != 0o040000 or \
            (mode != 0o700 if exact else mode & 0o022):
        raise Refused("%s is not a private directory of this user" % path)


def unlink_quietly(path: str) -> None:
    with suppress(FileNotFoundError):
        posix.unlink(path)


def live_pid(runtime_dir: str) -> int | None:
    """The pid of the daemon serving ``runtime_dir``, by the client's own test."""
    directory = runtime_dir.rstrip("/") + "/" + DIRECTORY
    try:
        with open(directory + "/pid", "rb") as handle:
            pid, fd = (int(field) for field in handle.read(64).split(b"\n")[:2])
        same = posix.stat("/proc/%d/fd/%d" % (pid, fd)), posix.stat(directory + "/rep.0")
    except (OSError, ValueError):
        return None
    return pid if (same[0].st_dev, same[0].st_ino) == (same[1].st_dev, same[1].st_ino) \
        else None
