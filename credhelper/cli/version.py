"""`credhelper version` and `credhelper --version` (or -V): the version the package was
built with (``credhelper.__version__``, the same as pyproject.toml's; test_packaging checks),
with no metadata lookup, so it costs nothing."""

from __future__ import annotations

from credhelper import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=run)


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-V", "--version", action="version", version=text(),
                        help="print the version and exit")


def text() -> str:
    return "credhelper %s" % __version__


def run(args: argparse.Namespace) -> int:
    print(text())
    return 0
