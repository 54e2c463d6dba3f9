"""The warm answerer's daemon: ``credhelper-daemon INSTALL_ID [IDLE_SECONDS]``.

git runs its helper twice per command, and one Python start is already about 15% of a whole
``git ls-remote`` (README "Speed").  This process starts Python once: it answers, for the
bash client install.sh installs as ``git-credential-gitlab`` (``client.py``), what the fast
path answers (``fast_service.answer``), run afresh per request.  Nothing is cached here: every
request re-reads and re-validates the compact copies as a fresh launcher would, so a rotation,
a ``remove`` or a hand edit is seen by the very next request.  What the fast path declines,
the daemon declines, and the client then runs the Python launcher on the same input.

Where: ``$XDG_RUNTIME_DIR/credhelper-fast`` (0700, in a parent only the user can write, else
refused).  It holds ``daemon.lock`` (flock: one daemon per directory), per slot K the FIFOs
``req.K`` and ``rep.K`` (0600, held open read-write by the daemon, so no open blocks) and,
while a client holds the slot, ``lock.K`` (made with noclobber: O_EXCL).  ``pid`` names this
process and its descriptor for ``rep.0``: the client checks ``/proc/PID/fd/N`` is that FIFO,
as a pid alone could be another process's by now.

Wire, client to daemon: the install id, a nonce, the action, one line per ``ENVIRONMENT``
variable (empty when unset, else ``=`` and the value), ``--``, git's input, ``.``.  Daemon to
client: ``ok NONCE``, the answer, ``.``; or ``no NONCE`` and ``.``; or ``silent NONCE`` and
``.`` when the Secret Service did not answer in time (the client then sets ``launcher.SILENT_STORE``
for the launcher, which gives up on it at once: one deadline, not two).  The client then writes
``done``; only then is the slot drained and ``lock.K`` removed.  A request from another
environment (HOME, config, store) is declined; one from another install retires the daemon.
"""

from __future__ import annotations

import posix
import select
import sys
import threading
import time
from contextlib import suppress

from credhelper.daemon.place import (
    DIRECTORY,
    Refused,
    live_pid,
    refuse_unless_private,
    unlink_quietly,
)

SLOTS = 4
STALL = 5.0             # seconds a client may take; the client's own bound (client.py) too
IDLE = 900.0            # git credential-cache's default timeout: an idle daemon goes away
GRACE = 0.5             # a client that opened a FIFO before retirement is still answered
QUIET = 60.0            # its own environment quiet this long, another one's request retires it
# What fast_service reads from the environment (tests/test_daemon.py holds this complete):
# a request is answered only when the client's values are the daemon's own.
ENVIRONMENT = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "CREDHELPER_STORE",
               "CREDHELPER_CONFIG", "DBUS_SESSION_BUS_ADDRESS")
PRESENCE = ("CI_JOB_TOKEN", "CI_DEPLOY_PASSWORD")    # only whether they are set (never sent)
END = b"\n.\n"


def environment_block(environ: dict[bytes, bytes]) -> bytes:
    """The lines a request's environment must equal (client.py writes the same)."""
    lines = [b"=" + environ[name] if name in environ else b""
             for name in (n.encode() for n in ENVIRONMENT)]
    lines += [b"=" if name.encode() in environ else b"" for name in PRESENCE]
    return b"\n".join(lines)


