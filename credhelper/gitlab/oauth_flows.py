"""Getting an OAuth token for a person (docs/gitlab.md#oauth): the device authorization grant
(RFC 8628) for SSH sessions and containers, and the authorization code grant with PKCE
(RFC 7636) through the person's browser and a one-shot loopback redirect (local/loopback.py).

Both end with GitLab's token answer (access token, refresh token, expires_in), which
`credhelper login` stores like any OAuth token, so the refresh that exists carries it on
(lifecycle/renewal.py).  Nothing here prints: what the person must see goes to ``tell``
(stderr), never a secret.  The device code, the authorization code and the code verifier
are secrets too (gitlab/client.py registers them): none is ever shown.
"""

from __future__ import annotations

import time

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from credhelper.gitlab.client import GitLabClient

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5        # RFC 8628 3.2: when the server names none
SLOW_DOWN_STEP = 5          # RFC 8628 3.5: slow_down adds 5 seconds, for good
MAX_INTERVAL = 60
MAX_DEVICE_LIFETIME = 1800  # a server's expires_in beyond this is not waited for

_DEVICE_ENDINGS = {
    "access_denied": "the sign-in was denied in the browser; nothing was stored",
    "expired_token": "the code expired before it was approved; run credhelper login again",
    "invalid_grant": "%s no longer knows this sign-in (approved elsewhere, or its answer was "
                     "lost); run credhelper login again",
    "invalid_client": "%s does not know the OAuth application (check --client-id or the "
                      "host's client_id)",
    "unauthorized_client": "the OAuth application on %s does not allow the device flow; use "
                           "--browser, or enable it for the application",
    "invalid_scope": "the OAuth application on %s does not have the scopes asked for (check "
                     "its scopes, or --scopes)",
}


class LoginFailed(CredhelperError):
    """The sign-in ended without a token: one line for the person, nothing stored."""


def ending(code: str | None, host: str, fallback: str) -> LoginFailed:
    """The one line for an OAuth error answer."""
    text = _DEVICE_ENDINGS.get(code or "")
    return LoginFailed(text.replace("%s", host) if text else fallback)


# -- the device authorization grant ------------------------------------------------------------

class DeviceStart:
    """The device authorization answer, checked: what to show and how to poll."""

    __slots__ = ("device_code", "user_code", "uri", "uri_complete", "expires_in", "interval")

    def __init__(self, answer: dict[str, Any]) -> None:
        from credhelper.rules.redact import scrub

        device_code, user_code = answer.get("device_code"), answer.get("user_code")
        uri = answer.get("verification_uri")
        if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
            raise LoginFailed("the server's device authorization answer lacks its codes")
        assert isinstance(device_code, str) and isinstance(user_code, str)
        assert isinstance(uri, str)
        self.device_code = device_code
        self.user_code = scrub(user_code)[:32]       # the server's words, shown to a person
        self.uri = scrub(uri)[:500]
        complete = answer.get("verification_uri_complete")
        self.uri_complete = scrub(complete)[:500] if isinstance(complete, str) else None
        self.expires_in = _bounded(answer.get("expires_in"), 300, 1, MAX_DEVICE_LIFETIME)
        self.interval = _bounded(answer.get("interval"), DEFAULT_INTERVAL, 1, MAX_INTERVAL)


