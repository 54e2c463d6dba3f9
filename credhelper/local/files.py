"""Private files: 0700 directories, 0600 files, atomic replacement, and a cross-process lock.

Every write goes to a temporary file in the same directory, is fsynced, renamed over the old
file, and the directory is fsynced, so a crash leaves either the old or the new content, never a
torn file.  Readers take no lock: a rename is atomic, so they see one version or the other.
"""

from __future__ import annotations

import errno
import json
import os

from credhelper.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (and parents) 0700; tighten an existing one that is group/world readable."""
    os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)


def write_private(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (bytes), mode 0600, durable when this returns."""
    directory = os.path.dirname(path)
    ensure_private_dir(directory)
    temp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        _unlink_quietly(temp)
        raise
    _fsync_dir(directory)


def read_json(path: str, default: Any) -> Any:
    """The parsed content of ``path``, or ``default`` when it does not exist."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return default
    except OSError as error:
        raise ConfigError("cannot read %s: %s" % (path, error.strerror)) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ConfigError("%s is not valid JSON; fix or move it away" % path) from None


def write_json(path: str, value: Any) -> None:
    write_private(path, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")


class LockTimeout(Exception):
    """The lock stayed taken longer than the caller could wait."""


class FileLock:
    """An exclusive advisory lock on ``path`` (created 0600), held across processes.

    Used for read-modify-write of the data files (readers never need it) and to let one
    process at a time rotate a token.  The kernel drops it when the holder dies, even by
    SIGKILL, so a crash never leaves a stale lock.  With ``timeout`` (seconds), waiting longer
    raises LockTimeout.
    """

    def __init__(self, path: str, timeout: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        import fcntl

        ensure_private_dir(os.path.dirname(self.path))
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        if self.timeout is None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            return self
        import time

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    self._fd = None
                    raise LockTimeout(self.path) from None
                time.sleep(0.01)  # flock has no timed wait; poll the holder's release

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        os.close(self._fd)  # closing releases the flock
        self._fd = None


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EBADF):  # some filesystems cannot
            raise
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
