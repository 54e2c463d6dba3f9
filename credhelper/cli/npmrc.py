"""`credhelper npmrc HOST`: the .npmrc lines for a GitLab npm registry, printed or written
to a file, naming an environment variable for the token (or, in a 0600 file, the token)."""

from __future__ import annotations

import sys

from credhelper.cli.common import package_token
from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    npmrc = commands.add_parser("npmrc", help="print (or write) .npmrc lines for a GitLab npm "
                                "registry, naming an environment variable for the token")
    npmrc.add_argument("host", metavar="HOST")
    where = npmrc.add_mutually_exclusive_group()
    where.add_argument("--project", metavar="ID", help="numeric id or full path")
    where.add_argument("--group", metavar="ID", help="numeric id or full path")
    npmrc.add_argument("--scope", metavar="@SCOPE", help="only packages of this scope")
    npmrc.add_argument("--env", default="CREDHELPER_NPM_TOKEN", metavar="NAME",
                       help="the environment variable npm reads the token from")
    npmrc.add_argument("--write", metavar="FILE", help="set the lines in FILE (atomically)")
    npmrc.add_argument("--literal-token", action="store_true",
                       help="put the token itself in the file (0600) instead of ${NAME}")
    npmrc.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.clientconfig import npm

    host = accounts.host_argument(args.host)
    url = npm.registry_url(host, args.project, args.group)
    token = package_token(host) if args.literal_token else None
    entries = npm.lines(url, args.scope, args.env, token)
    if args.write:
        npm.write(args.write, entries, holds_token=token is not None)
        print("wrote %s to %s" % (", ".join(key for key, _ in entries), args.write))
    elif token is not None:
        raise CredhelperError("--literal-token only with --write FILE (never on the terminal)")
    else:
        sys.stdout.write(npm.render(entries))
    if token is None:
        print("npm reads the token from $%s: export %s=\"$(credhelper token %s)\""
              % (args.env, args.env, host), file=sys.stderr)
    return 0
