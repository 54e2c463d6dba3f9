"""Looking after a shared token: the fleet's side of ``lifecycle.keeper`` (issue 14).

The keeper hands a shared record here (under the local slot lock) whenever ``get`` finds it
needs attention; a fresh local copy never gets here.  Each visit reads the fleet record
first, so a machine whose copy git rejected, or that slept through a rotation, follows the
current version before anything else.  Then, on the current version:

- a journal with a live lease: another machine is rotating; wait a bounded time for the new
  version (the old token may already be revoked), else serve the local copy and say so;
- a journal with no live lease: its holder died; recover (recovery.py);
- a check that is due: ask GitLab, as for a local token;
- a rotation that is due: claim the lease by check-and-set, write the journal in the same
  version, rotate with the token *of that version*, write the new token, release (one write),
  then follow it locally.  A machine that loses the claim waits for the winner's version.

A shared token never rotates without the lease, so of any number of machines exactly one
calls GitLab's rotate per period, never with a token that is not the current version, and
GitLab's reuse detection (docs/gitlab.md#reuse-detection) has nothing to fire on.  When
OpenBao cannot be reached, the local copy is served while it is valid, with one line, and
nothing rotates until it answers again.
"""

from __future__ import annotations

import time

from credhelper.fleet import lease
from credhelper.fleet.follow import (
    follow,
    link_of,
    offline,
    online,
    paused_if_dead,
    record_data,
    with_link,
)
from credhelper.fleet.store import FleetStore, Unreachable
from credhelper.lifecycle import failpoints, outcomes
from credhelper.lifecycle.clients import client_for
from credhelper.lifecycle.facts import pat_facts, plausible_token
from credhelper.lifecycle.renewal import ROTATE_TIMEOUT
from credhelper.local import audit
from credhelper.rules import freshness
from credhelper.rules.model import OK, REVOKED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.fleet.store import Snapshot
    from credhelper.gitlab.errors import ApiError
    from credhelper.lifecycle.context import RequestContext
    from credhelper.lifecycle.keeper import Keeper
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord

WAIT_FOR_ROTATION = 15.0    # seconds a get waits for another machine's rotation to land
POLL_INTERVAL = 0.2         # between reads of the record while it waits


