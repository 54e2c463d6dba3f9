"""The rotation journal, shared by PAT rotation and OAuth refresh: each step durable before
the next, so a process that dies anywhere leaves enough for the next ``get`` to finish or
explain what happened.

1. the record gets ``pending = {"new_id": ...}`` (the journal entry);  failpoint before-rotate-call
2. the server call: the server revokes the old token, returns the new one;
                                                                     failpoint after-server-commit
3. the new token is written to the store under ``new_id``;           failpoint after-store-write
4. the index swaps the old record for the new one, noting the old
   secret's key in ``stale_secret``;                                 failpoint after-metadata-write
5. the old secret is deleted and the note cleared.

Recovery (``recover``) looks for the new token in the store (dead after step 3: finish the
swap), else asks the server about the old token.  Revoked means the server committed and the
answer was lost, the one window GitLab's design leaves open (docs/gitlab.md#lost-answer-window).
Still active proves nothing while the first request may still be in flight: GitLab may commit
it seconds later, and a second rotate with the old token would then trip reuse detection and
revoke the whole family (docs/gitlab.md#reuse-detection).  So the entry stays, the still-valid
old token is served and nothing rotates it, until ``SETTLE_SECONDS`` after the call started;
only an active old token after that ends the entry as "never happened".
"""

from __future__ import annotations

import os

from credhelper.lifecycle import failpoints
from credhelper.lifecycle.book import refresh_slot
from credhelper.lifecycle.facts import REJECTION_STATES
from credhelper.local import audit
from credhelper.rules import freshness
from credhelper.rules.model import LOST, NEEDS_CHECK, OAUTH
from credhelper.rules.redact import redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.lifecycle.book import TokenBook
    from credhelper.lifecycle.clients import ClientFactory
    from credhelper.lifecycle.context import RequestContext
    from credhelper.local.settings import Settings
    from credhelper.rules.model import TokenRecord


# How long after a rotate request was sent it can still commit.  GitLab's web workers give a
# request at most 60 s (Puma's worker_timeout and Rack::Timeout's service timeout) before it is
# killed and its transaction rolled back; twice that leaves room for proxies that queue it.
SETTLE_SECONDS = 120