class Slot:
    """One client at a time: its request FIFO, its reply FIFO, and the thread serving it."""

    def __init__(self, daemon: Daemon, number: int) -> None:
        self.daemon = daemon
        base = daemon.directory + "/%s.%d"
        self.lock = base % ("lock", number)
        for kind in ("req", "rep"):
            posix.mkfifo(base % (kind, number), 0o600)
        # O_RDWR on a FIFO (Linux): never blocks, and is a peer for the client's opens
        self.req = posix.open(base % ("req", number), posix.O_RDWR | posix.O_NONBLOCK)
        self.rep = posix.open(base % ("rep", number), posix.O_RDWR | posix.O_NONBLOCK)
        self.busy = False

    def serve_forever(self) -> None:
        while True:
            select.select([self.req], [], [])
            self.busy = True
            try:
                self.serve_one()
            except Exception:       # this slot must go on: a dead one costs clients the bound
                self.release()
            finally:
                self.busy = False

    def serve_one(self) -> None:
        deadline = time.monotonic() + STALL
        request = self.read_until(END, deadline)
        if request is not None:
            reply = self.daemon.reply(request)
            posix.set_blocking(self.rep, True)
            try:
                posix.write(self.rep, reply)
            finally:
                posix.set_blocking(self.rep, False)
            self.read_until(b"done\n", deadline)      # the client has read all of it
        self.release()

    def read_until(self, end: bytes, deadline: float) -> bytes | None:
        buffer = b""
        while end not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.req], [], [], left)[0]:
                return None
            try:
                buffer += posix.read(self.req, 65536)
            except BlockingIOError:
                continue
        return buffer

    def sweep(self) -> None:
        """A slot claimed by a client that never wrote (it died, or timed out) is freed."""
        try:
            claimed = posix.stat(self.lock).st_mtime
        except FileNotFoundError:
            return
        if not self.busy and time.time() - claimed > STALL:
            self.release()

    def release(self) -> None:
        """Drain what a dead or late client left in both FIFOs, then free the slot."""
        for fd in (self.req, self.rep):
            try:
                while posix.read(fd, 65536):
                    pass
            except BlockingIOError:
                pass
        try:
            posix.unlink(self.lock)
        except FileNotFoundError:
            pass


