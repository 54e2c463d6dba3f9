"""GitLab's OAuth authorization endpoints, and the two grants they lead to at ``/oauth/token``,
answered as Doorkeeper and doorkeeper-device_authorization_grant do with GitLab's settings.

Routes (``install()`` registers them; ``POST /oauth/token`` itself stays in api.py, which
hands these two grant types here)::

    POST /oauth/authorize_device   client_id, scope -> device_code, user_code, verification_uri,
                                   verification_uri_complete, expires_in, interval (RFC 8628 3.2)
    GET  /oauth/device             where a person types the user code (a page, nothing more)
    GET  /oauth/authorize          client_id, redirect_uri, response_type=code, state, scope,
                                   code_challenge, code_challenge_method: the consent page
    POST /oauth/authorize          the consent form: approve (302 to redirect_uri with code and
                                   state) or, with _method=delete, deny (error=access_denied)
    POST /oauth/token              grant_type urn:ietf:params:oauth:grant-type:device_code
                                   (device_code, client_id) and authorization_code (code,
                                   redirect_uri, client_id, code_verifier)

The device grant, as the gem does it: a poll sooner than ``interval`` after the last counted
one is ``slow_down`` (and is not counted); a pending grant is ``authorization_pending``; an
expired one is ``expired_token`` and gone; an approved one gives a token once and is gone, so
a second poll is ``invalid_grant``.  GitLab's deny is ``access_denied`` (RFC 8628 3.5).
Errors are Doorkeeper's bodies, 400 (401 for invalid_client and unauthorized_client).

The authorization code (Doorkeeper's AccessGrant) lives 10 minutes and is spent on first use
(a second use is ``invalid_grant``).  Its token request needs the same redirect_uri (a
loopback IP URI may differ in its port, RFC 8252 7.3) and, when the request carried a
code_challenge, a code_verifier that hashes to it (RFC 7636): a missing one is
``invalid_request``, a wrong one ``invalid_grant``.

The person is played by a test: ``approve_device(user_code, user)`` and
``deny_device(user_code)`` for the device flow; for the browser flow a stand-in browser GETs
the consent page and posts its form, signed in as ``signed_in`` (None: a redirect to the
sign-in page).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import ipaddress
import re
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from .api import Params, basic_credentials, oauth_error, read_params, token_answer
from .state import GitLabState, OAuthApplication
from .web import Request, Response, Router

__all__ = ["DEVICE_CODE_GRANT", "AccessGrant", "DeviceGrant", "OAuthProvider", "install"]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

# Descriptions as GitLab's config/locales/doorkeeper.en.yml words them (RFC 8628 3.5).
DEVICE_ERRORS = {
    "authorization_pending": "The authorization request is still pending as the end user hasn't "
                             "yet completed the user-interaction steps.",
    "slow_down": "The authorization request is still pending and polling should continue, but the "
                 "interval MUST be increased by 5 seconds for this and all subsequent requests.",
    "expired_token": "The device_code has expired, and the device authorization session has "
                     "concluded.",
    "access_denied": "The resource owner or authorization server denied the request.",
    "unauthorized_client": "The client is not authorized to perform this request using this method.",
}
DENIED = "The resource owner or authorization server denied the request."
_USER_CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(eq=False)
class DeviceGrant:
    device_code: str = field(repr=False)
    user_code: str
    application_id: int
    scopes: tuple[str, ...]
    created_at: _dt.datetime
    expires_in: int
    last_polling_at: _dt.datetime | None = None
    user: str | None = None        # who approved it
    denied: bool = False
    # (server time, answer) of every poll that reached the grant, oldest first
    polls: list[tuple[_dt.datetime, str]] = field(default_factory=list)

    def expired(self, now: _dt.datetime) -> bool:
        return now >= self.created_at + _dt.timedelta(seconds=self.expires_in)


@dataclass(eq=False)
class AccessGrant:
    code: str = field(repr=False)
    application_id: int
    user: str
    scopes: tuple[str, ...]
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    created_at: _dt.datetime
    expires_in: int = 600
    revoked: bool = False


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge of a code verifier."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_matches(url: str, registered: str) -> bool:
    """Doorkeeper's URIChecker: exact match, or both loopback IPs differing only in port."""
    if url == registered:
        return True
    try:
        a, b = urlsplit(url), urlsplit(registered)
        a.port, b.port   # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        return False
    if not (_loopback(a.hostname) and _loopback(b.hostname)):
        return False
    return (a.scheme, a.username, a.password, a.hostname, a.path, a.query, a.fragment) == \
        (b.scheme, b.username, b.password, b.hostname, b.path, b.query, b.fragment)


