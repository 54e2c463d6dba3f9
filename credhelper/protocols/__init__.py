"""Protocol adapters: each module owns one wire format (argv, stdin, stdout) and nothing else,
and every adapter's ``main`` goes through ``serve`` here.

What every protocol adapter's ``main`` does around its handler, in the spirit of
docker-credential-helpers' ``credentials.Serve``: read bounded input, create the Service only
when the handler asks for it, run the handler, and turn what goes wrong into the protocol's
answer.

    a CredhelperError      one scrubbed line on the protocol's error channel, exit 1: stderr
                           for git, Terraform and GOAUTH; stdout for docker, which reads errors
                           there; for cargo an ``{"Err":...}`` response to that request (it
                           goes on to the next one, exit 0); for the keyring backend stderr,
                           and no credential, so pip goes on
    KeyboardInterrupt      exit 130, quietly
    any other exception    a bug: one line ``PROG: internal error (Class); set
                           CREDHELPER_DEBUG=1 for details``, with no traceback and none of the
                           exception's text (it could hold a token); with CREDHELPER_DEBUG set
                           the exception is raised as usual

``launch`` is every executable's top level (``run_git``...): the adapter's import and argv,
the last flush, closed streams.  ``serve`` is a whole helper call; ``settle`` is one request,
for adapters that answer several in one call (cargo) or answer in-process (the keyring
backend); ``refusal`` words the line for all three.  This package's ``__init__`` is on git's
``get`` path (kept here so the path loads no extra module): it imports nothing at run time
that the path does not load anyway (typing only under TYPE_CHECKING; ``os`` where it is used:
the fast path runs without it, see ``launcher.py``).
"""

from __future__ import annotations

import sys

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO, TextIO, TypeVar

    from credhelper.service import Service

    T = TypeVar("T")
    R = TypeVar("R")

INTERRUPTED = 130
DEBUG = "CREDHELPER_DEBUG"
# what prints the version: no client sends these (git sends get/store/erase, docker its
# actions, cargo --cargo-plugin, Terraform get/store/forget), so they never shadow a request
VERSION_FLAGS = ("--version", "-V")


def launch(prog: str, module: str, errors: str = "stderr", prefix: str | None = None) -> int:
    """``module.main()``'s exit code; what escapes it is one line (``refusal``) on stderr (on
    stdout for docker) and exit 1, Ctrl-C 130.  Closed std streams become /dev/null, and a
    failed flush at the end points stdout there (no "Exception ignored" at exit)."""
    import os

    try:
        for name in ("stdin", "stdout", "stderr"):
            if getattr(sys, name) is None:   # its fd was closed when Python started
                setattr(sys, name, open(os.devnull, "r" if name == "stdin" else "w"))
        return int(__import__(module, fromlist=["main"]).main())
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as error:
        stream = sys.stdout if errors == "stdout" else sys.stderr
        return _last_words(stream, refusal(prog, error, prefix) + "\n")
    finally:
        _last_words(sys.stdout, "")


def _last_words(stream: TextIO, line: str) -> int:
    """Write and flush ``line``, then stdout; when that fails fd 1 goes to /dev/null (the
    Python docs' recipe), and there is nowhere left to say more: exit 1 still does."""
    try:
        stream.write(line)
        stream.flush()
        sys.stdout.flush()
    except (OSError, ValueError):
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    return 1


def version_asked(prog: str, argv: list[str], out: TextIO | None = None,
                  flags: tuple[str, ...] = VERSION_FLAGS) -> bool:
    """Whether ``argv`` is ``--version`` (or ``-V``); if so the version went to ``out``
    (stdout), before any input is read."""
    if len(argv) != 1 or argv[0] not in flags:
        return False
    from credhelper import __version__

    (out or sys.stdout).write("%s (credhelper) %s\n" % (prog, __version__))
    return True


def _executable(*how: str) -> Callable[[], int]:
    return lambda: launch(*how)


# [project.scripts], bin/* and install.sh's launchers; docker reads errors on stdout
run_git = _executable("git-credential-gitlab", "credhelper.protocols.git")
run_docker = _executable("docker-credential-gitlab", "credhelper.protocols.docker", "stdout",
                         "credhelper")
run_cargo = _executable("cargo-credential-gitlab", "credhelper.protocols.cargo")
run_terraform = _executable("terraform-credentials-gitlab", "credhelper.protocols.terraform")
run_credhelper = _executable("credhelper", "credhelper.cli")


def lazy_service(service: Service | None = None) -> Callable[[], Service]:
    """A getter for ``service``, or for a Service created on the first call (an adapter may
    answer without one: an action git does not know, docker's version)."""
    made = [] if service is None else [service]

    def get() -> Service:
        if not made:
            from credhelper.service import Service

            made.append(Service())
        return made[0]

    return get


def serve(prog: str, handler: Callable[[bytes, Callable[[], Service]], int], *,
          stdin: BinaryIO | None = None, limit: int = 0, service: Service | None = None,
          errors: TextIO | None = None, prefix: str | None = None) -> int:
    """One helper call: ``handler(input, service)`` writes the protocol's answer and returns
    the exit code.  ``input`` is at most ``limit`` bytes of ``stdin`` (nothing is read when
    ``limit`` is 0; an adapter that refuses longer input asks for one byte more).  Errors go to
    ``errors`` (default stderr) as one line starting with ``prefix`` (default ``prog``)."""
    try:
        data = (stdin or sys.stdin.buffer).read(limit) if limit else b""
        return handler(data, lazy_service(service))
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as error:
        stream = errors or sys.stderr
        stream.write(refusal(prog, error, prefix) + "\n")
        stream.flush()
        return 1


def settle(prog: str, handler: Callable[[], T], refuse: Callable[[str], R],
           prefix: str | None = None) -> T | R:
    """``handler()``, or what ``refuse`` makes of the line that says why it failed (see
    ``refusal``).  KeyboardInterrupt goes through."""
    try:
        return handler()
    except Exception as error:
        return refuse(refusal(prog, error, prefix))


def refusal(prog: str, error: Exception, prefix: str | None = None) -> str:
    """The one line that says why a request failed: the scrubbed message of a CredhelperError
    after ``prefix: `` (``prog: `` by default; an empty prefix gives the bare message), or
    ``prog: internal error (Class)...`` for anything else.  Call it while handling ``error``:
    with CREDHELPER_DEBUG set, a bug is raised again instead."""
    if isinstance(error, CredhelperError):
        from credhelper.rules.redact import scrub

        message = " ".join(scrub(str(error)).splitlines())
        prefix = prog if prefix is None else prefix
        return "%s: %s" % (prefix, message) if prefix else message
    import os

    if os.environ.get(DEBUG):
        raise  # the exception being handled, with its traceback
    if isinstance(error, BrokenPipeError):
        return "%s: the reader closed its end before the answer was written" % prog
    # a bug: one line, no traceback, no text (it could hold a token)
    return "%s: internal error (%s); set %s=1 for details" % (prog, error.__class__.__name__,
                                                               DEBUG)
