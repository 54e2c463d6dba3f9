"""`credhelper rotate HOST`: rotate a personal, project or group access token now, or
refresh an OAuth token."""

from __future__ import annotations

import time

from credhelper.errors import CredhelperError
from credhelper.rules.model import ADDED, KIND_NAMES, OAUTH, PAT

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands
    from credhelper.rules.model import TokenRecord


def register(commands: Commands) -> None:
    rotate = commands.add_parser("rotate", help="rotate a personal, project or group access "
                                 "token now (or refresh an OAuth token)")
    rotate.add_argument("host", metavar="HOST")
    rotate.add_argument("--path", metavar="PREFIX")
    rotate.add_argument("--username", metavar="NAME",
                        help="the account whose token to rotate (when the host has several)")
    rotate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.rules.redact import scrub
    from credhelper.service import Service

    service = Service()
    host = accounts.host_argument(args.host)
    chosen = [r for r in accounts.select(service.tokens.load(), host, args.path,
                                         username=args.username)
              if r.kind in (PAT, OAUTH) and r.origin == ADDED]
    if not chosen:
        raise CredhelperError("no access or OAuth token registered for %s%s%s"
                              % (host, " --path " + args.path if args.path else "",
                                 " of " + args.username if args.username else ""))
    if len(chosen) > 1:
        raise CredhelperError("%d tokens for %s: name one with --username (%s)" % (
            len(chosen), host, ", ".join(accounts.account_name(r) for r in chosen)))
    for record in chosen:
        new = service.keeper().rotate_now(record, service.context())
        if new is None or new.id == record.id:
            raise _not_rotated(record, new, host)
        print(scrub("Rotated %s %s -> %s for %s, valid until %s" % (
            KIND_NAMES[record.kind], record.hint, new.hint, host, new.expires_at or "-")))
    return 0


def _not_rotated(record: TokenRecord, new: TokenRecord | None, host: str) -> CredhelperError:
    """Why ``record`` was not rotated: the new token's trouble, if there is a new token."""
    from credhelper.lifecycle.explain import explain_unusable
    from credhelper.rules.freshness import unusable_reason

    reason = unusable_reason(new, time.time()) if new is not None else None
    if new is not None and reason:
        return CredhelperError(explain_unusable(new, reason))
    return CredhelperError("the %s for %s was not rotated" % (KIND_NAMES[record.kind], host))
