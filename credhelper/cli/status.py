"""`credhelper status [HOST]`: every token credhelper serves (those added, those git or docker
stored, inside a CI job the job's own credentials) with owner, token name, expiry, last check
and what happens next; as blocks for people (cli/status_view.py), ``--table`` or ``--json``.
``--refresh`` asks the server about each first; ``--check`` exits 1 when one needs the user
(cli/status_check.py)."""

from __future__ import annotations

import json
import sys
import time

from credhelper.rules import freshness
from credhelper.rules.redact import scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from credhelper.cli.common import Commands
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service

# `status --check` exits with these (README, "Status and the audit log")
EXIT_FINE, EXIT_ATTENTION = 0, 1
CI_SOURCE = "CI job variable %s"
CI_NEXT = "valid while the CI job runs; nothing to renew"
SOURCES = {"added": "credhelper add (store: %s)", "git": "git credential store",
           "docker": "docker login", "cargo": "cargo login", "terraform": "terraform login"}


def register(commands: Commands) -> None:
    status = commands.add_parser("status", help="each token: owner, expiry, last check, "
                                 "what happens next")
    status.add_argument("host", nargs="?", metavar="HOST")
    status.add_argument("--username", metavar="NAME", help="only this account's tokens")
    status.add_argument("--path", metavar="PREFIX", help="only tokens for this path")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--table", action="store_true", help="one line per token")
    status.add_argument("--refresh", action="store_true",
                        help="ask the server about every token now")
    status.add_argument("--check", action="store_true", help="exit 1 when a token needs "
                        "attention (expired, revoked, failing, expiring and cannot renew)")
    status.add_argument("--quiet", "-q", action="store_true",
                        help="--check printing only the tokens that need attention (one line each)")
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.service import Service

    now = time.time()
    if args.refresh:
        _refresh()
    service = Service()
    records = _chosen(service.records(), args)
    policies = _policies(service, records)
    rows = [describe(r, now, policies[r.host]) for r in sorted(records, key=_order)]
    needing = [row for row in rows if row["attention"]]
    if args.quiet:
        _show_attention(needing)
    else:
        _show(rows, args, now)
    return EXIT_ATTENTION if (args.check or args.quiet) and needing else EXIT_FINE


def _policies(service: Service, records: list[TokenRecord]) -> dict[str, Policy]:
    """Each host's policy; a config that cannot be read does not hide the tokens: they are
    shown under the default policy, with one line saying so (doctor says more)."""
    from credhelper.errors import CredhelperError

    try:
        return {r.host: service.settings.policy(r.host) for r in records}
    except CredhelperError as error:
        print("credhelper: %s; dates shown under the default policy" % scrub(str(error)),
              file=sys.stderr)
        return {r.host: freshness.DEFAULT_POLICY for r in records}


def _show(rows: list[dict[str, Any]], args: argparse.Namespace, now: float) -> None:
    if args.json:   # ASCII only: control characters in the data are escaped, never raw
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No tokens registered%s. Add one: credhelper login HOST (or credhelper add HOST)"
              % (" for " + scrub(args.host) if args.host else ""))
    elif args.table:
        from credhelper.cli.common import print_table
        from credhelper.cli.status_view import HEADER, cells

        print_table([HEADER] + [cells(row, now) for row in rows])
    else:
        from credhelper.cli.status_view import blocks

        print("\n".join(blocks(rows, now)))


def _show_attention(rows: list[dict[str, Any]]) -> None:
    """``--check --quiet``: one line per token that needs the user, nothing when none does."""
    for row in rows:
        print(scrub("%s %s (%s): %s; %s" % (row["host"], row["token"] or "-", row["owner"],
                                           row["attention"], row["next"])))


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


def describe(record: TokenRecord, now: float, policy: Policy = freshness.DEFAULT_POLICY
             ) -> dict[str, Any]:
    """A record as a dict for `status --json` and the views (never the secret).  Fields are
    only ever added: scripts read them."""
    from credhelper.cli.status_check import attention
    from credhelper.rules.model import CI_ENV, KIND_NAMES

    return {
        "host": record.host, "owner": owner_of(record), "user_id": record.user_id,
        "default": bool(record.default_account), "token_name": record.token_name,
        "kind": record.kind, "kind_name": KIND_NAMES.get(record.kind, record.kind),
        "username": record.login_name(),
        "path": record.path, "scopes": record.scopes, "expires_at": record.expires_at,
        "expires_utc": freshness.expiry_utc(record),
        "days_left": freshness.days_left(record, now), "store": record.store,
        "token": record.hint, "state": state_name(record, now), "origin": record.origin,
        "source": source(record), "registry": record.registry,
        "checked_at": record.checked_at, "checkable": freshness.can_use_api(record),
        "next": CI_NEXT if record.origin == CI_ENV else next_action(record, now, policy),
        "next_at": next_at(record, now, policy),
        "attention": attention(record, now, policy),
    }


def source(record: TokenRecord) -> str:
    """Where the token comes from: added (and its store), a client's login, a CI variable."""
    from credhelper.rules.model import CI_ENV

    if record.origin == CI_ENV:
        return CI_SOURCE % record.extra.get("variable", "?")
    return SOURCES.get(record.origin, record.origin).replace("%s", record.store)


def next_at(record: TokenRecord, now: float, policy: Policy) -> int | None:
    """When credhelper itself acts on the token (rotates or refreshes it), if it will."""
    from credhelper.rules.model import ADDED, OAUTH

    if record.origin != ADDED or record.pending or freshness.unusable_reason(record, now):
        return None
    expiry = freshness.expiry_utc(record)
    if record.kind == OAUTH and record.client_id and expiry is not None:
        return int(expiry - freshness.OAUTH_REFRESH_MARGIN)
    rotates = freshness.rotate_at(record, policy.rotate_before_days)
    if freshness.renews_itself(record, policy) and rotates is not None:
        return int(rotates)
    return None


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def next_action(record: TokenRecord, now: float, policy: Policy = freshness.DEFAULT_POLICY
                ) -> str:
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
    rotates = freshness.rotate_at(record, policy.rotate_before_days)
    if freshness.renews_itself(record, policy) and rotates is not None:
        return "rotates itself from %s" % _utc(max(rotates, now))[:10]
    return "expires %s; it cannot renew itself" % record.expires_at if record.expires_at else "-"
