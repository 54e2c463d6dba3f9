"""Keeping a token good: ask the server about it, renew it before it expires, and finish or
explain a renewal that was interrupted (the steps are in journal.py).

Only ``get`` (and the admin commands) call in here, and only when
``freshness.needs_attention`` says so; the decisions themselves are the pure functions of
``rules.freshness``.  All of it runs under the token's slot lock, and re-reads the index once
it holds the lock: of 32 processes that all find a token due, one rotates and 31 find the new
token already there.

The keeper depends on narrow interfaces: a ``TokenBook`` (index and secrets), the
``Settings`` and a client factory.  Every call takes the ``RequestContext`` of the request it
serves, whose clock, deadline and warnings it uses.
"""

from __future__ import annotations

from credhelper.errors import CredhelperError
from credhelper.fleet import LINK
from credhelper.lifecycle import outcomes
from credhelper.lifecycle.book import LOCK_WAIT
from credhelper.lifecycle.clients import client_for
from credhelper.lifecycle.explain import kind_name, unsettled
from credhelper.lifecycle.facts import REJECTION_STATES, oauth_facts, pat_facts
from credhelper.lifecycle.journal import Journal
from credhelper.lifecycle.renewal import ROTATE_TIMEOUT, Renewal
from credhelper.local import audit
from credhelper.local.files import LockTimeout
from credhelper.rules import freshness
from credhelper.rules.model import DEPLOY, NEEDS_CHECK, OAUTH, OK, REVOKED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.gitlab.client import GitLabClient
    from credhelper.lifecycle.book import TokenBook
    from credhelper.lifecycle.clients import ClientFactory
    from credhelper.lifecycle.context import RequestContext
    from credhelper.local.settings import Settings
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord


class Keeper:
    def __init__(self, book: TokenBook, settings: Settings,
                 clients: ClientFactory = client_for) -> None:
        self.book = book
        self.settings = settings
        self.clients = clients
        self.journal = Journal(book, settings, clients)
        self.renewal = Renewal(book, self.journal, settings, clients)

    # -- entry points -----------------------------------------------------------------------

    def attend(self, record: TokenRecord, ctx: RequestContext, force_check: bool = False
               ) -> TokenRecord | None:
        """The record to serve after whatever it needed (it may be a new, rotated record, or
        one now known to be unusable); None when it was removed meanwhile."""
        if not freshness.can_use_api(record) and not record.pending:
            if record.kind == DEPLOY and record.state == NEEDS_CHECK:
                return self._probe_deploy(record, ctx)
            outcomes.warn_expiry(self.book, record, self.settings.policy(record.host), ctx)
            return record
        secret = self.book.secret(record)
        try:
            return self._attend_under_lock(record, ctx, force_check, secret, LOCK_WAIT)
        except LockTimeout:
            pass
        current = self.book.reload(record)
        if current is not None and _holder_may_be_renewing(current, ctx, self.settings):
            try:        # then the token as it is may be revoked any moment: wait for it too
                return self._attend_under_lock(record, ctx, force_check, secret,
                                               ROTATE_TIMEOUT + LOCK_WAIT)
            except LockTimeout:
                pass
        ctx.warn("another credhelper is still busy with the %s for %s; using it as it is"
                 % (kind_name(record), record.host))
        return current or record

    def _attend_under_lock(self, record: TokenRecord, ctx: RequestContext, force_check: bool,
                           secret: str | None, wait: float) -> TokenRecord | None:
        with self.book.lock_for(record, secret, timeout=wait):
            current = self.book.reload(record)
            if current is None:
                return None
            if not force_check and not freshness.needs_attention(
                    current, ctx.now(), self.settings.changed_at()):
                return current     # another process did it while we waited
            return self._attend_locked(current, ctx, force_check)

    def rotate_now(self, record: TokenRecord, ctx: RequestContext) -> TokenRecord | None:
        """`credhelper rotate`: rotate whatever the policy says (errors are raised)."""
        with self.book.lock_for(record, self.book.secret(record)):
            current = self.book.reload(record)
            if current is None:
                return None
            _refuse_shared(current)
            if current.pending:
                current = self.journal.recover(current, ctx)
                if current.pending:
                    raise CredhelperError(unsettled(current))
                if current.state not in (OK, NEEDS_CHECK):
                    return current
            policy = self.settings.policy(current.host)
            if current.kind == OAUTH:
                return self.renewal.refresh(current, policy, ctx, strict=True)
            secret = self.book.secret(current, ctx)
            if secret is None:
                raise _missing_secret(current)
            return self.renewal.rotate(current, secret, policy, ctx, strict=True)

    def revoke(self, record: TokenRecord, ctx: RequestContext, secret: str | None = None
               ) -> bool:
        """`remove --revoke`, `logout`: revoked on the server with the record's secret, or
        ``secret`` (`add` holds a replaced token's after forgetting it)."""
        secret = secret or self.book.secret(record, ctx)
        if secret is None:
            return False
        _revoke_call(self.clients(record, self.settings, ctx), record, secret)
        audit.record_event("revoked", record)
        return True

    def inspect(self, record: TokenRecord, secret: str, ctx: RequestContext) -> TokenRecord:
        """Ask the server about a token that is not registered yet (`credhelper add`).

        Returns the record with what the server said; raises TokenRejected for a token that
        does not work, and other ApiErrors when the server cannot be asked.
        """
        now = ctx.now()
        state, facts = self._ask(record, secret, ctx)
        if state != OK:
            from credhelper.gitlab.errors import TokenRejected

            raise TokenRejected(state, "the server says the token %s" % (
                "was revoked" if state == REVOKED else "has expired"))
        record = record.replace(checked_at=int(now), state=OK,
                                config_mtime=self.settings.changed_at(), **facts)
        return record.replace(next_check_at=freshness.next_check_at(
            record, now, self.settings.policy(record.host)))

    # -- what a token needs -----------------------------------------------------------------

    def _attend_locked(self, record: TokenRecord, ctx: RequestContext, force_check: bool
                       ) -> TokenRecord:
        if LINK in record.extra:     # shared through OpenBao: it never rotates on its own
            return _fleet_attend(self, record, ctx, force_check)
        record = self._finish_interrupted(record, ctx)
        if record.state in freshness.FINAL_STATES or record.pending:
            return record
        secret = self.book.secret(record, ctx)
        if secret is None:
            return record                 # lookup explains a missing secret
        policy = self.settings.policy(record.host)
        if force_check or freshness.check_due(record, ctx.now(), self.settings.changed_at()):
            record = self._check(record, secret, policy, ctx)
        if record.state != OK:
            return record
        now = ctx.now()
        if freshness.rotation_due(record, now, policy):
            return self.renewal.rotate(record, secret, policy, ctx)
        if freshness.refresh_due(record, now) and record.client_id:
            return self.renewal.refresh(record, policy, ctx)
        outcomes.warn_expiry(self.book, record, policy, ctx)
        return record

    def _finish_interrupted(self, record: TokenRecord, ctx: RequestContext) -> TokenRecord:
        """What a crashed process left: a stale secret to delete, a journal entry to settle."""
        record = self.journal.bring_home(self.journal.drop_stale_secret(record, ctx))
        if not record.pending:
            return record
        return self.renewal.salvage(self.journal.recover(record, ctx), ctx)

    def _ask(self, record: TokenRecord, secret: str, ctx: RequestContext
             ) -> tuple[str, dict[str, Any]]:
        """(state the answer proves, record fields) from the token's self-information."""
        client = self.clients(record, self.settings, ctx)
        if record.kind == OAUTH:
            facts = oauth_facts(client.oauth_info(secret), ctx.now())
        else:
            facts = pat_facts(client.token_self(secret))
        return facts.pop("state", OK), facts

    def _probe_deploy(self, record: TokenRecord, ctx: RequestContext) -> TokenRecord:
        """Git refused a deploy token, which has no self endpoint: ask the registry's token
        service whether GitLab still accepts it, so a revoked one is named."""
        from credhelper.gitlab.errors import ApiError

        secret = self.book.secret(record, ctx)
        if secret is None or not record.username:
            return record
        policy = self.settings.policy(record.host)
        try:
            valid = self.clients(record, self.settings, ctx).deploy_token_valid(
                record.username, secret)
        except ApiError as error:
            return outcomes.failed(self.book, record, "check", error, policy, ctx)
        if not valid:
            audit.record_event("rejected", record, reason="deploy token refused")
        return self.book.save(record.replace(state=OK if valid else REVOKED,
                                             checked_at=int(ctx.now()), backoff_until=None))

    def _ask_confirmed(self, record: TokenRecord, secret: str, ctx: RequestContext
                       ) -> tuple[str, dict[str, Any]]:
        """``_ask``, with "unknown token" asked twice before it counts: unlike revoked and
        expired, which GitLab words itself, a bare 401 can come from anything on the way."""
        from credhelper.gitlab.errors import TokenRejected

        try:
            return self._ask(record, secret, ctx)
        except TokenRejected as rejected:
            if rejected.reason != "unknown":
                raise
        return self._ask(record, secret, ctx)

    def _check(self, record: TokenRecord, secret: str, policy: Policy, ctx: RequestContext
               ) -> TokenRecord:
        """Ask the server about the token and record the answer."""
        from credhelper.gitlab.errors import ApiError, TokenRejected

        now = ctx.now()
        try:
            state, changes = self._ask_confirmed(record, secret, ctx)
        except TokenRejected as rejected:
            if record.kind == OAUTH and record.client_id:
                refreshed = self.renewal.refresh_rejected(record, policy, ctx)
                if refreshed.hint != record.hint or (refreshed.backoff_until or 0) > now:
                    return refreshed          # a new token, or no verdict yet: tried later
                record = refreshed
            audit.record_event("rejected", record, reason=rejected.reason)
            return self.book.save(record.replace(state=REJECTION_STATES[rejected.reason],
                                                 checked_at=int(now), pending=None))
        except ApiError as error:
            return outcomes.failed(self.book, record, "check", error, policy, ctx)
        updated = record.replace(state=state, checked_at=int(now), backoff_until=None,
                                 config_mtime=self.settings.changed_at(), **changes)
        updated = updated.replace(next_check_at=freshness.next_check_at(updated, now, policy))
        differences = {key: getattr(updated, key) for key in ("state", "scopes", "expires_at",
                                                              "token_id")
                       if getattr(updated, key) != getattr(record, key)}
        if (differences and record.checked_at is not None) or record.state == NEEDS_CHECK:
            audit.record_event("checked", updated, changed=differences)
        return self.book.save(updated)


