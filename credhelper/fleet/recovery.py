"""A rotation whose holder died (its lease ran out with the journal still in the record).

The next machine claims the lease, keeping the journal, and asks GitLab about the token of
the record's version, the one the holder was rotating (``GET .../personal_access_tokens/self``
never trips reuse detection; docs/gitlab.md#lost-answer-window):

- still active, and the call may still be in flight (less than ``SETTLE_SECONDS`` since it
  started): nothing is proven; the lease goes back, the journal stays, and the machine serves
  the old token, which works, until the call can no longer commit;
- still active after that: the rotation never happened; the journal goes and the machine
  rotates as it would have (the same lease);
- revoked: the server committed and its answer died with the holder.  That is the one window
  GitLab's design leaves open: no machine has the new token.  The journal becomes ``lost``,
  and every machine reports it with the operator's recovery steps until a new token is
  published (``credhelper fleet publish HOST --replace``).

(A holder that died *after* writing the new token left no journal: its version is simply the
current one, and every machine follows it.)
"""

from __future__ import annotations

from credhelper.fleet import lease
from credhelper.fleet.follow import with_link
from credhelper.lifecycle import outcomes
from credhelper.lifecycle.clients import client_for
from credhelper.lifecycle.facts import REJECTION_STATES
from credhelper.lifecycle.journal import SETTLE_SECONDS
from credhelper.lifecycle.renewal import CHECK_TIMEOUT
from credhelper.local import audit
from credhelper.rules import freshness
from credhelper.rules.model import LOST

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.fleet.keeper import FleetKeeper
    from credhelper.fleet.store import FleetStore, Snapshot
    from credhelper.lifecycle.context import RequestContext
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord


def recover(fleet: FleetKeeper, store: FleetStore, record: TokenRecord, snapshot: Snapshot,
            policy: Policy, ctx: RequestContext) -> TokenRecord:
    claimed = lease.claim(store, snapshot, lease.machine_id(), ctx.now(), snapshot.journal)
    if claimed is None or snapshot.token is None:
        return fleet.wait(store, record, policy, ctx)
    return settle(fleet, store, claimed, record, policy, ctx)


def settle(fleet: FleetKeeper, store: FleetStore, claimed: Snapshot, record: TokenRecord,
           policy: Policy, ctx: RequestContext) -> TokenRecord:
    """Under the lease, with the journal of an unfinished rotation: what happened to it?
    (Also the holder's own next step when its rotate call got no answer.)"""
    from credhelper.gitlab.errors import ApiError, TokenRejected

    journal = claimed.journal or {}
    assert claimed.token is not None
    try:
        client_for(record, fleet.settings, ctx.for_call(CHECK_TIMEOUT)).token_self(claimed.token)
    except TokenRejected as rejected:
        if rejected.reason == "revoked":
            return declare_lost(fleet, store, claimed, record, ctx, "the server committed the "
                                "rotation, but its answer never reached %s" % journal.get("holder"))
        lease.release(store, claimed, journal=None)
        return fleet.book.save(record.replace(state=REJECTION_STATES[rejected.reason]))
    except ApiError as error:
        lease.release(store, claimed)
        return outcomes.failed(fleet.book, record, "check", error, policy, ctx)
    started = journal.get("started_at")
    settled_at = int(started) + SETTLE_SECONDS if isinstance(started, (int, float)) else 0
    if ctx.now() < settled_at:
        lease.release(store, claimed)
        audit.record_event("rotation-unsettled", record, until=settled_at, fleet=True)
        return fleet.book.save(record.replace(backoff_until=settled_at))
    audit.record_event("rotation-abandoned", record, reason="never reached the server",
                       holder=str(journal.get("holder")))
    cleared = lease.release(store, claimed, journal=None)
    if cleared is None:
        return record
    return fleet.on_current(store, record, cleared, policy, ctx)


def declare_lost(fleet: FleetKeeper, store: FleetStore, claimed: Snapshot, record: TokenRecord,
                 ctx: RequestContext, why: str) -> TokenRecord:
    """Write down in the record that the rotation's new token is lost, then report it."""
    journal = dict(claimed.journal or {}, step="lost", lost_at=int(ctx.now()), why=why)
    written = lease.release(store, claimed, journal=journal)
    audit.record_event("rotation-lost", record, reason=why, fleet=True)
    return lost(fleet, record, written or claimed, ctx)


def lost(fleet: FleetKeeper, record: TokenRecord, snapshot: Snapshot, ctx: RequestContext
         ) -> TokenRecord:
    """The record says the last rotation was lost: this machine's copy is the revoked token.
    Mark it lost (reported on each use, with the steps) and look again after a pause."""
    import os

    journal = snapshot.journal or {}
    now = ctx.now()
    started = journal.get("started_at")
    expires_at = journal.get("expires_at")
    # the local journal's shape (token_index checks it); its new_id names no stored secret
    pending = {"new_id": os.urandom(8).hex(),
               "started_at": int(started) if isinstance(started, (int, float)) else int(now),
               "expires_at": expires_at if isinstance(expires_at, str) else None}
    first = record.state != LOST
    record = fleet.book.save(record.replace(
        state=LOST, pending=pending,
        backoff_until=freshness.backoff_until(now, fleet.settings.policy(record.host)),
        extra=with_link(record, version=snapshot.version)))
    if first:
        ctx.warn(lost_message(record, journal))
    return record


def lost_message(record: TokenRecord, journal: dict[str, object]) -> str:
    from credhelper.lifecycle.explain import recovery_steps

    return ("%s (shared through OpenBao: %s was rotating it; instead of the last step, publish "
            "the new token from one machine with: credhelper fleet publish %s --replace; every "
            "machine follows it)" % (recovery_steps(record), journal.get("holder"),
                                     record.host))
