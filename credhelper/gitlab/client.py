"""A narrow GitLab API client: token self-information, rotation, revocation, OAuth token info
and refresh, over one ``requests.Session``.

Every call has a connect and a read timeout and respects an overall deadline, so a `get` that
has to reach the server never blocks git for long.  Responses are classified into the
exceptions of ``gitlab.errors`` (docs/gitlab.md#api-authentication-and-error-bodies).
"""

from __future__ import annotations

import time

import requests

from credhelper.gitlab.errors import (
    ApiError,
    DpopRequired,
    InsufficientScope,
    Refused,
    TokenRejected,
    Unavailable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CONNECT_TIMEOUT = 3.05   # seconds; a little over a multiple of 3 (TCP retransmission window)
READ_TIMEOUT = 5.0
MIN_TIME_FOR_A_CALL = 0.5


class GitLabClient:
    def __init__(self, base_url: str, api_url: str | None = None, ca_file: str | None = None,
                 deadline: float | None = None,
                 proof: Callable[[str, str, str], str] | None = None,
                 session: requests.Session | None = None) -> None:
        """``base_url`` is ``https://HOST[:PORT]``; ``api_url`` defaults to ``base_url/api/v4``.

        ``deadline`` is a ``time.monotonic()`` instant after which no call starts; ``proof``
        (method, url, token) -> header value adds a DPoP proof to API calls.
        """
        self.base_url = base_url.rstrip("/")
        self.api_url = (api_url or self.base_url + "/api/v4").rstrip("/")
        self.deadline = deadline
        self.proof = proof
        self.session = session or requests.Session()
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
            body = response.json()
        except ValueError:
            raise Unavailable("%s answered %s with a body that is not JSON"
                              % (_where(url), response.status_code), response.status_code) \
                from None
        if not isinstance(body, dict):
            raise Unavailable("%s answered with unexpected JSON" % _where(url),
                              response.status_code)
        return body

    def _call(self, method: str, url: str, token: str | None,
              data: dict[str, str] | None = None, bearer: bool = False) -> requests.Response:
        timeout = self._timeout()
        headers: dict[str, str] = {}
        if token is not None:
            if bearer:
                headers["Authorization"] = "Bearer " + token
            else:
                headers["PRIVATE-TOKEN"] = token
            if self.proof is not None and url.startswith(self.api_url):
                headers["DPoP"] = self.proof(method, url, token)
        try:
            response = self.session.request(method, url, headers=headers, data=data,
                                            timeout=timeout, allow_redirects=False)
        except requests.exceptions.ConnectTimeout:
            raise Unavailable("%s did not accept a connection in time" % _where(url)) from None
        except requests.exceptions.SSLError as error:
            raise Unavailable("TLS with %s failed (%s); for a self-managed CA set ca_file in the "
                              "config" % (_where(url), _short(error))) from None
        except requests.exceptions.ConnectionError as error:
            # the request may have been received and carried out before the connection dropped
            raise Unavailable("%s closed the connection (%s)" % (_where(url), _short(error)),
                              ambiguous=True) from None
        except requests.exceptions.Timeout:
            raise Unavailable("%s did not answer within %.0f s" % (_where(url), timeout[1]),
                              ambiguous=True) from None
        except requests.exceptions.RequestException as error:
            raise Unavailable("request to %s failed (%s)" % (_where(url), _short(error))) \
                from None
        _raise_for_status(response, url)
        return response

    def _timeout(self) -> tuple[float, float]:
        if self.deadline is None:
            return (CONNECT_TIMEOUT, READ_TIMEOUT)
        left = self.deadline - time.monotonic()
        if left < MIN_TIME_FOR_A_CALL:
            raise Unavailable("no time left to ask the server")
        return (min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left))


def _raise_for_status(response: requests.Response, url: str) -> None:
    status = response.status_code
    if status < 300:
        return
    body = _body(response)
    description = _description(body)
    if status == 401:
        raise _unauthorized(body.get("error"), description, url)
    if status == 403:
        raise InsufficientScope("the token lacks the scope for this (%s)"
                                % (body.get("scope") or description or "403"), status)
    if status == 429 or status >= 500:
        raise Unavailable("%s answered %d" % (_where(url), status), status,
                          retry_after=_retry_after(response.headers.get("Retry-After")))
    raise Refused(description or "%s answered %d" % (_where(url), status), status)


def _description(body: dict[str, Any]) -> str:
    """The server's own words about an error, on one line, bounded."""
    description = body.get("error_description") or body.get("message") or ""
    if not isinstance(description, str):
        description = str(description)
    return " ".join(description.split())[:300]


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
    return TokenRejected("unknown", "the server does not know the token")


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    from email.utils import parsedate_to_datetime

    try:
        return max(0, int(parsedate_to_datetime(value).timestamp() - time.time()))
    except (TypeError, ValueError, OverflowError):
        return None


def _system_verify() -> str | bool:
    """requests ignores REQUESTS_CA_BUNDLE once trust_env is off; honour it ourselves."""
    import os

    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _where(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _short(error: BaseException) -> str:
    text = str(error)
    # requests' messages embed the URL and pool internals; keep the gist, never headers
    for marker in ("Caused by ", "(Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return " ".join(text.split())[:160]
