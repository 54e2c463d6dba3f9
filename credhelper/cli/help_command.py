"""`credhelper help [COMMAND...]`: the same text as `credhelper COMMAND --help` (the parser's
own), for people who type help first."""

from __future__ import annotations

import sys

# the metavar cli/clitree.py reads as "completes to a command name"
COMMAND_METAVAR = "COMMAND"

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    help_ = commands.add_parser("help", help="show the help of credhelper or of a command",
                                description="Show the help of COMMAND: the same text as "
                                "credhelper COMMAND --help.")
    help_.add_argument("command", nargs="*", metavar=COMMAND_METAVAR,
                       help="a command, e.g. add, or setup git")
    help_.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.cli import build_parser
    from credhelper.rules.redact import scrub

    parser: argparse.ArgumentParser = build_parser()
    for word in args.command:
        found = _subparsers(parser).get(word)
        if found is None:
            print("credhelper: no command %r%s; see credhelper help" % (
                scrub(word)[:40], " under %s" % parser.prog if " " in parser.prog else ""),
                file=sys.stderr)
            return 2
        parser = found
    parser.print_help()
    return 0


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    import argparse

    return {name: sub for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()}
