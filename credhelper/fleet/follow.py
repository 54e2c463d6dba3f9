"""This machine's local copy of a shared token, kept at the record's version.

``follow`` brings the local record to a version of the fleet record: the same token only
moves the version on; a new token is stored under a new local id, then the index swaps the
records, then the old secret goes (the order the local journal uses: a crash between leaves
an unreferenced secret at worst, and the next read of the record finishes the job).  The
facts come from the record (the holder asked GitLab when it rotated), so a machine that
follows does not ask GitLab again before its own next check.
"""

from __future__ import annotations

import os

from credhelper.fleet import LINK
from credhelper.local import audit
from credhelper.rules import freshness
from credhelper.rules.model import OK
from credhelper.rules.redact import redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.fleet.store import Snapshot
    from credhelper.lifecycle.book import TokenBook
    from credhelper.lifecycle.context import RequestContext
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord

# the record's fields that describe the token, as they are named in the local record
SHARED_FACTS = ("token_id", "token_name", "user_id", "scopes", "expires_at")


def link_of(record: TokenRecord) -> dict[str, Any]:
    link = record.extra.get(LINK)
    return dict(link) if isinstance(link, dict) else {}


def with_link(record: TokenRecord, **changes: Any) -> dict[str, Any]:
    """The record's ``extra`` with its fleet link changed (None drops a key)."""
    link = {key: value for key, value in dict(link_of(record), **changes).items()
            if value is not None}
    return dict(record.extra, **{LINK: link})


def facts_of(snapshot: Snapshot) -> dict[str, Any]:
    """Local record fields from the fleet record (ill-typed values are left out)."""
    data = snapshot.data
    facts: dict[str, Any] = {}
    for name, kind in (("token_id", int), ("user_id", int), ("token_name", str),
                       ("expires_at", str)):
        if isinstance(data.get(name), kind):
            facts[name] = data[name]
    if "expires_at" in data and data["expires_at"] is None:
        facts["expires_at"] = None
    if isinstance(data.get("scopes"), list):
        from credhelper.lifecycle.facts import scope_names

        facts["scopes"] = scope_names(data["scopes"])
    return facts


def record_data(record: TokenRecord, secret: str, rotated_at: float | None) -> dict[str, Any]:
    """The fleet record's data for a local token (publish, and a new token after a rotation)."""
    data: dict[str, Any] = {name: getattr(record, name) for name in SHARED_FACTS}
    data.update(host=record.host, token=secret, lease=None, journal=None,
                rotated_at=int(rotated_at) if rotated_at else record.extra.get("rotated_at"))
    return data


def follow(book: TokenBook, record: TokenRecord, snapshot: Snapshot, policy: Policy,
           ctx: RequestContext) -> TokenRecord:
    """The local record at ``snapshot``'s version (stored and indexed)."""
    token = snapshot.token
    if token is None or link_of(record).get("version") == snapshot.version:
        return record
    if book.secret(record) == token:
        return book.save(record.replace(extra=with_link(record, version=snapshot.version)))
    now = ctx.now()
    extra = with_link(record, version=snapshot.version, offline=None)
    rotated_at = snapshot.data.get("rotated_at")
    if isinstance(rotated_at, (int, float)):
        extra["rotated_at"] = int(rotated_at)
    new = record.replace(id=os.urandom(8).hex(), state=OK, hint=redact(token), pending=None,
                         backoff_until=None, warned_at=None, expires_utc=None,
                         checked_at=int(now), extra=extra, **facts_of(snapshot))
    new = new.replace(next_check_at=freshness.next_check_at(new, now, policy))
    if book.secrets.keep(new, token, ctx.warn):
        new = new.replace(extra=dict(new.extra, rescued=True))
    book.save(new, replaces=record.id)
    book.delete_secret(record, ctx)
    audit.record_event("fleet-followed", new, version=snapshot.version,
                       old_token_id=record.token_id)
    return new


# -- a copy that cannot be served: OpenBao out of reach, or a dead token ---------------------------

def offline(book: TokenBook, record: TokenRecord, why: str, policy: Policy,
            ctx: RequestContext) -> TokenRecord:
    """Serve the local copy (while valid), say so once, and leave OpenBao alone for the
    policy's retry pause; nothing rotates meanwhile."""
    if not link_of(record).get("offline"):
        ctx.warn("%s; using this machine's copy of the shared token for %s while it is "
                 "valid" % (why, record.host))
        audit.record_event("fleet-offline", record, reason=why[:200])
    return book.save(record.replace(
        backoff_until=freshness.backoff_until(ctx.now(), policy),
        extra=with_link(record, offline=int(ctx.now()))))


def paused_if_dead(book: TokenBook, record: TokenRecord, policy: Policy, ctx: RequestContext
                   ) -> TokenRecord:
    """A copy still dead once the record was read (nothing newer is published) looks again
    after the policy's retry pause, not at every get (freshness._fleet_may_mend)."""
    now = ctx.now()
    if record.state not in freshness.FINAL_STATES or (
            record.backoff_until and now < record.backoff_until):
        return record
    return book.save(record.replace(backoff_until=freshness.backoff_until(now, policy)))


def online(book: TokenBook, record: TokenRecord) -> TokenRecord:
    if not link_of(record).get("offline"):
        return record
    return book.save(record.replace(extra=with_link(record, offline=None)))
