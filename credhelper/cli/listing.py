"""`credhelper list`: one line per registered token (never the token itself)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    listing = commands.add_parser("list", help="one line per registered token")
    listing.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.cli.status import owner_of
    from credhelper.local.token_index import TokenIndex
    from credhelper.rules.redact import scrub

    for record in TokenIndex().load():   # scrubbed: a stored username is another's words
        print(scrub("%-28s %-20s %-7s %-24s %-20s %s" % (
            record.host, owner_of(record), record.kind, record.login_name(),
            record.path or "-", record.hint)))
    return 0
