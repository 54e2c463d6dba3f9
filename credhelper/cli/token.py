"""`credhelper token HOST`: print the token credhelper would give a package client (for
scripts and environment variables)."""

from __future__ import annotations

from credhelper.cli.common import package_token

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    token = commands.add_parser("token", help="print the token credhelper would use for HOST "
                                "(for scripts and environment variables; it is a secret)")
    token.add_argument("host", metavar="HOST")
    token.add_argument("--path", metavar="PREFIX", help="a project or group path")
    token.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.rules.hosts import normalise_path

    print(package_token(accounts.host_argument(args.host), normalise_path(args.path)))
    return 0
