"""A narrow GitLab API client: token self-information, rotation, revocation, OAuth token info
and refresh, over one ``requests.Session``.

Every call has a total deadline (``timeout`` and the client's ``deadline``, whichever comes
first) that covers connecting, waiting and reading, and reads a bounded, decoded body
(transport.py, wire.py).  Answers are classified into the exceptions of ``gitlab.errors``
(docs/gitlab.md#api-authentication-and-error-bodies), which say whether a failed POST may
have been carried out (``Unavailable.ambiguous``).

Every credential a call sends, and every token an answer hands over, is registered with
``redact.known_secret``; the server's own words in an error are scrubbed
(docs/gitlab.md#api-authentication-and-error-bodies): a server, a proxy or an attacker in
between may echo the token or put terminal escapes there.
"""

from __future__ import annotations

import time

import requests

from credhelper.gitlab import transport, wire
from credhelper.gitlab.errors import (
    ApiError,
    DpopRequired,
    InsufficientScope,
    Refused,
    TokenRejected,
    Unavailable,
)
from credhelper.rules.redact import known_secret, scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from credhelper.local.trust import Trust

CONNECT_TIMEOUT = 3.05   # seconds; a little over a multiple of 3 (TCP retransmission window)
READ_TIMEOUT = 5.0       # without ``timeout``: the longest wait for one read
DEFAULT_TIMEOUT = 10.0   # without ``timeout``: the longest a call takes in all
MIN_TIME_FOR_A_CALL = 0.5
# Calls that change something on the server: a failure after the request went out leaves it
# unknown whether they were carried out (docs/gitlab.md#lost-answer-window).
NOT_IDEMPOTENT = ("POST",)
# Fields of a rotation's or an OAuth refresh's answer that hold a new secret
SECRET_FIELDS = ("token", "access_token", "refresh_token")


class GitLabClient:
    def __init__(self, base_url: str, api_url: str | None = None, ca_file: str | None = None,
                 deadline: float | None = None,
                 proof: Callable[[str, str, str], str] | None = None,
                 session: requests.Session | None = None, timeout: float | None = None,
                 trust: Trust | None = None) -> None:
        """``base_url`` is ``https://HOST[:PORT]``; ``api_url`` defaults to ``base_url/api/v4``.

        ``deadline`` is a ``time.monotonic()`` instant by which every call has ended (none
        starts with less than MIN_TIME_FOR_A_CALL left).  ``timeout`` is the seconds one call
        may take in all, waiting for the server as long as that allows; without it a call
        takes at most DEFAULT_TIMEOUT with READ_TIMEOUT per read.  With both, a call ends at
        min(its start + timeout, deadline).  ``proof`` (method, url, token) -> header value
        adds a DPoP proof to API calls.  ``trust`` (local/trust.py) verifies TLS, not ca_file.
        """
        self.base_url = base_url.rstrip("/")
        self.api_url = (api_url or self.base_url + "/api/v4").rstrip("/")
        self.deadline = deadline
        self.timeout = timeout
        self.proof = proof
        self.session = session or requests.Session()
        transport.prepare(self.session, trust)
        self.session.trust_env = False     # no proxies or netrc credentials from the env...
        self.session.verify = ca_file or _system_verify()   # ...but the CA bundle env counts
        self.session.headers["User-Agent"] = "credhelper"

    # -- personal, project and group access tokens -----------------------------------------

    def token_self(self, token: str | None) -> dict[str, Any]:
        return self._json("GET", self.api_url + "/personal_access_tokens/self", token)

    def rotate(self, token: str, expires_at: str | None = None) -> dict[str, Any]:
        data = {"expires_at": expires_at} if expires_at else None
        return self._json("POST", self.api_url + "/personal_access_tokens/self/rotate", token,
                          data=data)

    def revoke_self(self, token: str) -> None:
        self._call("DELETE", self.api_url + "/personal_access_tokens/self", token)

    def current_user(self, token: str, bearer: bool = False) -> dict[str, Any]:
        """GET /user: the token's owner (needs api, read_api or read_user)."""
        return self._json("GET", self.api_url + "/user", token, bearer=bearer)

    # -- any of the user's own tokens, with an api-scoped credential (PAT or OAuth) -------

    def list_tokens(self, credential: str, search: str, bearer: bool = False
                    ) -> list[dict[str, Any]]:
        """The caller's active tokens whose name contains ``search`` (first 100)."""
        from urllib.parse import urlencode

        query = urlencode({"state": "active", "search": search, "per_page": "100"})
        response = self._call("GET", self.api_url + "/personal_access_tokens?" + query,
                              credential, bearer=bearer)
        try:
            return wire.json_list(response.content)
        except wire.BadBody as bad:
            raise Unavailable("%s answered with %s" % (_where(self.api_url), bad)) from None

    def rotate_token(self, credential: str, token_id: int, expires_at: str | None,
                     bearer: bool = False) -> dict[str, Any]:
        data = {"expires_at": expires_at} if expires_at else None
        return self._json("POST", "%s/personal_access_tokens/%d/rotate" % (self.api_url,
                                                                          token_id),
                          credential, data=data, bearer=bearer)

    # -- deploy tokens: no self endpoint (docs/gitlab.md#changes-in-gitlab-2024-2026) -------

    def deploy_token_valid(self, username: str, token: str) -> bool:
        """Does GitLab still accept this deploy token?  Asked through the registry's token
        service, which judges Basic credentials as git does: 401 means refused (revoked,
        expired, unknown); a token, or 403 for a token without registry scopes, means it
        works.  Anything else (a 404: no registry here) raises Unavailable."""
        try:
            self._call("GET", self.base_url + "/jwt/auth?service=container_registry", None,
                       basic=(username, token))
        except InsufficientScope:
            return True
        except TokenRejected:
            return False
        return True

    # -- OAuth ------------------------------------------------------------------------------

    def oauth_info(self, token: str | None) -> dict[str, Any]:
        return self._json("GET", self.base_url + "/oauth/token/info", token, bearer=True)

    def oauth_refresh(self, refresh_token: str, client_id: str | None) -> dict[str, Any]:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if client_id:
            data["client_id"] = client_id
        return self._json("POST", self.base_url + "/oauth/token", None, data=data)

    # -- plumbing ---------------------------------------------------------------------------

    def _json(self, method: str, url: str, token: str | None, **options: Any) -> dict[str, Any]:
        response = self._call(method, url, token, **options)
        try:
            answer = wire.json_object(response.content)
        except wire.BadBody as bad:
            raise Unavailable("%s answered %s with %s" % (_where(url), response.status_code, bad),
                              response.status_code, ambiguous=method in NOT_IDEMPOTENT) \
                from None
        for field in SECRET_FIELDS:
            if isinstance(answer.get(field), str):
                known_secret(answer[field])
        return answer

    def _call(self, method: str, url: str, token: str | None,
              data: dict[str, str] | None = None, bearer: bool = False,
              basic: tuple[str, str] | None = None) -> requests.Response:
        started = time.monotonic()
        ends, timeout = self._budget()
        headers: dict[str, str] = {}
        known_secret(token)
        known_secret((data or {}).get("refresh_token"))
        if basic is not None:
            import base64

            pair = base64.b64encode(("%s:%s" % basic).encode()).decode("ascii")
            known_secret(basic[1])
            known_secret(pair)
            headers["Authorization"] = "Basic " + pair
        elif token is not None:
            if bearer:
                headers["Authorization"] = "Bearer " + token
            else:
                headers["PRIVATE-TOKEN"] = token
            if self.proof is not None and url.startswith(self.api_url):
                headers["DPoP"] = self.proof(method, url, token)
        with transport.Exchange(ends) as exchange:
            try:
                response = transport.exchange(self.session, exchange, method, url, timeout,
                                              headers=headers, data=data)
            except transport.Failed as failed:
                raise _unavailable(failed, method, url, exchange.sent, ends - started) \
                    from None
        _raise_for_status(response, url, method)
        return response

    def _budget(self) -> tuple[float, tuple[float, float]]:
        """When this call must end, and its (connect, read) socket timeouts."""
        now = time.monotonic()
        ends = now + (DEFAULT_TIMEOUT if self.timeout is None else self.timeout)
        if self.deadline is not None:
            ends = min(ends, self.deadline)
        left = ends - now
        if left < MIN_TIME_FOR_A_CALL:
            raise Unavailable("no time left to ask the server")
        read = min(READ_TIMEOUT, left) if self.timeout is None else left
        return ends, (min(CONNECT_TIMEOUT, left), read)


