"""Outcomes shared by checks, rotations and refreshes that end without a new token."""

from __future__ import annotations

from credhelper.lifecycle.explain import call_failed, expiry_warning
from credhelper.local import audit
from credhelper.rules import freshness

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.gitlab.errors import ApiError
    from credhelper.lifecycle.book import TokenBook
    from credhelper.lifecycle.context import RequestContext
    from credhelper.rules.freshness import Policy
    from credhelper.rules.model import TokenRecord


def failed(book: TokenBook, record: TokenRecord, what: str, error: ApiError, policy: Policy,
           ctx: RequestContext, strict: bool = False) -> TokenRecord:
    """A call failed without a verdict on the token: keep using it, try again later (after a
    backoff, unless the server was never asked: this request had no time left)."""
    from credhelper.gitlab.errors import NoTimeLeft

    now = ctx.now()
    if not isinstance(error, NoTimeLeft):
        retry_after = getattr(error, "retry_after", None)
        record = book.save(record.replace(
            backoff_until=freshness.backoff_until(now, policy, retry_after)))
    audit.record_event(what + "-failed", record, error=str(error)[:200])
    if strict:
        raise error
    ctx.warn(call_failed(record, what, error, freshness.unusable_reason(record, now) is None))
    return record


def warn_expiry(book: TokenBook, record: TokenRecord, policy: Policy, ctx: RequestContext
                ) -> None:
    """Tell the user, at most daily, about a token near expiry that cannot renew itself."""
    now = ctx.now()
    if not freshness.warning_due(record, now, policy.warn_before_days):
        return
    ctx.warn(expiry_warning(record, freshness.days_left(record, now)))
    book.save(record.replace(warned_at=int(now)))