class FleetKeeper:
    def __init__(self, keeper: Keeper) -> None:
        self.keeper = keeper
        self.book = keeper.book
        self.settings = keeper.settings

    def attend(self, record: TokenRecord, ctx: RequestContext, force_check: bool
               ) -> TokenRecord:
        policy = self.settings.policy(record.host)
        return paused_if_dead(self.book, self._attend(record, policy, ctx, force_check),
                              policy, ctx)

    def _attend(self, record: TokenRecord, policy: Policy, ctx: RequestContext,
                force_check: bool) -> TokenRecord:
        store = FleetStore(link_of(record))
        try:
            snapshot = store.read()
        except Unreachable as error:
            return offline(self.book, record, str(error), policy, ctx)
        if snapshot is None:
            return offline(self.book, record, "the fleet record %s is gone" % store.where, policy,
                                ctx)
        if link_of(record).get("unpublished"):
            record, snapshot = self._publish_unpublished(store, record, snapshot, ctx)
            if link_of(record).get("unpublished"):
                return record        # the only copy of the new token: nothing else first
        record = follow(self.book, online(self.book, record), snapshot, policy, ctx)
        return self.on_current(store, record, snapshot, policy, ctx, force_check)

    def on_current(self, store: FleetStore, record: TokenRecord, snapshot: Snapshot,
                   policy: Policy, ctx: RequestContext, force_check: bool = False
                   ) -> TokenRecord:
        """What a record at the current version needs (see the module's docstring)."""
        journal = snapshot.journal
        if journal is not None:
            from credhelper.fleet import recovery

            if journal.get("step") == "lost":
                return recovery.lost(self, record, snapshot, ctx)
            if lease.live(snapshot, ctx.now()):
                return self.wait(store, record, policy, ctx)
            return recovery.recover(self, store, record, snapshot, policy, ctx)
        secret = self.book.secret(record, ctx)
        if secret is None:
            return record
        if force_check or freshness.check_due(record, ctx.now(), self.settings.changed_at()):
            record = self.keeper._check(record, secret, policy, ctx)
            if record.state == REVOKED:
                return self._after_revoked(store, record, policy, ctx)
        if record.state != OK:
            return record
        if freshness.rotation_due(record, ctx.now(), policy):
            return self.rotate(store, record, snapshot, policy, ctx)
        outcomes.warn_expiry(self.book, record, policy, ctx)
        return record

    # -- rotating, as the lease holder ----------------------------------------------------------

    def rotate(self, store: FleetStore, record: TokenRecord, snapshot: Snapshot,
               policy: Policy, ctx: RequestContext) -> TokenRecord:
        from credhelper.gitlab.errors import ApiError

        old_secret = snapshot.token
        if old_secret is None:
            return record
        now = ctx.now()
        expires_at = freshness.new_expiry_date(now, policy, record=record)
        holder = lease.machine_id()
        journal = {"step": "rotating", "holder": holder, "started_at": int(now),
                   "expires_at": expires_at, "token_id": snapshot.data.get("token_id")}
        claimed = lease.claim(store, snapshot, holder, now, journal)
        if claimed is None:          # another machine claimed this version first
            return self.wait(store, record, policy, ctx)
        failpoints.reached("fleet-after-claim")
        client = client_for(record, self.settings, ctx.for_call(ROTATE_TIMEOUT))
        record, response = self.keeper.renewal._rotate_call(client, record, old_secret,
                                                            expires_at, ctx)
        if isinstance(response, ApiError):
            return self._rotate_failed(store, claimed, record, response, policy, ctx)
        failpoints.reached("after-server-commit")
        return self._rotated(store, claimed, record, response, policy, ctx)

    def _rotated(self, store: FleetStore, claimed: Snapshot, record: TokenRecord,
                 response: dict[str, Any], policy: Policy, ctx: RequestContext) -> TokenRecord:
        from credhelper.fleet import recovery

        new_secret = response.get("token")
        if not plausible_token(new_secret):
            return recovery.declare_lost(self, store, claimed, record, ctx,
                                         "the rotation answer held no token")
        assert isinstance(new_secret, str)
        facts = {key: value for key, value in pat_facts(response).items() if key != "state"}
        data = dict(claimed.data, **record_data(record.replace(**facts), new_secret,
                                                ctx.now()))
        published = self._write_new_token(store, claimed, data, ctx)
        failpoints.reached("fleet-after-publish")
        if published is None:
            return self._keep_unpublished(record, claimed, data, policy, ctx)
        new = follow(self.book, record, published, policy, ctx)
        audit.record_event("rotated", new, old_token_id=record.token_id,
                           new_token_id=new.token_id, fleet_version=published.version)
        ctx.warn("rotated the shared access token for %s: %s -> %s (fleet version %d), valid "
                 "until %s" % (record.host, record.hint, new.hint, published.version,
                               new.expires_at or "no expiry"))
        return new

    def _write_new_token(self, store: FleetStore, claimed: Snapshot, data: dict[str, Any],
                         ctx: RequestContext) -> Snapshot | None:
        """Write the new token and release the lease in one version; None if OpenBao fails
        us now (the new token then waits in the local store: ``_keep_unpublished``)."""
        from credhelper.fleet.store import Conflict

        try:
            return store.write(data, cas=claimed.version)
        except (Unreachable, Conflict):
            return None

    def _keep_unpublished(self, record: TokenRecord, claimed: Snapshot, data: dict[str, Any],
                          policy: Policy, ctx: RequestContext) -> TokenRecord:
        """OpenBao failed between the rotation and its record: this machine alone has the
        new token; it keeps it and publishes it at its next visit (``attend``)."""
        from credhelper.fleet.store import Snapshot

        local = follow(self.book, record, Snapshot(claimed.version + 1, data), policy, ctx)
        ctx.warn("rotated the shared access token for %s, but could not write it to OpenBao; "
                 "the other machines get it once it is written" % record.host)
        return self.book.save(local.replace(next_check_at=int(ctx.now()), extra=with_link(
            local, version=claimed.version, unpublished=True)))

    def _publish_unpublished(self, store: FleetStore, record: TokenRecord,
                             snapshot: Snapshot, ctx: RequestContext
                             ) -> tuple[TokenRecord, Snapshot]:
        """Write the new token this machine rotated but could not write then.  Only over
        its own journal: a record that moved on meanwhile (an operator's --replace) wins."""
        journal = snapshot.journal or {}
        secret = self.book.secret(record, ctx)
        if journal.get("holder") != lease.machine_id() or secret is None:
            return self.book.save(record.replace(extra=with_link(
                record, unpublished=None, version=0))), snapshot
        data = dict(snapshot.data, **record_data(record, secret, None))
        written = self._write_new_token(store, snapshot, data, ctx)
        if written is None:
            return record, snapshot
        audit.record_event("fleet-published", record, version=written.version)
        return self.book.save(record.replace(extra=with_link(
            record, version=written.version, unpublished=None))), written

    def _rotate_failed(self, store: FleetStore, claimed: Snapshot, record: TokenRecord,
                       error: ApiError, policy: Policy, ctx: RequestContext) -> TokenRecord:
        """The rotate call failed.  An answer from GitLab means nothing happened: the journal
        goes and the lease with it.  No answer leaves the journal for recovery.py."""
        from credhelper.gitlab.errors import Unavailable

        if isinstance(error, Unavailable) and error.ambiguous:
            from credhelper.fleet import recovery

            # no answer: the server may have rotated; ask about the old token at once, so a
            # lost answer is told now (the journal stays until that is settled)
            return recovery.settle(self, store, claimed, record, policy, ctx)
        lease.release(store, claimed, journal=None)
        return self.keeper.renewal._rotation_failed(record, error, policy, ctx, False)

    # -- waiting for another machine ---------------------------------------------------------

    def wait(self, store: FleetStore, record: TokenRecord, policy: Policy,
             ctx: RequestContext) -> TokenRecord:
        """Another machine holds the lease: wait for its new version, at most
        ``WAIT_FOR_ROTATION``; then serve the local copy, which may still be good."""
        deadline = time.monotonic() + WAIT_FOR_ROTATION
        holder = "another machine"
        while time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
            try:
                snapshot = store.read()
            except Unreachable as error:
                return offline(self.book, record, str(error), policy, ctx)
            if snapshot is None:
                break
            holder = str((snapshot.lease or {}).get("holder") or holder)
            if snapshot.journal is None or not lease.live(snapshot, ctx.now()):
                record = follow(self.book, record, snapshot, policy, ctx)
                return self.on_current(store, record, snapshot, policy, ctx)
        ctx.warn("%s is rotating the shared token for %s and is not done; using this "
                 "machine's copy for now" % (holder, record.host))
        return record

    def _after_revoked(self, store: FleetStore, record: TokenRecord, policy: Policy,
                       ctx: RequestContext) -> TokenRecord:
        """GitLab says the local copy is revoked: if the fleet moved on meanwhile, follow; if
        a rotation is in flight (its holder's call revoked our copy a moment ago), wait for
        it as any machine would."""
        try:
            snapshot = store.read()
        except Unreachable:
            return record
        if snapshot is None or (snapshot.journal is None
                                and snapshot.token == self.book.secret(record)):
            return record
        current = follow(self.book, record, snapshot, policy, ctx)
        return self.on_current(store, current, snapshot, policy, ctx)