def valid_for(url: str | None, app: OAuthApplication) -> bool:
    if not url or urlsplit(url).fragment:
        return False
    return any(redirect_matches(url, one) for one in app.redirect_uri.split())


class OAuthProvider:
    """The authorization side of one FakeGitLab's OAuth (see the module docstring)."""

    def __init__(self, state: GitLabState):
        self.state = state
        self.lock = threading.Lock()
        self.device_code_expires_in = 300       # the gem's defaults, as GitLab keeps them
        self.device_code_polling_interval = 5
        self.enforced_interval: int | None = None   # None: the advertised interval
        self.signed_in: str | None = "alice"     # whom the browser is signed in as
        self.device_grants: list[DeviceGrant] = []
        self.access_grants: list[AccessGrant] = []
        self._forms: set[str] = set()            # authenticity tokens of consent pages shown
        self.revocations: list[tuple[str, int]] = []   # (client_id, token id) revoked

    def install(self, router: Router, api) -> None:
        router.add("POST", "/oauth/authorize_device", self.authorize_device, name="oauth_authorize_device")
        router.add("GET", "/oauth/device", self.device_page, name="oauth_device")
        router.add("GET", "/oauth/authorize", self.consent_page, name="oauth_authorize")
        router.add("POST", "/oauth/authorize", self.consent_answer, name="oauth_authorize_answer")
        router.add("POST", "/oauth/revoke", self.revoke, name="oauth_revoke")
        api.grants[DEVICE_CODE_GRANT] = self.device_code_token
        api.grants["authorization_code"] = self.authorization_code_token

    def revoke(self, request: Request, match) -> Response:
        """Doorkeeper's RFC 7009 revocation: ``token`` (the access or the refresh token: one
        grant, both end) with the client's credentials.  200 ``{}`` also for a token it does
        not know (RFC 7009 2.2); another client's token is 403 unauthorized_client."""
        params = read_params(request)
        app = self._client(request, params)
        if app is None:
            return oauth_error("invalid_client")
        secret = params.text("token", body_only=True) or ""
        found = (self.state.find_token(secret, "oauth_access_token")
                 or self.state.find_by_refresh_token(secret))
        if found is not None:
            if self.state.application_uid(found) != app.uid:
                return Response.json(403, {"error": "unauthorized_client", "error_description":
                                           "You are not authorized to revoke this token"})
            self.state.revoke(found)
            with self.lock:
                self.revocations.append((app.uid, found.id))
        return Response.json(200, {})

    # --- what a test does as the person ------------------------------------------------

    def device_grant(self, user_code: str) -> DeviceGrant:
        with self.lock:
            for grant in self.device_grants:
                if grant.user_code == user_code:
                    return grant
        raise KeyError("no device grant with that user code")

    def approve_device(self, user_code: str, user: str = "alice") -> None:
        """The person typed the code at /oauth/device and pressed Authorize."""
        grant = self.device_grant(user_code)
        with self.lock:
            grant.user = self.state.user(user).username

    def deny_device(self, user_code: str) -> None:
        grant = self.device_grant(user_code)
        with self.lock:
            grant.denied = True

    # --- the device authorization request --------------------------------------------------

    def _client(self, request: Request, params: Params) -> OAuthApplication | None:
        """Doorkeeper's client from Basic credentials or client_id (+ client_secret)."""
        uid, secret = basic_credentials(request) or ("", "")
        if not uid:
            uid = params.text("client_id", body_only=True) or params.text("client_id") or ""
            secret = params.text("client_secret", body_only=True) or ""
        return self.state.application_by_uid_and_secret(uid, secret)

    def _scopes(self, requested: str | None, app: OAuthApplication) -> tuple[str, ...] | None:
        """Doorkeeper's ScopeChecker: blank is GitLab's default (api); each one the app's."""
        scopes = tuple((requested or "api").split())
        return scopes if scopes and set(scopes) <= set(app.scopes) else None

    def authorize_device(self, request: Request, match) -> Response:
        params = read_params(request)
        app = self._client(request, params)
        if app is None:
            return oauth_error("invalid_client")
        if not app.device_flow:
            return oauth_error("unauthorized_client", DEVICE_ERRORS["unauthorized_client"])
        scopes = self._scopes(params.text("scope"), app)
        if scopes is None:
            return oauth_error("invalid_scope")
        now = self.state.now()
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        grant = DeviceGrant(secrets.token_urlsafe(30), user_code, app.id, scopes, now,
                            self.device_code_expires_in)
        with self.lock:
            self.device_grants = [g for g in self.device_grants if not g.expired(now)] + [grant]
        uri = request.base_url + "/oauth/device"
        body = {"device_code": grant.device_code, "user_code": user_code, "verification_uri": uri,
                "verification_uri_complete": uri + "?" + urlencode({"user_code": user_code}),
                "expires_in": grant.expires_in, "interval": self.device_code_polling_interval}
        return Response.json(200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def device_page(self, request: Request, match) -> Response:
        return Response(200, [("Content-Type", "text/html; charset=utf-8")],
                        b"<html><body><form>User code <input name=user_code></form></body></html>")

    # --- the device code grant -----------------------------------------------------------------

    def device_code_token(self, request: Request, params: Params) -> Response:
        app = self._client(request, params)
        if app is None:
            return oauth_error("invalid_client")
        now = self.state.now()
        with self.lock:
            grant = next((g for g in self.device_grants
                          if g.device_code == params.text("device_code")), None)
            if grant is None or grant.application_id != app.id:
                return oauth_error("invalid_grant")
            answer = self._poll(grant, now)
            grant.polls.append((now, answer))
            if answer in ("expired_token", "access_denied", "ok"):
                self.device_grants.remove(grant)
        if answer != "ok":
            return oauth_error(answer, DEVICE_ERRORS[answer])
        assert grant.user is not None
        token = self.state.create_oauth_token(grant.user, grant.scopes,
                                              self.state.oauth_access_token_expires_in,
                                              application_id=app.id)
        return token_answer(token)

    def _poll(self, grant: DeviceGrant, now: _dt.datetime) -> str:
        if grant.expired(now):
            return "expired_token"
        interval = self.enforced_interval or self.device_code_polling_interval
        if grant.last_polling_at is not None and \
                grant.last_polling_at > now - _dt.timedelta(seconds=interval):
            return "slow_down"
        grant.last_polling_at = now
        if grant.denied:
            return "access_denied"
        return "authorization_pending" if grant.user is None else "ok"

    # --- the authorization endpoint (the browser's side) ------------------------------------

    def _pre_auth(self, values: dict[str, str]) -> tuple[OAuthApplication | None, Response | None]:
        """Doorkeeper's PreAuthorization: an unknown client or redirect URI is an error page
        (never a redirect); the rest are redirects to the client with error=..."""
        app = self.state.find_oauth_application(values.get("client_id"))
        if app is None or not valid_for(values.get("redirect_uri"), app):
            text = "Client authentication failed due to unknown client, no client authentication " \
                   "included, or unsupported authentication method." if app is None else \
                   "The redirect uri included is not valid."
            return None, Response(400, [("Content-Type", "text/html; charset=utf-8")],
                                  ("<html><body><h1>An error has occurred</h1><p>%s</p></body></html>"
                                   % text).encode())
        if values.get("response_type") != "code":
            return app, self._back(values, error="unsupported_response_type",
                                   error_description="The authorization server does not support "
                                                     "this response type.")
        if self._scopes(values.get("scope"), app) is None:
            return app, self._back(values, error="invalid_scope",
                                   error_description="The requested scope is invalid, unknown, or malformed.")
        method = values.get("code_challenge_method")
        if values.get("code_challenge") and method not in (None, "", "plain", "S256"):
            return app, self._back(values, error="invalid_request",
                                   error_description="The code challenge method must be plain or S256.")
        return app, None

    def _back(self, values: dict[str, str], **query: str) -> Response:
        """A 302 to the client's redirect_uri with *query* and the state it sent."""
        if values.get("state"):
            query["state"] = values["state"]
        uri = values["redirect_uri"]
        return Response.redirect(uri + ("&" if "?" in uri else "?") + urlencode(query), 302)

    def consent_page(self, request: Request, match) -> Response:
        values = {k: v[0] for k, v in request.query.items() if v}
        app, error = self._pre_auth(values)
        if error is not None:
            return error
        if self.signed_in is None:
            return Response.redirect(request.base_url + "/users/sign_in", 302)
        nonce = secrets.token_urlsafe(16)
        with self.lock:
            self._forms.add(nonce)
        fields = "".join('<input type="hidden" name="%s" value="%s">' % (html.escape(k), html.escape(v))
                         for k, v in sorted(values.items()) if re.fullmatch(r"[a-z_]+", k))
        fields += '<input type="hidden" name="authenticity_token" value="%s">' % nonce
        assert app is not None
        page = ('<html><body><h1>Authorize %s to use your account?</h1>'
                '<form method="post" action="/oauth/authorize">%s<button>Authorize</button></form>'
                '<form method="post" action="/oauth/authorize">%s'
                '<input type="hidden" name="_method" value="delete"><button>Deny</button></form>'
                '</body></html>' % (html.escape(app.name), fields, fields))
        return Response(200, [("Content-Type", "text/html; charset=utf-8")], page.encode())

    def consent_answer(self, request: Request, match) -> Response:
        raw = request.body.read(1 << 16).decode("utf-8", "replace")
        values = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        with self.lock:
            known = values.get("authenticity_token") in self._forms
            self._forms.discard(values.get("authenticity_token", ""))
        if not known or self.signed_in is None:
            return Response.text(422, "The change you requested was rejected.")
        app, error = self._pre_auth(values)
        if error is not None:
            return error
        if values.get("_method") == "delete":
            return self._back(values, error="access_denied", error_description=DENIED)
        assert app is not None
        scopes = self._scopes(values.get("scope"), app)
        assert scopes is not None
        grant = AccessGrant(secrets.token_hex(32), app.id, self.signed_in, scopes,
                            values["redirect_uri"], values.get("code_challenge") or None,
                            values.get("code_challenge_method") or
                            ("plain" if values.get("code_challenge") else None), self.state.now())
        with self.lock:
            self.access_grants.append(grant)
        return self._back(values, code=grant.code)

    # --- the authorization code grant ----------------------------------------------------------

    def authorization_code_token(self, request: Request, params: Params) -> Response:
        with self.lock:
            grant = next((g for g in self.access_grants if g.code == params.text("code")), None)
        if grant is not None and grant.code_challenge and not params.text("code_verifier"):
            return oauth_error("invalid_request", "Missing required parameter: code_verifier.")
        redirect_uri = params.text("redirect_uri")
        if not redirect_uri:
            return oauth_error("invalid_request", "Missing required parameter: redirect_uri.")
        app = self._client(request, params)
        if app is None:
            return oauth_error("invalid_client")
        now = self.state.now()
        if grant is None or grant.application_id != app.id or grant.revoked or \
                now >= grant.created_at + _dt.timedelta(seconds=grant.expires_in):
            return oauth_error("invalid_grant")
        if not any(redirect_matches(redirect_uri, one) for one in grant.redirect_uri.split()):
            return oauth_error("invalid_grant")
        if grant.code_challenge and not self._verifier_ok(grant, params.text("code_verifier") or ""):
            return oauth_error("invalid_grant")
        with self.lock:
            if grant.revoked:            # two token requests racing for one code
                return oauth_error("invalid_grant")
            grant.revoked = True
        token = self.state.create_oauth_token(grant.user, grant.scopes,
                                              self.state.oauth_access_token_expires_in,
                                              application_id=app.id)
        return token_answer(token)

    @staticmethod
    def _verifier_ok(grant: AccessGrant, verifier: str) -> bool:
        expected = s256(verifier) if grant.code_challenge_method == "S256" else verifier
        return secrets.compare_digest(expected, grant.code_challenge or "")


def install(app) -> OAuthProvider:
    """Register the authorization routes on a FakeGitLab (after api.install)."""
    provider = OAuthProvider(app.state)
    provider.install(app.router, app.api)
    return provider
