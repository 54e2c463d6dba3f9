"""`credhelper selftest`: clone and push through the helper from a local fake GitLab, in a
throwaway home (touches nothing of the user's)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    selftest = commands.add_parser("selftest", help="clone and push through the helper from "
                                   "a local fake GitLab (touches nothing of yours)")
    selftest.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import selftest

    selftest.run()
    return 0
