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

from credhelper.gitlab import answers, transport, wire
from credhelper.gitlab.errors import InsufficientScope, NoTimeLeft, TokenRejected, Unavailable
from credhelper.rules.redact import known_secret

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from credhelper.local.trust import Trust

CONNECT_TIMEOUT = 3.05   # seconds; a little over a multiple of 3 (TCP retransmission window)
READ_TIMEOUT = 5.0       # without ``timeout``: the longest wait for one read
DEFAULT_TIMEOUT = 10.0   # without ``timeout``: the longest a call takes in all
MIN_TIME_FOR_A_CALL = 0.5
# Fields of a rotation's or an OAuth refresh's answer that hold a new secret
SECRET_FIELDS = ("token", "access_token", "refresh_token", "device_code")
# Parameters of a call that are secrets (never shown, whatever echoes them)
SECRET_PARAMETERS = ("refresh_token", "device_code", "code", "code_verifier")


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
        ``session`` (``new_session``'s) lets clients share connections: without it the client
        has a session of its own.
        """
        self.base_url = base_url.rstrip("/")
        self.api_url = (api_url or self.base_url + "/api/v4").rstrip("/")
        self.deadline = deadline
        self.timeout = timeout
        self.proof = proof
        # a session from ``new_session`` brings its own trust, and its open connections
        self.session = session or new_session(trust, ca_file)

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
            raise Unavailable("%s answered with %s" % (answers.where(self.api_url), bad)) from None

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

    def oauth_revoke(self, token: str, client_id: str) -> None:
        """RFC 7009 revocation of an OAuth token (the access and refresh token are one grant
        at GitLab: both end); 200 also for a token the server does not know."""
        self._call("POST", self.base_url + "/oauth/revoke", None,
                   data={"token": token, "client_id": client_id})

    def oauth_device_authorize(self, client_id: str, scopes: str) -> dict[str, Any]:
        """RFC 8628's device authorization request (GitLab 17.1 and later)."""
        return self._json("POST", self.base_url + "/oauth/authorize_device", None,
                          data={"client_id": client_id, "scope": scopes})

    def oauth_token(self, data: dict[str, str]) -> dict[str, Any]:
        """POST /oauth/token with one grant's parameters (device code, authorization code)."""
        return self._json("POST", self.base_url + "/oauth/token", None, data=data)

    # -- plumbing ---------------------------------------------------------------------------

    def _json(self, method: str, url: str, token: str | None, **options: Any) -> dict[str, Any]:
        response = self._call(method, url, token, **options)
        try:
            answer = wire.json_object(response.content)
        except wire.BadBody as bad:
            raise Unavailable("%s answered %s with %s"
                              % (answers.where(url), response.status_code, bad),
                              response.status_code, ambiguous=method in answers.NOT_IDEMPOTENT) \
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
        for field in SECRET_PARAMETERS:
            known_secret((data or {}).get(field))
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
                raise answers.unavailable(failed, method, url, exchange.sent, ends - started) \
                    from None
        answers.raise_for_status(response, url, method)
        return response

    def _budget(self) -> tuple[float, tuple[float, float]]:
        """When this call must end, and its (connect, read) socket timeouts."""
        now = time.monotonic()
        ends = now + (DEFAULT_TIMEOUT if self.timeout is None else self.timeout)
        if self.deadline is not None:
            ends = min(ends, self.deadline)
        left = ends - now
        if left < MIN_TIME_FOR_A_CALL:
            raise NoTimeLeft()
        read = min(READ_TIMEOUT, left) if self.timeout is None else left
        return ends, (min(CONNECT_TIMEOUT, left), read)


def new_session(trust: Trust | None = None, ca_file: str | None = None) -> requests.Session:
    """A session for GitLab clients: its connections are kept open between calls, so the
    clients that share it make one TLS handshake per origin."""
    session = requests.Session()
    transport.prepare(session, trust)
    session.trust_env = False     # no proxies or netrc credentials from the env...
    session.verify = ca_file or _system_verify()   # ...but the CA bundle env counts
    session.headers["User-Agent"] = "credhelper"
    return session


def _system_verify() -> str | bool:
    """requests ignores REQUESTS_CA_BUNDLE once trust_env is off; honour it ourselves."""
    import os

    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
