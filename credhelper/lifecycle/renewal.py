"""Renewing a token before it expires: a PAT rotates itself (docs/gitlab.md#rotation), an
OAuth token is refreshed (docs/gitlab.md#oauth).  Both go through the one ``Journal``.

Rotation is only ever attempted with the token the index holds under the slot lock, so two
processes never rotate the same token and GitLab's reuse detection
(docs/gitlab.md#reuse-detection) never fires.
"""

from __future__ import annotations

from credhelper.lifecycle import failpoints, outcomes
from credhelper.lifecycle.book import refresh_slot
from credhelper.lifecycle.explain import kind_name
from credhelper.lifecycle.facts import (
    REJECTION_STATES,
    day_before_limit,
    pat_facts,
    plausible_token,
)
from credhelper.local import audit
from credhelper.rules import freshness
from credhelper.rules.model import LOST, OK, PAT
from credhelper.rules.redact import redact

# A rotate or refresh call gets this whole, fixed time (not what is left of the request's
# budget): cut short, a call the server carries out anyway leaves the helper guessing.
ROTATE_TIMEOUT = 30.0
CHECK_TIMEOUT = 5.0     # asking about the old token right after an unanswered rotation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.gitlab.client import GitLabClient
    from credhelper.gitlab.errors import ApiError
    from credhelper.lifecycle.book import TokenBook
    from credhelper.lifecycle.clients import ClientFactory
    from credhelper.lifecycle.context import RequestContext
    from credhelper.lifecycle.journal import Journal
    from credhelper.local.settings import Settings
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord


class Renewal:
    def __init__(self, book: TokenBook, journal: Journal, settings: Settings,
                 clients: ClientFactory) -> None:
        self.book = book
        self.journal = journal
        self.settings = settings
        self.clients = clients

    # -- PATs --------------------------------------------------------------------------------

    def rotate(self, record: TokenRecord, secret: str, policy: Policy, ctx: RequestContext,
               strict: bool = False) -> TokenRecord:
        """Rotate a PAT through the journal (see journal.py).  ``strict`` (an admin command):
        failures are raised, and the caller tells the user of the rotation itself."""
        from credhelper.gitlab.errors import ApiError

        now = ctx.now()
        cannot = self.book.secrets.probe(record)
        if cannot is not None:
            # not now: the new token could not be kept, and the old one stays valid for days
            from credhelper.gitlab.errors import Unavailable

            return outcomes.failed(self.book, record, "rotation", Unavailable(
                "its store cannot take a new token: %s" % cannot), policy, ctx, strict)
        expires_at = freshness.new_expiry_date(now, policy, record=record)
        record = self.journal.begin(record, now, expires_at=expires_at)
        client = self.clients(record, self.settings, ctx.for_call(ROTATE_TIMEOUT))
        record, answer = self._rotate_call(client, record, secret, expires_at, ctx)
        if isinstance(answer, ApiError):
            return self._rotation_failed(record, answer, policy, ctx, strict)
        failpoints.reached("after-server-commit")
        return self.rotated(record, answer, policy, ctx, announce=not strict)

    def _rotate_call(self, client: GitLabClient, record: TokenRecord, secret: str,
                     expires_at: str, ctx: RequestContext
                     ) -> tuple[TokenRecord, dict[str, Any] | ApiError]:
        """(the record with its journal entry, the server's answer or its error)."""
        from credhelper.gitlab.errors import ApiError, Refused

        try:
            return record, client.rotate(secret, expires_at)
        except Refused as refused:
            # GitLab refuses a date past its maximum lifetime with 400 "... must be before D"
            # (docs/gitlab.md#rotation): nothing happened, so ask once for the day before D.
            # Any other refusal ends the attempt.
            fallback = day_before_limit(str(refused)) if refused.status == 400 else None
            if fallback is None:
                return record, refused
            ctx.warn("%s refused the expiry %s for the new token (%s); asking for %s instead"
                     % (record.host, expires_at, refused, fallback))
            # the journal names the date really asked for: a lost answer's orphan has it (a
            # shared token's journal is in its fleet record: fleet/keeper.py)
            if record.pending:
                record = self.book.save(record.replace(
                    pending=dict(record.pending, expires_at=fallback)))
        except ApiError as failed:
            return record, failed
        try:
            return record, client.rotate(secret, fallback)
        except ApiError as failed:
            return record, failed

    def _rotation_failed(self, record: TokenRecord, error: ApiError, policy: Policy,
                         ctx: RequestContext, strict: bool) -> TokenRecord:
        from credhelper.gitlab.errors import InsufficientScope, TokenRejected, Unavailable

        now = ctx.now()
        if isinstance(error, TokenRejected):
            # Someone (another machine?) already rotated or revoked this very token.
            audit.record_event("rotation-failed", record, reason=error.reason)
            return self.book.save(record.replace(state=REJECTION_STATES[error.reason],
                                                 pending=None, checked_at=int(now)))
        if isinstance(error, InsufficientScope):
            audit.record_event("rotation-failed", record, reason="scope")
            record = record.replace(pending=None, backoff_until=freshness.backoff_until(
                now, policy, policy.check_interval))
            if strict:
                self.book.save(record)
                raise error
            ctx.warn("cannot rotate the %s for %s: %s" % (kind_name(record), record.host, error))
            return self.book.save(record)
        if isinstance(error, Unavailable) and error.ambiguous:
            # Timed out or dropped: the server may have rotated.  Ask about the old token
            # now, so a lost answer is told at once rather than at the next git command.
            record = self.salvage(
                self.journal.recover(record, ctx.for_call(CHECK_TIMEOUT), quiet=True), ctx)
            if record.state != OK or not record.pending:
                return self.book.reload(record) or record    # lost, or recovered
            return outcomes.failed(self.book, record, "rotation", error, policy, ctx, strict)
        # the server answered: nothing happened
        return outcomes.failed(self.book, record.replace(pending=None), "rotation", error,
                               policy, ctx, strict)

    def rotated(self, record: TokenRecord, response: dict[str, Any], policy: Policy,
                ctx: RequestContext, announce: bool = True) -> TokenRecord:
        """Keep the rotation's new token (journal steps 3 to 5); ``announce``: say so on the
        request's warnings (a ``get``), else the caller says it (`credhelper rotate`)."""
        now = ctx.now()
        new_secret = response.get("token")
        if not plausible_token(new_secret):
            # the server committed but sent no usable token: the same as a lost response
            return self.salvage(
                self.journal.lost(record, "the rotation answer held no token", ctx), ctx)
        assert isinstance(new_secret, str)
        facts = pat_facts(response)
        facts.pop("state", None)
        facts.setdefault("created_utc", int(now))   # made just now (never the old token's)
        new_record = self.journal.new_record(record).replace(
            state=OK, hint=redact(new_secret), expires_utc=None, checked_at=int(now),
            backoff_until=None, warned_at=None, config_mtime=self.settings.changed_at(),
            extra=dict(record.extra, rotated_at=int(now)), **facts)
        new_record = new_record.replace(
            next_check_at=freshness.next_check_at(new_record, now, policy))
        new_record = self.journal.complete(record, new_record, new_secret, ctx)
        audit.record_event("rotated", new_record, old_token_id=record.token_id,
                           new_token_id=new_record.token_id, expires_at=new_record.expires_at)
        if announce:
            ctx.warn("rotated the %s for %s: %s -> %s, valid until %s" % (
                kind_name(record), record.host, record.hint, new_record.hint,
                new_record.expires_at or "no expiry"))
        return new_record

    def salvage(self, record: TokenRecord, ctx: RequestContext) -> TokenRecord:
        """A rotation found lost: recover its token through a second credential if the user
        has one (orphans.py), else leave it lost (the user is told what to do)."""
        if record.state != LOST or record.kind != PAT:
            return record
        from credhelper.lifecycle.orphans import adopt

        return adopt(self, record, ctx) or record

    # -- OAuth tokens -------------------------------------------------------------------------

    def refresh(self, record: TokenRecord, policy: Policy, ctx: RequestContext,
                strict: bool = False) -> TokenRecord:
        """Refresh an OAuth token with its refresh token (same journal as a rotation)."""
        from credhelper.gitlab.errors import ApiError, Refused, Unavailable

        refresh_token = self.book.secret(refresh_slot(record), ctx)
        if not refresh_token or not record.client_id:
            if strict:
                raise _no_refresh_token()
            return record
        record = self.journal.begin(record, ctx.now())
        try:
            response = self.clients(record, self.settings,
                                    ctx.for_call(ROTATE_TIMEOUT)).oauth_refresh(
                refresh_token, record.client_id)
        except Refused as refused:
            return self._refresh_refused(record, refused, ctx, strict)
        except Unavailable as error:
            if not error.ambiguous:
                record = record.replace(pending=None)
            return outcomes.failed(self.book, record, "refresh", error, policy, ctx, strict)
        except ApiError as error:
            return outcomes.failed(self.book, record.replace(pending=None), "refresh", error,
                                   policy, ctx, strict)
        failpoints.reached("after-server-commit")
        return self._refreshed(record, response, policy, ctx)

    def refresh_rejected(self, record: TokenRecord, policy: Policy, ctx: RequestContext
                         ) -> TokenRecord:
        """A refresh token outlives its access token (docs/gitlab.md#oauth), and this
        machine's clock may be behind the server's: an OAuth token the server refuses is
        refreshed before it is given up.  The record after the attempt: a new token, one
        backing off (the server could not be asked), or the same one (refused)."""
        record = record.replace(backoff_until=None)
        refreshed = self.refresh(record, policy, ctx)
        return self.book.reload(refreshed) or refreshed

    def _refresh_refused(self, record: TokenRecord, refused: Exception, ctx: RequestContext,
                         strict: bool) -> TokenRecord:
        # invalid_grant: this refresh token was spent already; only the user can mend it
        audit.record_event("refresh-failed", record, reason=str(refused)[:100])
        if strict:
            self.book.save(record.replace(pending=None))
            raise refused
        ctx.warn("%s refused to refresh the OAuth token %s (%s); it works until it expires, "
                 "then sign in again: credhelper login %s"
                 % (record.host, record.hint, refused, record.host))
        return self.book.save(record.replace(pending=None, client_id=None))

    def _refreshed(self, record: TokenRecord, response: dict[str, Any], policy: Policy,
                   ctx: RequestContext) -> TokenRecord:
        now = ctx.now()
        access, refresh = response.get("access_token"), response.get("refresh_token")
        if not plausible_token(access):
            return self.journal.lost(record, "the refresh answer held no token", ctx)
        assert isinstance(access, str)
        expires_in = response.get("expires_in")
        new_record = self.journal.new_record(record).replace(
            state=OK, hint=redact(access), checked_at=int(now), backoff_until=None,
            expires_utc=int(now + expires_in) if isinstance(expires_in, int) else None)
        new_record = new_record.replace(
            next_check_at=freshness.next_check_at(new_record, now, policy))
        new_record = self.journal.complete(
            record, new_record, access, ctx,
            refresh_token=refresh if plausible_token(refresh) else None)
        audit.record_event("refreshed", new_record, expires_utc=new_record.expires_utc)
        return new_record


def _no_refresh_token() -> Exception:
    from credhelper.errors import CredhelperError

    return CredhelperError("no refresh token was registered for this OAuth token; sign in "
                           "again (credhelper login HOST), or add it with --refresh-token "
                           "--client-id ID")
