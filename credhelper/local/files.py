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
from credhelper.local.ownership import unsafe_reason

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def refuse_unsafe(info: os.stat_result, path: str) -> None:
    """ConfigError (one line) when ``path`` is not safe to trust; ``info`` comes from the
    opened file's fstat, so what is checked is what is read."""
    reason = unsafe_reason(info, path)
    if reason:
        raise ConfigError(reason)


_safe_dirs: set[str] = set()      # directories checked in this process (one stat each)


def refuse_unsafe_dir(directory: str) -> None:
    if directory not in _safe_dirs:
        refuse_unsafe_path(directory)
        _safe_dirs.add(directory)


def refuse_unsafe_path(path: str) -> None:
    """``refuse_unsafe`` by name, for a file not opened yet (absent is fine)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    refuse_unsafe(info, path)


def ensure_private_dir(path: str) -> None:
    """Create ``path`` and any missing parents 0700; an existing one is never chmodded, only
    refused when others can write it."""
    _create_missing_dirs(path)
    refuse_unsafe(os.stat(path), path)


def _create_missing_dirs(path: str) -> None:
    """Each missing directory on the way to ``path`` 0700, whatever the umask; every
    existing one left exactly as it is."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue                     # another process made it first: it is theirs to set
        os.chmod(directory, PRIVATE_DIR_MODE)  # ours, just made: the umask may have cut bits


def write_private(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (bytes), mode 0600, durable when this returns.

    The directory is not ours to change (``.npmrc`` in a project, docker's config.json):
    only a missing one is created.  Our own data files go through ``write_json``.
    """
    directory = os.path.dirname(path)
    _create_missing_dirs(directory)
    temp = "%s.tmp-%d" % (path, os.getpid())
    fd = _create_exclusive(temp)
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


def _create_exclusive(temp: str) -> int:
    """A new 0600 temporary file: never one that exists (in a shared directory someone else
    could have made it, and would read what we write), but a stale one of ours is replaced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        return os.open(temp, flags, PRIVATE_FILE_MODE)
    except FileExistsError:
        os.unlink(temp)                  # left by a killed writer with our pid
        return os.open(temp, flags, PRIVATE_FILE_MODE)


def read_json(path: str, default: Any) -> Any:
    """The parsed content of our data file ``path``, or ``default`` when it does not exist;
    refused when others can write it or its directory."""
    try:
        with open(path, "rb") as handle:
            refuse_unsafe(os.fstat(handle.fileno()), path)
            raw = handle.read()
    except FileNotFoundError:
        return default
    except OSError as error:
        raise ConfigError("cannot read %s: %s" % (path, error.strerror)) from None
    refuse_unsafe_dir(os.path.dirname(path))
    try:
        return json.loads(raw)
    except ValueError:
        raise ConfigError("%s is not valid JSON; fix or move it away" % path) from None


def write_json(path: str, value: Any) -> None:
    """Replace our data file ``path`` (in our 0700 directory) with ``value`` as JSON."""
    ensure_private_dir(os.path.dirname(path))
    write_private(path, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")


def made_once(path: str, make: Callable[[], bytes]) -> bytes:
    """The content of our file ``path``, made by ``make()`` the first time and never changed
    after (the key that names rotation locks, a fleet machine's id), the same in every process.

    It is published by rename, so no reader ever sees it half written; an empty one (a writer
    of an older version killed between creating and writing it) is made again.  Makers wait
    for each other on a lock beside it, so processes starting together on a fresh machine
    all get the first one's content: two lock keys would let two processes rotate one token.
    """
    found = _read_if_any(path)
    if found:
        return found
    with FileLock(path + ".lock"):
        found = _read_if_any(path)       # made by the process we waited for
        if found:
            return found
        content = make()
        write_private(path, content)
        return content


def _read_if_any(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            refuse_unsafe(os.fstat(handle.fileno()), path)
            return handle.read()
    except FileNotFoundError:
        return None


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