class Daemon:
    def __init__(self, runtime_dir: str, install_id: str, idle: float = IDLE) -> None:
        self.directory = runtime_dir.rstrip("/") + "/" + DIRECTORY
        self.install_id, self.idle = install_id.encode(), idle
        self.environ = dict(posix.environ)
        self.block = environment_block(self.environ)
        from credhelper.fast_service import text_environ

        self.text_environ = text_environ(self.environ)      # decoded once, not per request
        self.last = time.monotonic()
        self.stopping = threading.Event()

    def reply(self, request: bytes) -> bytes:
        """``ok NONCE`` and the fast path's answer, or ``no NONCE`` (the launcher answers).
        The nonce: a client too slow for its slot must never read another's answer."""
        head, found, data = request[:request.index(END) + 1].partition(b"\n--\n")
        lines = head.split(b"\n")
        if not found or len(lines) != 3 + len(ENVIRONMENT) + len(PRESENCE) or \
                not 0 < len(lines[1]) <= 40 or lines[1].strip(b"0123456789.") != b"":
            return b"no\n.\n"
        declined = b"no " + lines[1] + b"\n.\n"
        if lines[0] != self.install_id:
            self.stopping.set()          # another install: its launcher, and a new daemon
            return declined
        if b"\n".join(lines[3:]) != self.block:       # another HOME, config or store
            if time.monotonic() - self.last > QUIET:
                self.stopping.set()      # a daemon for it, then (say after a tool's own HOME)
            return declined
        self.last = time.monotonic()
        action = lines[2].decode("ascii", "replace")
        from credhelper.fast_service import SilentStore

        try:
            out = self.answer(action, data) if action in ("get", "store", "erase") else None
        except SilentStore:
            return b"silent " + lines[1] + b"\n.\n"    # the launcher must not wait again
        if out is None or (out and not out.endswith(b"\n")) or END in b"\n" + out:
            return declined
        return b"ok " + lines[1] + b"\n" + out + b".\n"

    def answer(self, action: str, data: bytes) -> bytes | None:
        """The fast path's answer; None to decline; SilentStore when the Secret Service did
        not answer in time."""
        from credhelper.fast_service import SilentStore, answer_or_decline
        from credhelper.stores import secret_service

        secret_service.forget_timeouts()    # a late bus earlier is no reason to give up now
        try:
            return answer_or_decline(action, data, self.text_environ)
        except SilentStore:
            raise
        except Exception:                # a Decline, or a bug: the launcher's full path
            return None                  # answers, and words what went wrong

    def run(self) -> int:
        lock = self.take_directory()
        slots = [Slot(self, number) for number in range(SLOTS)]
        for slot in slots:
            threading.Thread(target=slot.serve_forever, daemon=True).start()
        pid_file = self.write_pid(slots[0].rep)
        while not self.stopping.wait(1.0):
            for slot in slots:
                slot.sweep()
            if time.monotonic() - self.last > self.idle or not self.still_ours(pid_file):
                break
        self.retire()
        posix.close(lock)
        return 0

    def take_directory(self) -> int:
        """Make or check the directory, hold its lock, and clear what a dead daemon left."""
        import fcntl

        refuse_unless_private(self.directory.rpartition("/")[0], exact=False)
        with suppress(FileExistsError):
            posix.mkdir(self.directory, 0o700)
        refuse_unless_private(self.directory, exact=True)
        lock = posix.open(self.directory + "/daemon.lock",
                          posix.O_RDWR | posix.O_CREAT | posix.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            posix.close(lock)
            raise Refused("another daemon serves %s" % self.directory) from None
        for name in posix.listdir(self.directory):
            if name != "daemon.lock":
                unlink_quietly(self.directory + "/" + name)
        return lock

    def write_pid(self, reply_fd: int) -> str:
        path = self.directory + "/pid"
        fd = posix.open(path + ".tmp", posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC, 0o600)
        posix.write(fd, b"%d\n%d\n" % (posix.getpid(), reply_fd))
        posix.close(fd)
        posix.rename(path + ".tmp", path)
        return path

    def still_ours(self, pid_file: str) -> bool:
        """Someone removed or replaced the directory: this daemon is nobody's any more."""
        try:
            fd = posix.open(pid_file, posix.O_RDONLY | posix.O_NOFOLLOW)
        except OSError:
            return False
        try:
            return posix.read(fd, 64).split(b"\n")[0] == b"%d" % posix.getpid()
        finally:
            posix.close(fd)

    def retire(self) -> None:
        """The pid file goes first (no new client finds this daemon); a client that found it
        just before still gets its FIFOs and its answer for GRACE; then the FIFOs go."""
        unlink_quietly(self.directory + "/pid")
        time.sleep(GRACE)
        for kind in ("req", "rep"):
            for number in range(SLOTS):
                unlink_quietly("%s/%s.%d" % (self.directory, kind, number))


def main(argv: list[str] | None = None) -> int:
    """``INSTALL_ID [IDLE]``: serve (exit 2 if it cannot).  ``--stop``: retire the daemon."""
    import signal

    args = sys.argv[1:] if argv is None else argv
    runtime_dir = posix.environ.get(b"XDG_RUNTIME_DIR", b"").decode("utf-8", "replace")
    if args == ["--stop"]:
        pid = live_pid(runtime_dir) if runtime_dir.startswith("/") else None
        if pid is not None:
            posix.kill(pid, signal.SIGTERM)
        return 0
    if not 1 <= len(args) <= 2 or not runtime_dir.startswith("/") or \
            any(name.encode() in posix.environ for name in PRESENCE):
        print("credhelper-daemon: needs INSTALL_ID, an absolute XDG_RUNTIME_DIR and no CI "
              "job variables", file=sys.stderr)
        return 2
    try:
        daemon = Daemon(runtime_dir, args[0], float(args[1]) if len(args) > 1 else IDLE)
    except ValueError:
        print("credhelper-daemon: IDLE must be a number of seconds", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: daemon.stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with suppress(OSError):
        posix.setsid()                  # not in the terminal's process group: ^C is git's
    posix.chdir("/")                    # not holding the repository git ran in
    posix.umask(0o077)
    posix.closerange(3, 1 << 16)        # nothing git's helper was handed stays open
    import credhelper.fast_service  # noqa: F401  (imported once, not per request)
    from credhelper.local import compact
    compact.keep_token_copies()     # a get costs the same beside a thousand tokens

    try:
        return daemon.run()
    except OSError as error:         # no runtime directory, a full one: one line, no traceback
        print("credhelper-daemon: cannot serve %s: %s" % (daemon.directory, error.strerror),
              file=sys.stderr)
        return 2
    except Refused as error:
        print("credhelper-daemon: %s" % error, file=sys.stderr)
        return 0 if "another daemon" in str(error) else 2
