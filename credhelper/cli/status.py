"""`credhelper status [HOST]`: a table (or JSON) of the registered tokens: kind, scopes,
expiry, store and state; ``--refresh`` asks the server about each first."""

from __future__ import annotations

import json
import time

from credhelper.cli.common import print_table
from credhelper.rules import freshness

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from credhelper.cli.common import Commands
    from credhelper.rules.model import TokenRecord

HEADER = ("HOST", "KIND", "USERNAME", "PATH", "SCOPES", "EXPIRES", "STORE", "TOKEN", "STATE")


def register(commands: Commands) -> None:
    status = commands.add_parser("status", help="table of tokens: kind, scopes, expiry, store")
    status.add_argument("host", nargs="?", metavar="HOST")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--refresh", action="store_true",
                        help="ask the server about every token now")
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.local.token_index import TokenIndex

    now = time.time()
    if args.refresh:
        _refresh()
    records = TokenIndex().load()
    if args.host:
        host = accounts.host_argument(args.host)
        records = [r for r in records if r.host == host]
    rows = [describe(r, now) for r in records]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No tokens registered%s. Add one: credhelper add HOST"
              % (" for " + args.host if args.host else ""))
    else:
        print_table([HEADER] + [_cells(row) for row in rows])
    return 0


def _refresh() -> None:
    """Check every added token with its server now."""
    from credhelper.rules.model import ADDED
    from credhelper.service import Service

    service = Service()
    for record in service.tokens.load():
        if record.origin == ADDED:   # each token gets a request context of its own
            service.keeper().attend(record, service.context(), force_check=True)


def _cells(row: dict[str, Any]) -> tuple[object, ...]:
    return (row["host"], row["kind"], row["username"], row["path"] or "-",
            ",".join(row["scopes"]) if row["scopes"] else "?",
            "%s (%sd)" % (row["expires_at"], row["days_left"]) if row["expires_at"] else "never",
            row["store"], row["token"], row["state"])


def state_name(record: TokenRecord, now: float) -> str:
    """ok, needs-check, rotating, or why it is not served (revoked, expired, unknown...)."""
    state: str = record.state
    if state in freshness.FINAL_STATES:
        return state
    if freshness.unusable_reason(record, now):
        return "expired"
    if record.pending:
        return "rotating"
    return state


def describe(record: TokenRecord, now: float) -> dict[str, Any]:
    """A record as a dict for `status --json` and the table (never the secret)."""
    return {
        "host": record.host, "kind": record.kind, "username": record.login_name(),
        "path": record.path, "scopes": record.scopes, "expires_at": record.expires_at,
        "days_left": freshness.days_left(record, now), "store": record.store,
        "token": record.hint, "state": state_name(record, now), "origin": record.origin,
        "registry": record.registry, "checked_at": record.checked_at,
    }
