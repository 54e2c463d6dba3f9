"""Closing GitLab's lost-answer window where it can be closed (docs/gitlab.md#lost-answer-window).

When a rotation committed on the server but its answer never arrived, the new token exists
only there: an active token with the old one's name, created after the rotation started.  A
second credential of the same account with ``api`` scope (an OAuth login, another PAT) can
list the account's tokens, find that orphan, and rotate it by id; the answer to that rotation
is a token credhelper has.  Rotating by id with a *different*, active credential does not
trip reuse detection.  Without such a credential, or with more than one candidate, the user
is told which token is the orphan.
"""

from __future__ import annotations

import time

from credhelper.rules.model import ADDED, OAUTH, OK, PAT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.lifecycle.context import RequestContext
    from credhelper.lifecycle.renewal import Renewal
    from credhelper.rules.model import TokenRecord

CLOCK_SKEW = 300     # seconds the server's created_at may run behind ours


def helper_credential(records: list[TokenRecord], lost: TokenRecord) -> TokenRecord | None:
    """Another working credential of the same account, on the same host, with ``api``."""
    if lost.user_id is None:
        return None
    return next((other for other in records if _can_help(other, lost)), None)


def _can_help(other: TokenRecord, lost: TokenRecord) -> bool:
    same_account = (other.host == lost.host and other.user_id == lost.user_id
                    and other.id != lost.id)
    return (same_account and other.origin == ADDED and other.kind in (PAT, OAUTH)
            and other.state == OK and "api" in (other.scopes or ()))


def orphans(listing: list[dict[str, Any]], lost: TokenRecord) -> list[dict[str, Any]]:
    """The tokens in a listing that can be the lost rotation's new token: the old one's
    name, never used, the expiry the rotation asked for, created since it started."""
    started = (lost.pending or {}).get("started_at") or lost.extra.get("lost_at") or 0
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(float(started) - CLOCK_SKEW))
    wanted_expiry = (lost.pending or {}).get("expires_at")
    return [t for t in listing if _may_be_orphan(t, lost, since, wanted_expiry)]


def _may_be_orphan(token: dict[str, Any], lost: TokenRecord, since: str,
                   wanted_expiry: str | None) -> bool:
    if token.get("name") != lost.token_name or token.get("id") == lost.token_id:
        return False
    if token.get("active") is False or token.get("last_used_at") is not None:
        return False
    expiry_fits = not wanted_expiry or token.get("expires_at") in (wanted_expiry, None)
    return expiry_fits and str(token.get("created_at", "")) >= since


def adopt(renewal: Renewal, lost: TokenRecord, ctx: RequestContext) -> TokenRecord | None:
    """The lost rotation's token, recovered through a second credential, or None (the
    candidates found, if any, are noted on the record for the message)."""
    from credhelper.gitlab.errors import ApiError

    helper = helper_credential(renewal.book.tokens.load(), lost)
    secret = renewal.book.secret(helper, ctx) if helper is not None else None
    if helper is None or secret is None or not lost.token_name or lost.pending is None:
        return None
    try:
        response = _rotate_orphan(renewal, helper, secret, lost, ctx)
    except ApiError as error:
        ctx.warn("could not recover the lost rotation for %s through another credential "
                 "(%s)" % (lost.host, error))
        return None
    if response is None:
        return None
    ctx.warn("recovered the lost rotation of %s for %s through the %s %s"
             % (lost.hint, lost.host, "OAuth token" if helper.kind == OAUTH else
                "access token", helper.hint))
    clean = lost.replace(extra={key: value for key, value in lost.extra.items()
                                if key not in ("lost_at", "orphans")})
    return renewal.rotated(clean, response, renewal.settings.policy(lost.host), ctx)


def _rotate_orphan(renewal: Renewal, helper: TokenRecord, secret: str, lost: TokenRecord,
                   ctx: RequestContext) -> dict[str, Any] | None:
    """Find the one orphan and rotate it by id; None (candidates noted) unless exactly one."""
    from credhelper.lifecycle.renewal import CHECK_TIMEOUT, ROTATE_TIMEOUT

    assert lost.pending is not None and lost.token_name
    bearer = helper.kind == OAUTH
    client = renewal.clients(helper, renewal.settings, ctx.for_call(CHECK_TIMEOUT))
    found = orphans(client.list_tokens(secret, lost.token_name, bearer), lost)
    if len(found) != 1:
        renewal.book.save(lost.replace(extra=dict(
            lost.extra, orphans=[t.get("id") for t in found][:5])))
        return None
    client = renewal.clients(helper, renewal.settings, ctx.for_call(ROTATE_TIMEOUT))
    return client.rotate_token(secret, int(found[0]["id"]), lost.pending.get("expires_at"),
                               bearer)
