"""`credhelper goauth [URL]`: Go's GOAUTH command (GOAUTH='credhelper goauth')."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    goauth = commands.add_parser("goauth", help="Go's GOAUTH command: GOAUTH='credhelper goauth'")
    goauth.add_argument("url", nargs="*", metavar="URL")
    goauth.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.protocols import goauth

    code: int = goauth.main(args.url)
    return code
