"""What the commands share: the argument parser that scrubs its errors, reading a secret
from stdin or a hidden prompt, printing a table, and finding the token a package client
would get."""

from __future__ import annotations

import argparse
import sys

from credhelper.errors import Cancelled, CredhelperError
from credhelper.rules.redact import scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import _SubParsersAction
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    Commands = _SubParsersAction["Parser"]
    Handler = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse echoes unknown arguments in its errors; someone may paste a token there.  A
    usage error is one line (README, "Threat model": bad input gets one clear line), which
    names the help to read instead of printing the usage above it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, "%s: %s; see %s --help\n" % (self.prog, scrub(message), self.prog))


def help_handler(parser: argparse.ArgumentParser) -> Handler:
    """The handler of a command given without its subcommand: its help, exit 2."""

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show_help


def read_secret(prompt: str, count: int = 1) -> list[str]:
    """``count`` secrets: lines of stdin when it is piped, else no-echo prompts.  Never argv."""
    if sys.stdin is None or not sys.stdin.isatty():
        data = sys.stdin.read(65536) if sys.stdin else ""
        lines = [line.strip() for line in data.splitlines() if line.strip()]
        return (lines + [""] * count)[:count]
    prompts = [prompt] + ["Refresh token: "] * (count - 1)
    return [prompted(text) for text in prompts]


def prompted(prompt: str) -> str:
    """A no-echo prompt's answer; Ctrl-D or Ctrl-C there is a clean cancel (``Cancelled``,
    exit 1 or 130), not an internal error, and the terminal's echo is back on."""
    import getpass

    try:
        return getpass.getpass(prompt).strip()
    except (EOFError, KeyboardInterrupt) as ended:
        if sys.stderr.isatty():
            sys.stderr.write("\n")          # the prompt's line is still open
        interrupted = isinstance(ended, KeyboardInterrupt)
        raise Cancelled("cancelled%s; nothing was stored" % (
            "" if interrupted else " (end of input at the prompt)"),
            130 if interrupted else 1) from None


def print_table(table: Sequence[Sequence[object]]) -> None:
    """Rows of cells (the first one the header), columns padded to their widest cell."""
    widths = [max(len(str(line[i])) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(str(cell).ljust(width)
                        for cell, width in zip(line, widths, strict=True)).rstrip())


def path_note(path: str | None) -> str:
    """`` (path group/project)`` after a host, or nothing."""
    return " (path %s)" % path if path else ""


def package_token(host: str, path: str | None = None) -> str:
    """The token a package client would get for ``host`` (and ``path``)."""
    from credhelper.rules.model import PACKAGES, Request
    from credhelper.service import Service

    found = Service().lookup(Request("https", host, path, service=PACKAGES))
    if found is None:
        raise CredhelperError("no usable token for %s; add one: credhelper add %s" % (host, host))
    secret: str = found.secret
    return secret