def _unavailable(failed: transport.Failed, method: str, url: str, sent: bool,
                 allowed: float) -> Unavailable:
    """The words for a broken exchange, and whether the request may have been carried out."""
    where, detail = _where(url), scrub(failed.detail)   # the OS's or the TLS library's words
    messages = {
        "resolve": "cannot resolve %s" % where.rsplit(":", 1)[0],
        "connect": "cannot connect to %s (%s)" % (where, detail),
        "connect-timeout": "%s did not accept a connection in time" % where,
        "tls": "TLS with %s failed (%s); %s" % (
            where, detail, failed.hint or "for a self-managed CA set ca_file in the config"),
        "timeout": "%s did not answer within %.1f s" % (where, allowed),
        "dropped": "%s closed the connection (%s)" % (where, detail),
        "too-big": "%s answered with a body too big (over %d KiB)" % (where,
                                                                     wire.MAX_BODY // 1024),
    }
    message = messages.get(failed.kind) or "request to %s failed (%s)" % (where, detail)
    retry_after = _retry_after(failed.headers.get("Retry-After"))
    return Unavailable(message, failed.status, retry_after=retry_after,
                       ambiguous=sent and method in NOT_IDEMPOTENT)


def _raise_for_status(response: requests.Response, url: str, method: str) -> None:
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
        raise Unavailable("%s answered %d" % (_where(url), status), status,
                          retry_after=_retry_after(response.headers.get("Retry-After")),
                          ambiguous=method in NOT_IDEMPOTENT)
    raise Refused(description or "%s answered %d" % (_where(url), status), status)


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
                            "registered in GitLab for signing" % (_where(url), description), 401)
    if error == "invalid_token" and "expired" in description.lower():
        return TokenRejected("expired", "the server says the token has expired")
    if error == "invalid_token" and "revoked" in description.lower():
        return TokenRejected("revoked", "the server says the token was revoked")
    if error == "invalid_token" or description.startswith("401 Unauthorized"):
        return TokenRejected("unknown", "the server does not know the token")
    # not GitLab's words (a proxy, a gateway, a captive portal): no verdict on the token
    return Unavailable("%s answered 401 without GitLab's error body" % _where(url), 401)


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        return wire.json_object(response.content)
    except wire.BadBody:
        return {}


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date, capped), or None."""
    return wire.retry_after(value, time.time())


def _system_verify() -> str | bool:
    """requests ignores REQUESTS_CA_BUNDLE once trust_env is off; honour it ourselves."""
    import os

    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _where(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