def _revoke_call(client: GitLabClient, record: TokenRecord, secret: str) -> None:
    """An access token's DELETE .../personal_access_tokens/self, an OAuth token's RFC 7009
    revocation (docs/gitlab.md#oauth)."""
    if record.kind == OAUTH and record.client_id:
        client.oauth_revoke(secret, record.client_id)
    else:
        client.revoke_self(secret)


def _holder_may_be_renewing(record: TokenRecord, ctx: RequestContext, settings: Settings
                            ) -> bool:
    """Is the lock's holder waiting for a rotate answer, or perhaps about to rotate or
    refresh (the token is due)?"""
    return bool(record.pending) or freshness.renewal_due(record, ctx.now(),
                                                         settings.policy(record.host))


def _refuse_shared(record: TokenRecord) -> None:
    """`credhelper rotate` of a token shared through OpenBao: only its fleet rotates it."""
    if LINK in record.extra:
        raise CredhelperError("the token for %s is shared through OpenBao: it rotates when it "
                              "is due, by one machine of the fleet" % record.host)


def _fleet_attend(keeper: Keeper, record: TokenRecord, ctx: RequestContext,
                  force_check: bool) -> TokenRecord:
    from credhelper.fleet.keeper import FleetKeeper

    return FleetKeeper(keeper).attend(record, ctx, force_check)


def _missing_secret(record: TokenRecord) -> Exception:
    from credhelper.errors import StoreError

    return StoreError("the %s for %s is missing from its store"
                      % (kind_name(record), record.host))
