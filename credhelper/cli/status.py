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

HEADER = ("HOST", "ACCOUNT", "KIND", "USERNAME", "PATH", "NAME", "SCOPES", "EXPIRES", "STORE",
          "TOKEN", "STATE", "CHECKED", "NEXT")


def register(commands: Commands) -> None:
    status = commands.add_parser("status", help="table of tokens: kind, scopes, expiry, store")
    status.add_argument("host", nargs="?", metavar="HOST")
    status.add_argument("--username", metavar="NAME", help="only this account's tokens")
    status.add_argument("--path", metavar="PREFIX", help="only tokens for this path")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--refresh", action="store_true",
                        help="ask the server about every token now")
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.local.token_index import TokenIndex

    now = time.time()
    if args.refresh:
        _refresh()
    records = _chosen(TokenIndex().load(), args)
    rows = [describe(r, now) for r in sorted(records, key=_order)]
    if args.json:   # ASCII only: control characters in the data are escaped, never raw
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No tokens registered%s. Add one: credhelper add HOST"
              % (" for " + args.host if args.host else ""))
    else:
        print_table([HEADER] + [_cells(row) for row in rows])
    return 0


def _chosen(records: list[TokenRecord], args: argparse.Namespace) -> list[TokenRecord]:
    """The records HOST, ``--username`` and ``--path`` pick (each only when given)."""
    from credhelper import accounts
    from credhelper.rules.hosts import normalise_path

    if args.host:
        host = accounts.host_argument(args.host)
        records = [r for r in records if r.host == host]
    if args.username:
        records = [r for r in records if accounts.owned_by(r, args.username)]
    if args.path:
        path = normalise_path(args.path)
        records = [r for r in records if r.path == path]
    return records


def _refresh() -> None:
    """Check every added token with its server now."""
    from credhelper.rules.model import ADDED
    from credhelper.service import Service

    service = Service()
    for record in service.tokens.load():
        if record.origin == ADDED:   # each token gets a request context of its own
            service.keeper().attend(record, service.context(), force_check=True)


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    """The table's cells, scrubbed: the index holds what servers and clients said (a username
    git stored, an index written by an older version), which must not act on the terminal."""
    from credhelper.rules.redact import scrub

    return tuple(scrub(str(cell)) for cell in (
        row["host"], row["owner"] + (" (default)" if row["default"] else ""), row["kind"],
        row["username"], row["path"] or "-", row["token_name"] or "-",
        ",".join(row["scopes"]) if row["scopes"] else "?",
        "%s (%sd)" % (row["expires_at"], row["days_left"]) if row["expires_at"] else "never",
        row["store"], row["token"], row["state"],
        _utc(row["checked_at"]) if row["checked_at"] else "never", row["next"]))


def _order(record: TokenRecord) -> tuple[str, str, str, str, str]:
    """Host, then account, then path: one account's tokens together."""
    return (record.host, owner_of(record).lower(), record.path or "", record.kind,
            record.origin)


def owner_of(record: TokenRecord) -> str:
    """Whose token it is: the owner's username, else the server's user id, else the login
    of a token with its own (deploy and job tokens), else unknown until it is checked."""
    if record.owner_name:
        return record.owner_name
    if record.user_id is not None:
        return "user %d" % record.user_id
    if record.username:
        return record.username
    return "?"


def state_name(record: TokenRecord, now: float) -> str:
    """ok, unchecked, needs-check, rotating, or why it is not served (revoked, expired...)."""
    state: str = record.state
    if state in freshness.FINAL_STATES:
        return state
    if freshness.unusable_reason(record, now):
        return "expired"
    if record.pending:
        return "unsettled"       # a rotation was sent, and its outcome is not known yet
    if record.extra.get("rescued"):
        return "rescued"
    if state == "ok" and freshness.can_use_api(record) and record.checked_at is None:
        return "unchecked"    # the server never vouched for it: skipped, or every check failed
    return state


def describe(record: TokenRecord, now: float) -> dict[str, Any]:
    """A record as a dict for `status --json` and the table (never the secret)."""
    return {
        "host": record.host, "owner": owner_of(record), "user_id": record.user_id,
        "default": bool(record.default_account), "token_name": record.token_name,
        "kind": record.kind, "username": record.login_name(),
        "path": record.path, "scopes": record.scopes, "expires_at": record.expires_at,
        "days_left": freshness.days_left(record, now), "store": record.store,
        "token": record.hint, "state": state_name(record, now), "origin": record.origin,
        "registry": record.registry, "checked_at": record.checked_at,
        "next": next_action(record, now),
    }


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def next_action(record: TokenRecord, now: float) -> str:
    """What credhelper will do about the token, or what the user must do."""
    from credhelper.rules.model import ADDED, LOST, OAUTH

    if record.state == LOST:
        return "lost in rotation: credhelper rotate %s prints the recovery steps" % record.host
    if record.state in freshness.FINAL_STATES or freshness.unusable_reason(record, now):
        from credhelper.lifecycle.explain import add_again

        return "create a new token, then: %s" % add_again(record)   # --path too
    waiting = record.backoff_until is not None and now < record.backoff_until
    if record.pending:
        return ("rotation unanswered: outcome checked after %s" % _utc(record.backoff_until or 0)
                if waiting else "interrupted rotation: settled at the next use")
    if record.extra.get("rescued"):
        return "the new token waits in the rescue file: moved to its store at the next use"
    if waiting:
        return "the last call failed: tried again after %s" % _utc(record.backoff_until or 0)
    if record.origin == ADDED and freshness.can_use_api(record) and record.checked_at is None:
        return "never checked: checked at the next use"
    if record.kind == OAUTH and record.client_id:
        return "refreshed when 10 minutes are left"
    rotates = freshness.rotate_at(record, freshness.DEFAULT_POLICY.rotate_before_days)
    if freshness.renews_itself(record, freshness.DEFAULT_POLICY) and rotates is not None:
        return "rotates itself from %s" % _utc(max(rotates, now))[:10]
    return "expires %s; it cannot renew itself" % record.expires_at if record.expires_at else "-"
