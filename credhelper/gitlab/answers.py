"""What GitLab's answers mean: a broken exchange or an HTTP status with GitLab's error body,
classified into the exceptions of ``gitlab.errors``
(docs/gitlab.md#api-authentication-and-error-bodies).

The server's own words are scrubbed and put on one bounded line: a server, a proxy or an
attacker in between may echo the token or put terminal escapes there.  A failure of a call
that changes something (``NOT_IDEMPOTENT``) after its request went out is ambiguous: it may
have been carried out (docs/gitlab.md#lost-answer-window).
"""

from __future__ import annotations

import time

from credhelper.gitlab import transport, wire
from credhelper.gitlab.errors import (
    ApiError,
    DpopRequired,
    InsufficientScope,
    Refused,
    TokenRejected,
    Unavailable,
)
from credhelper.rules.redact import scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import requests

# Calls that change something on the server: a failure after the request went out leaves it
# unknown whether they were carried out (docs/gitlab.md#lost-answer-window).
NOT_IDEMPOTENT = ("POST",)


def unavailable(failed: transport.Failed, method: str, url: str, sent: bool,
                 allowed: float) -> Unavailable:
    """The words for a broken exchange, and whether the request may have been carried out."""
    place, detail = where(url), scrub(failed.detail)   # the OS's or the TLS library's words
    messages = {
        "resolve": "cannot resolve %s" % place.rsplit(":", 1)[0],
        "connect": "cannot connect to %s (%s)" % (place, detail),
        "connect-timeout": "%s did not accept a connection in time" % place,
        "proxy": "cannot reach %s through %s" % (place, detail),
        "tls": "TLS with %s failed (%s); %s" % (
            place, detail, failed.hint or "for a self-managed CA set ca_file in the config"),
        "timeout": "%s did not answer within %.1f s" % (place, allowed),
        "dropped": "%s closed the connection (%s)" % (place, detail),
        "too-big": "%s answered with a body too big (over %d KiB)" % (place,
                                                                     wire.MAX_BODY // 1024),
    }
    message = messages.get(failed.kind) or "request to %s failed (%s)" % (place, detail)
    retry_after = _retry_after(failed.headers.get("Retry-After"))
    return Unavailable(message, failed.status, retry_after=retry_after,
                       ambiguous=sent and method in NOT_IDEMPOTENT)


def raise_for_status(response: requests.Response, url: str, method: str) -> None:
    status = response.status_code
    if status < 300:
        return
    body = _body(response)
    description = _description(body)
    if status == 401:
        if _registry_refusal(body):
            raise TokenRejected("unknown", "the server refuses the token")
        raise _unauthorized(body.get("error"), description, url)
    if status == 403:
        raise InsufficientScope("the token lacks the scope for this (%s)"
                                % (_text(body.get("scope")) or description or "403"), status)
    if status == 429 or status >= 500:
        # GitLab may have committed before failing (a 500 after the transaction, a proxy's
        # 502/504 while the server carried on): a POST's outcome is unknown
        raise Unavailable("%s answered %d" % (where(url), status), status,
                          retry_after=_retry_after(response.headers.get("Retry-After")),
                          ambiguous=method in NOT_IDEMPOTENT)
    code = body.get("error")
    raise Refused(description or "%s answered %d" % (where(url), status), status,
                  code if isinstance(code, str) and code.isidentifier() else None)


def _registry_refusal(body: Mapping[str, Any]) -> bool:
    """The registry token service's 401: ``{"errors":[{"code":"UNAUTHORIZED",...}]}``."""
    errors = body.get("errors")
    return (isinstance(errors, list) and bool(errors) and isinstance(errors[0], dict)
            and errors[0].get("code") == "UNAUTHORIZED")


def _description(body: Mapping[str, Any]) -> str:
    """The server's own words about an error, on one line, bounded."""
    return _text(body.get("error_description") or body.get("message") or "")


def _text(value: object) -> str:
    """The server's words, safe to show (scrubbed), on one line, bounded."""
    text = value if isinstance(value, str) else str(value) if value is not None else ""
    return " ".join(scrub(text[:2000]).split())[:300]


def _unauthorized(error: object, description: str, url: str) -> ApiError:
    """A 401, told apart by GitLab's bodies (docs/gitlab.md#api-authentication-and-error-bodies)."""
    if error == "dpop_error":
        return DpopRequired("%s refused the DPoP proof (%s); a DPoP-bound token needs "
                            "credhelper add HOST --dpop-key PATH|agent with an RSA key "
                            "registered in GitLab for signing" % (where(url), description), 401)
    if error in ("invalid_client", "unauthorized_client"):     # Doorkeeper's, at /oauth/...
        return Refused(description or "%s refused the OAuth application" % where(url), 401,
                       str(error))
    if error == "invalid_token" and "expired" in description.lower():
        return TokenRejected("expired", "the server says the token has expired")
    if error == "invalid_token" and "revoked" in description.lower():
        return TokenRejected("revoked", "the server says the token was revoked")
    if error == "invalid_token" or description.startswith("401 Unauthorized"):
        return TokenRejected("unknown", "the server does not know the token")
    # not GitLab's words (a proxy, a gateway, a captive portal): no verdict on the token
    return Unavailable("%s answered 401 without GitLab's error body" % where(url), 401)


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        return wire.json_object(response.content)
    except wire.BadBody:
        return {}


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date, capped), or None."""
    return wire.retry_after(value, time.time())


def where(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