def _bounded(value: object, default: int, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        return default
    return max(low, min(high, value))


def device_login(client: GitLabClient, host: str, client_id: str, scopes: str,
                 tell: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Ask for a device code, show it, poll until the person approved: the token answer."""
    from credhelper.gitlab.errors import Refused

    try:
        start = DeviceStart(client.oauth_device_authorize(client_id, scopes))
    except Refused as refused:
        raise ending(refused.code, host, "%s refused the device sign-in (%s)"
                     % (host, refused)) from None
    tell("To sign in to %s, open %s and enter the code %s" % (host, start.uri, start.user_code))
    if start.uri_complete:
        tell("(or open %s)" % start.uri_complete)
    tell("Waiting for the approval (the code is valid for %d minutes; Ctrl-C stops)"
         % max(1, start.expires_in // 60))
    return _poll(client, host, client_id, start, sleep, clock)


def _poll(client: GitLabClient, host: str, client_id: str, start: DeviceStart,
          sleep: Callable[[float], None], clock: Callable[[], float]) -> dict[str, Any]:
    """Poll the token endpoint every ``interval`` seconds (5 more after each slow_down) until
    an answer other than "pending" comes or the code's lifetime is over."""
    from credhelper.gitlab.errors import Refused, Unavailable

    deadline, interval = clock() + start.expires_in, start.interval
    data = {"grant_type": DEVICE_CODE_GRANT, "device_code": start.device_code,
            "client_id": client_id}
    while clock() + interval <= deadline:
        sleep(interval)
        try:
            return client.oauth_token(data)
        except Refused as refused:
            if refused.code == "slow_down":
                interval = min(interval + SLOW_DOWN_STEP, MAX_INTERVAL)
            elif refused.code != "authorization_pending":
                raise ending(refused.code, host, "%s ended the sign-in (%s)"
                             % (host, refused)) from None
        except Unavailable:
            continue            # a poll that failed on the way: the next one may get through
    raise ending("expired_token", host, "")


# -- the authorization code grant with PKCE ------------------------------------------------------

def pkce() -> tuple[str, str]:
    """(code verifier, its S256 challenge): 64 random URL-safe characters, hashed."""
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def authorize_url(base_url: str, client_id: str, redirect_uri: str, scopes: str, state: str,
                  challenge: str) -> str:
    """The page of ``/oauth/authorize`` where the person approves (or denies) the sign-in."""
    from urllib.parse import urlencode

    return base_url + "/oauth/authorize?" + urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "state": state, "scope": scopes, "code_challenge": challenge,
        "code_challenge_method": "S256"})


def code_from_redirect(target: str, state: str, host: str) -> str:
    """The authorization code from the address the browser was sent back to (a path and query,
    or a whole URL pasted), once its ``state`` proves it answers this very sign-in."""
    import secrets
    from urllib.parse import parse_qs, urlsplit

    query = {k: v[0] for k, v in parse_qs(urlsplit(target.strip()).query).items() if v}
    if not secrets.compare_digest(query.get("state", "").encode(), state.encode()):
        raise LoginFailed("the answer does not carry this sign-in's state (not from this "
                          "sign-in, or tampered with); nothing was stored")
    if query.get("error"):
        raise ending(query["error"], host, "%s refused the sign-in (%s); nothing was stored"
                     % (host, _words(query["error"])))
    code = query.get("code")
    if not code or len(code) > 512:
        raise LoginFailed("the answer holds no authorization code; nothing was stored")
    return code


def _words(text: str) -> str:
    from credhelper.rules.redact import scrub

    return " ".join(scrub(text[:100]).split())


def exchange_code(client: GitLabClient, host: str, client_id: str, code: str,
                  redirect_uri: str, verifier: str) -> dict[str, Any]:
    """The authorization code (and the verifier only this process knows) for the tokens."""
    from credhelper.gitlab.errors import Refused

    try:
        return client.oauth_token({"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": redirect_uri, "client_id": client_id,
                                   "code_verifier": verifier})
    except Refused as refused:
        raise ending(refused.code, host, "%s refused the authorization code (%s); run "
                     "credhelper login again" % (host, refused)) from None


def token_pair(answer: dict[str, Any]) -> tuple[str, str | None]:
    """(access token, refresh token) of a token answer, checked."""
    from credhelper.lifecycle.facts import plausible_token

    access, refresh = answer.get("access_token"), answer.get("refresh_token")
    if not plausible_token(access):
        raise LoginFailed("the server's token answer holds no usable access token")
    assert isinstance(access, str)
    return access, refresh if plausible_token(refresh) and isinstance(refresh, str) else None
