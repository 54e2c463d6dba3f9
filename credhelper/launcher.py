"""What every executable runs first: install.sh's launchers (``script``), [project.scripts]
and bin/*.

git runs its helper twice on every authenticated command (``get``, then ``store``), so that
start-up is most of what credhelper costs.  install.sh's launchers start Python with ``-I -S``:
isolated, and without ``site``.  ``site`` finds the venv and its .pth files, and imports
``os``, whose ``_collections_abc`` alone costs as much as the rest of a fast ``get``; the
launcher puts credhelper's own directory on ``sys.path`` instead.  ``run_git`` then asks
``fast_service`` for the answer (the compact index, ``posix``, the real protocol code and
rules; no ``os``, ``re``, ``enum`` or ``json``).  When it declines, and for every other
executable, ``site`` is set up as a normal start would have done it, and the full path runs
on the same input.  This module imports nothing at its top.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PROG = "git-credential-gitlab"
MAX_INPUT = 16 * 65536      # protocols.git.MAX_INPUT (a test holds them equal)
INTERRUPTED = 130
# set by the daemon's client when the daemon's Secret Service read timed out just now
# (daemon/server.py): this process gives up on the service at once, one deadline in all
SILENT_STORE = "CREDHELPER_SECRET_SERVICE_SILENT"
LAUNCHER = """#!%s -IS
# credhelper's launcher (install.sh): -S skips site until needed (credhelper/launcher.py)
import sys
sys.path.append(%r)
from credhelper.launcher import %s
sys.exit(%s())
"""


def script(entry: str) -> str:
    """The launcher install.sh writes for ``entry`` (``run_git``...): this interpreter, the
    directory this credhelper is imported from."""
    import os
    import sys

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return LAUNCHER % (sys.executable, here, entry, entry)


def run_git() -> int:
    import sys

    argv = sys.argv[1:]
    if len(argv) != 1 or argv[0] not in ("get", "store", "erase") or \
            None in (sys.stdin, sys.stdout, sys.stderr):
        return _full("run_git")
    try:
        data = sys.stdin.buffer.read(MAX_INPUT + 1)    # as protocols.git reads it
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception:
        return _full("run_git")     # nothing read: the full path words the error
    try:
        out = _fast(argv[0], data)
    except KeyboardInterrupt:
        return INTERRUPTED
    if out is None:
        import io

        sys.stdin = io.TextIOWrapper(io.BytesIO(data))   # what was read, for the full path
        return _full("run_git")
    return _answer(out)


def _fast(action: str, data: bytes) -> bytes | None:
    """The fast path's answer, or None: anything it cannot answer exactly goes to the full
    path, which also words the errors (CREDHELPER_DEBUG shows a bug here as it happens)."""
    try:
        import posix

        from credhelper.fast_service import answer, text_environ

        environ = text_environ(posix.environ)
        if SILENT_STORE in environ:
            from credhelper.stores import secret_service

            secret_service.give_up_at_once()
        return answer(action, data, environ)
    except Exception as error:
        from credhelper.errors import CredhelperError

        if not isinstance(error, CredhelperError) and _debugging():
            raise
        return None


def _answer(out: bytes) -> int:
    import sys

    try:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
        return 0
    except Exception as error:     # the reader went away: the full path's words for it
        from credhelper.protocols import _last_words, refusal

        return _last_words(sys.stderr, refusal(PROG, error) + "\n")


def _debugging() -> bool:
    import posix

    return bool(posix.environ.get(b"CREDHELPER_DEBUG"))


def _full(entry: str) -> int:
    """The executable's full path (``protocols.launch``), after ``site``'s set-up if the
    interpreter was started without it."""
    import sys

    if "site" not in sys.modules:
        import site

        site.main()
    import credhelper.protocols

    run: Callable[[], int] = getattr(credhelper.protocols, entry)
    return run()


def run_docker() -> int:
    return _full("run_docker")


def run_cargo() -> int:
    return _full("run_cargo")


def run_terraform() -> int:
    return _full("run_terraform")


def run_daemon() -> int:
    """The warm daemon (credhelper/daemon/server.py): it needs no site either."""
    from credhelper.daemon.server import main

    return main()


def run_credhelper() -> int:
    return _full("run_credhelper")
