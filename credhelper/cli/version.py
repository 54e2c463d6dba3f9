"""`credhelper version`."""

from __future__ import annotations

from credhelper import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print("credhelper", __version__)
    return 0
