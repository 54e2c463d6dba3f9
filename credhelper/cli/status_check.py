"""Does a token need its user?  The one answer behind ``status``'s ATTENTION line, the
``attention`` field of ``status --json`` and the exit code of ``status --check`` (for cron
and shell prompts: README, "Status and the audit log").

Only tokens the user added can need them: what git, docker or a CI job stored is theirs to
mend.  None means nothing to do; credhelper itself carries on what it can (a check due, a
rotation or refresh coming) and that is no reason to disturb anyone.
"""

from __future__ import annotations

from credhelper.rules import freshness
from credhelper.rules.model import ADDED, NEEDS_CHECK, OAUTH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord

# An interrupted rotation is normally settled at the next use; unsettled for this long, it
# is worth a look (the server may keep failing, or nothing has used the token since).
UNSETTLED_FOR_LONG = freshness.DAY


def attention(record: TokenRecord, now: float, policy: Policy = freshness.DEFAULT_POLICY
              ) -> str | None:
    """Why the user should look at this token now, in a few words; None when nothing."""
    if record.origin != ADDED:
        return None
    unusable = freshness.unusable_reason(record, now)
    if unusable:
        return "not served: it %s" % unusable
    return _unsettled(record, now) or _troubled(record, now) or _expiring(record, now, policy)


def _unsettled(record: TokenRecord, now: float) -> str | None:
    """An interrupted rotation still not settled after a day."""
    if not record.pending:
        return None
    started = record.pending.get("started_at")
    if not isinstance(started, (int, float)):
        return "a rotation is unsettled"
    if now - started < UNSETTLED_FOR_LONG:
        return None
    from credhelper.cli.status_view import utc

    return "a rotation is unsettled since %s" % utc(started)


def _troubled(record: TokenRecord, now: float) -> str | None:
    if record.extra.get("rescued"):
        return "its new token waits in the rescue file"
    if record.backoff_until is not None and now < record.backoff_until:
        return "the last call to the server failed; backing off"
    if record.state == NEEDS_CHECK:
        return "a client reported it was refused"
    if freshness.can_use_api(record) and record.checked_at is None:
        return "never checked by the server"
    return None


def _expiring(record: TokenRecord, now: float, policy: Policy) -> str | None:
    """A token that cannot renew itself, within the policy's warning window."""
    if freshness.renews_itself(record, policy) or (record.kind == OAUTH and record.client_id):
        return None
    expiry = freshness.expiry_utc(record)
    if expiry is None or expiry - now > policy.warn_before_days * freshness.DAY:
        return None
    from credhelper.cli.status_view import span

    return "expires in %s and cannot renew itself" % span(expiry - now)