class Journal:
    def __init__(self, book: TokenBook, settings: Settings, clients: ClientFactory) -> None:
        self.book = book
        self.settings = settings
        self.clients = clients

    def begin(self, record: TokenRecord, now: float, **details: Any) -> TokenRecord:
        """Step 1: write the journal entry; returns the record that carries it."""
        pending = {"new_id": os.urandom(8).hex(), "started_at": int(now)}
        pending.update(details)
        record = self.book.save(record.replace(pending=pending))
        failpoints.reached("before-rotate-call")
        return record

    def complete(self, old: TokenRecord, new: TokenRecord, secret: str, ctx: RequestContext,
                 refresh_token: str | None = None) -> TokenRecord:
        """Steps 3 to 5, once the server's answer is in hand."""
        if refresh_token is not None:
            self.book.secrets.keep(refresh_slot(new), refresh_token, ctx.warn)
        if self.book.secrets.keep(new, secret, ctx.warn):
            new = new.replace(extra=dict(new.extra, rescued=True))
        failpoints.reached("after-store-write")
        new = self.book.save(new.replace(extra=dict(new.extra, stale_secret=old.id)),
                             replaces=old.id)
        failpoints.reached("after-metadata-write")
        return self.drop_stale_secret(new, ctx)

    def bring_home(self, record: TokenRecord) -> TokenRecord:
        """A new token ``complete`` had to rescue goes to its store once that works."""
        if not record.extra.get("rescued") or not self.book.secrets.bring_home(record):
            return record
        if record.client_id:
            self.book.secrets.bring_home(refresh_slot(record))
        extra = {key: value for key, value in record.extra.items() if key != "rescued"}
        return self.book.save(record.replace(extra=extra))

    def drop_stale_secret(self, record: TokenRecord, ctx: RequestContext) -> TokenRecord:
        """Step 5: delete the replaced token's secret (and refresh token) named in the record."""
        stale = record.extra.get("stale_secret")
        if not stale:
            return record
        old = record.replace(id=stale)
        self.book.delete_secret(old, ctx)
        self.book.delete_secret(refresh_slot(old), ctx)
        extra = {key: value for key, value in record.extra.items() if key != "stale_secret"}
        return self.book.save(record.replace(extra=extra))

    def new_record(self, record: TokenRecord) -> TokenRecord:
        """The record the journal entry promises (its id is where step 3 stores the token)."""
        assert record.pending is not None
        return record.replace(id=record.pending["new_id"], pending=None)

    def lost(self, record: TokenRecord, why: str, ctx: RequestContext) -> TokenRecord:
        audit.record_event("rotation-lost", record, reason=why)
        return self.book.save(record.replace(
            state=LOST, extra=dict(record.extra, lost_at=int(ctx.now()))))

    def recover(self, record: TokenRecord, ctx: RequestContext, quiet: bool = False
                ) -> TokenRecord:
        """A journal entry says a rotation or refresh started and did not finish.

        Returns the record as it now stands: swapped for the new one, marked lost, cleared of
        its journal entry (the call never reached the server), or unchanged with the entry
        kept (``quiet``: the server could not be asked; the caller reports it).
        """
        assert record.pending is not None
        new_record = self.new_record(record)
        new_secret = self.book.secret(new_record)
        if new_secret:
            return self._finish_swap(record, new_record, new_secret)
        return self._ask_about_old_token(record, ctx, quiet)

    def _finish_swap(self, record: TokenRecord, new_record: TokenRecord, new_secret: str
                     ) -> TokenRecord:
        """Died after storing the new token: finish the swap; a check fills in the facts.
        The rotation counts from when it started (``freshness.rotate_at``: the new token is
        not due again before half of what it was granted has passed)."""
        assert record.pending is not None
        started = record.pending.get("started_at")
        started = int(started) if isinstance(started, (int, float)) else None
        new_record = new_record.replace(state=NEEDS_CHECK, hint=redact(new_secret),
                                        expires_at=record.pending.get("expires_at"),
                                        expires_utc=None, checked_at=None, token_id=None,
                                        created_utc=started, extra=dict(
                                            new_record.extra, rotated_at=started))
        self.book.save(new_record, replaces=record.id)
        self.book.secrets.delete(record)
        audit.record_event("rotation-completed", new_record, after="interruption")
        return new_record

    def _ask_about_old_token(self, record: TokenRecord, ctx: RequestContext, quiet: bool
                             ) -> TokenRecord:
        from credhelper.gitlab.errors import ApiError, TokenRejected

        old_secret = self.book.secret(record, ctx)
        if old_secret is None:
            return record     # a store that cannot be read proves nothing: keep the entry
        client = self.clients(record, self.settings, ctx)
        try:
            if record.kind == OAUTH:
                client.oauth_info(old_secret)
            else:
                client.token_self(old_secret)
        except TokenRejected as rejected:
            if rejected.reason == "revoked" or record.kind == OAUTH:
                return self.lost(record, "the server committed the rotation, but its answer "
                                         "never arrived", ctx)
            return self.book.save(record.replace(state=REJECTION_STATES[rejected.reason],
                                                 pending=None))
        except ApiError as error:
            if quiet:
                return record
            from credhelper.lifecycle.explain import kind_name

            ctx.warn("could not verify an interrupted rotation of the %s for %s (%s); using "
                     "it as it is" % (kind_name(record), record.host, error))
            return self.book.save(record.replace(backoff_until=freshness.backoff_until(
                ctx.now(), self.settings.policy(record.host))))
        return self._old_token_active(record, ctx)

    def _old_token_active(self, record: TokenRecord, ctx: RequestContext) -> TokenRecord:
        """The old token still works: proof that the call never happened only once it can no
        longer commit (``SETTLE_SECONDS`` after it started)."""
        started = (record.pending or {}).get("started_at", 0)
        settled_at = int(started) + SETTLE_SECONDS if isinstance(started, (int, float)) else 0
        if ctx.now() < settled_at:
            # the first request may still commit: serve the old token, rotate nothing with
            # it, and look again once it cannot
            audit.record_event("rotation-unsettled", record, until=settled_at)
            return self.book.save(record.replace(backoff_until=settled_at))
        audit.record_event("rotation-abandoned", record, reason="never reached the server")
        return self.book.save(record.replace(pending=None, backoff_until=None))
