"""GitLab's token REST API and OAuth endpoints, answered as GitLab answers them.

Routes (``install()`` registers them on a FakeGitLab's router)::

    GET    /api/v4/personal_access_tokens/self               any scope, PATs only (400 otherwise)
    DELETE /api/v4/personal_access_tokens/self               204, revokes the calling PAT
    GET    /api/v4/personal_access_tokens/self/associations  groups and projects (minimal)
    POST   /api/v4/personal_access_tokens/self/rotate        scope api or self_rotate; PATs only (405)
    GET    /api/v4/personal_access_tokens                    scope api/read_api: list (paginated)
    GET    /api/v4/personal_access_tokens/:id                scope api/read_api: one token
    POST   /api/v4/personal_access_tokens/:id/rotate         scope api: rotate one of the caller's tokens
    DELETE /api/v4/personal_access_tokens/:id                scope api: revoke one (204)
    POST   /oauth/token                                      grant_type=refresh_token (Doorkeeper);
                                                             device_code, authorization_code: oauth.py
    GET    /oauth/token/info                                 Bearer (Doorkeeper, GitLab's controller)
    GET    /api/v4/user                                      scope api, read_api or read_user: the owner

How a request authenticates (lib/api/api_guard.rb, lib/gitlab/auth/auth_finders.rb,
app/services/access_token_validation_service.rb):

1. An OAuth token is looked for first, from the ``access_token`` parameter,
   ``Authorization: Bearer`` or the ``bearer_token`` parameter.  Otherwise a
   PAT from the ``private_token`` parameter, the ``PRIVATE-TOKEN`` header or
   that same Bearer value.  A value starting ``glcbt-`` (a CI job token) is
   ignored there, and deploy and job tokens are not accepted on these
   routes: no usable credential gives ``401 {"message":"401 Unauthorized"}``,
   as does a PAT value that matches no token.
2. Expired before revoked: ``401 {"error":"invalid_token",...}`` with a
   ``WWW-Authenticate: Bearer realm="Protected by OAuth 2.0", ...`` header
   (rack-oauth2's default realm).  A revoked PAT used on a ``.../rotate``
   route also revokes every active token rotated from it (reuse detection).
3. A blocked owner: ``403 {"message":"403 Forbidden - Your account has been blocked."}``.
   Then DPoP (``dpop.py``): a personal access token of a user who enabled
   DPoP needs a valid ``DPoP`` proof, else ``401 {"error":"dpop_error",...}``.
4. Scopes: ``403 {"error":"insufficient_scope",...,"scope":"..."}`` without a
   WWW-Authenticate header (GitLab's FIXME in api_guard.rb); "scope" lists
   every scope registered for the endpoint, API::API's ``api read_api``
   included, duplicates and all.

The ``/:id`` routes and the list (lib/api/personal_access_tokens.rb,
lib/api/helpers/personal_access_tokens_helpers.rb) take any credential of
the user with API::API's scopes (``api``; ``read_api`` for GET), OAuth
tokens included.  A non-admin sees only their own tokens: someone else's
(or an unknown) id is ``401 Unauthorized`` on GET and rotate, as is a
``user_id`` other than their own on the list; admins get ``404 Not Found``
for unknown ids and may list every token.  DELETE of an unknown id is
``404 Not found`` (ActiveRecord::RecordNotFound), of someone else's token
``400 Bad request - Not permitted to revoke``.  Rotating a revoked token
is ``400 Bad request - Token already revoked`` (RotateService); an expired
one rotates.  A revoked *credential* on ``/:id/rotate`` triggers reuse
detection like ``self/rotate`` (AuthFinders matches
``access_tokens/(<digits>|self)/rotate`` at the end of the path).

Fine-grained PATs (``Token.granular``) have no scopes: ``/self`` routes
take them, ``self/rotate`` too (keeping them fine-grained), and the
``/:id`` routes and the list need the permission GitLab's route settings
name (``read_personal_access_token``, ``rotate_personal_access_token``,
``revoke_personal_access_token``), else 403 ``insufficient_scope``.

Only these routes exist; everything else under /api/ is a JSON 404.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode

from .auth import decode_basic_auth
from .dpop import DPoPProof, DPoPVerifier
from .state import OAUTH, PAT, GitLabState, Token, User
from .web import Request, Response, Router

__all__ = [
    "GitLabAPI",
    "install",
    "API_REALM",
    "DOORKEEPER_REALM",
    "EXPIRED_DESCRIPTION",
    "REVOKED_DESCRIPTION",
    "INSUFFICIENT_SCOPE_DESCRIPTION",
    "ROTATE_SCOPES",
]

API = "/api/v4"
TOKENS = API + "/personal_access_tokens"
SELF = TOKENS + "/self"
# A token id in the path (never "self": those routes come first anyway).
TOKEN_ID = TOKENS + r"/(?P<id>(?!self$)[^/]+)"

# rack-oauth2: Rack::OAuth2::Server::Resource::DEFAULT_REALM (GitLab sets none).
API_REALM = "Protected by OAuth 2.0"
# Doorkeeper's default realm (GitLab's doorkeeper.rb leaves it).
DOORKEEPER_REALM = "Doorkeeper"

EXPIRED_DESCRIPTION = "Token is expired. You can either do re-authorization or token refresh."
REVOKED_DESCRIPTION = "Token was revoked. You have to re-authorize from the user."
INSUFFICIENT_SCOPE_DESCRIPTION = "The request requires higher privileges than provided by the access token."
NOT_A_PAT = "This endpoint requires token type to be a personal access token"
BLOCKED = "Your account has been blocked."

# Scopes registered for POST .../self/rotate, in the order GitLab reports them:
# the endpoint's own (api, self_rotate), then API::API's (api, and read_api
# which only counts for GET and HEAD).  (name, only for GET/HEAD)
ROTATE_SCOPES = (("api", False), ("self_rotate", False), ("api", False), ("read_api", True))
# API::API's own scopes: what every other token route (list, /:id) takes.
API_SCOPES = (("api", False), ("read_api", True))
# GET /user: API::Users adds read_user (for GET and HEAD) to API::API's own.
USER_SCOPES = (("read_user", True),) + API_SCOPES

# Kaminari's defaults as GitLab configures them.
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100

# Ci::Build::TOKEN_PREFIX: never taken for a PAT on API requests.
JOB_TOKEN_PREFIX = "glcbt-"

# Doorkeeper's error descriptions (config/locales/en.yml).
OAUTH_ERRORS = {
    "invalid_request": "The request is missing a required parameter, includes an unsupported parameter value, "
                       "or is otherwise malformed.",
    "invalid_client": "Client authentication failed due to unknown client, no client authentication included, "
                      "or unsupported authentication method.",
    "invalid_grant": "The provided authorization grant is invalid, expired, revoked, does not match the "
                     "redirection URI used in the authorization request, or was issued to another client.",
    "unsupported_grant_type": "The authorization grant type is not supported by the authorization server.",
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
}
OAUTH_INVALID_TOKEN = "The access token is invalid"

_MAX_BODY = 1 << 20


# --- responses ------------------------------------------------------------------------


class ApiError(Exception):
    """Stops a handler with a finished response."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def api_message(status: int, message: str) -> Response:
    """Grape's render_api_error!: ``{"message": ...}``."""
    return Response.json(status, {"message": message})


def unauthorized() -> Response:
    return api_message(401, "401 Unauthorized")


def bad_request(reason: str | None = None) -> Response:
    return api_message(400, "400 Bad request" + (f" - {reason}" if reason else ""))


def forbidden(reason: str | None = None) -> Response:
    return api_message(403, "403 Forbidden" + (f" - {reason}" if reason else ""))


def not_found(reason: str | None = None) -> Response:
    """Grape's not_found!: ``404 Not Found`` (``404 <reason> Not Found``)."""
    return api_message(404, "404 " + (f"{reason} " if reason else "") + "Not Found")


def record_not_found() -> Response:
    """API::API's rescue of ActiveRecord::RecordNotFound (lower-case "found")."""
    return api_message(404, "404 Not found")


def not_allowed() -> Response:
    return api_message(405, "405 Method Not Allowed")


def param_error(text: str) -> Response:
    """Grape's parameter validation errors: ``{"error": ...}``."""
    return Response.json(400, {"error": text})


def invalid_token(description: str) -> Response:
    """rack-oauth2's Bearer::Unauthorized as GitLab raises it."""
    challenge = f'Bearer realm="{API_REALM}", error="invalid_token", error_description="{description}"'
    return Response.json(401, {"error": "invalid_token", "error_description": description},
                         [("WWW-Authenticate", challenge)])


def insufficient_scope(scopes) -> Response:
    """rack-oauth2's Bearer::Forbidden: no WWW-Authenticate header (GitLab's FIXME)."""
    return Response.json(403, {"error": "insufficient_scope",
                               "error_description": INSUFFICIENT_SCOPE_DESCRIPTION,
                               "scope": " ".join(scopes)})


_DOORKEEPER_JSON = "application/json; charset=utf-8"


def oauth_error(name: str, description: str | None = None) -> Response:
    """Doorkeeper's ErrorResponse: 401 for invalid_client, else 400."""
    description = description or OAUTH_ERRORS[name]
    status = 401 if name in ("invalid_client", "unauthorized_client") else 400
    return _doorkeeper_error(status, name, description)


def _doorkeeper_error(status: int, name: str, description: str) -> Response:
    headers = [
        ("Cache-Control", "no-store, no-cache"),
        ("Content-Type", _DOORKEEPER_JSON),
        ("WWW-Authenticate", f'Bearer realm="{DOORKEEPER_REALM}", error="{name}", error_description="{description}"'),
    ]
    return Response(status, headers, _dumps({"error": name, "error_description": description}))


def token_answer(token: Token) -> Response:
    """Doorkeeper's token response (every grant): the new access and refresh token."""
    body = {
        "access_token": token.token,
        "token_type": "Bearer",
        "expires_in": token.expires_in,
        "refresh_token": token.refresh_token,
        "scope": " ".join(token.scopes),
        "created_at": int(token.created_at.timestamp()),
    }
    body = {k: v for k, v in body.items() if v not in (None, "")}
    headers = [("Cache-Control", "no-store, no-cache"), ("Content-Type", _DOORKEEPER_JSON),
               ("Pragma", "no-cache")]
    return Response(200, headers, _dumps(body))


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def iso_ms(value: _dt.datetime | None) -> str | None:
    """Rails' JSON time format: UTC, milliseconds, ``Z``."""
    if value is None:
        return None
    value = value.astimezone(_dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def date_str(value: _dt.date | _dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        value = value.astimezone(_dt.timezone.utc).date()
    return value.isoformat()


# --- request parameters -------------------------------------------------------------------


@dataclass
class Params:
    """Query and body parameters; the body wins, as in Rack."""

    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the body could not be parsed

    def get(self, name: str) -> Any:
        if name in self.body:
            return self.body[name]
        return self.query.get(name)

    def text(self, name: str, *, body_only: bool = False) -> str | None:
        """A present (non-blank) string parameter, else None."""
        value = self.body.get(name) if body_only else self.get(name)
        return value if isinstance(value, str) and value.strip() else None


def read_params(request: Request) -> Params:
    params = Params(query={k: v[0] for k, v in request.query.items() if v})
    raw = request.body.read(_MAX_BODY)
    if not raw:
        return params
    ctype = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            data = json.loads(raw)
        except ValueError:
            params.error = "message body does not match declared format"
            return params
        if not isinstance(data, dict):
            params.error = "message body does not match declared format"
            return params
        params.body = data
    elif ctype == "application/x-www-form-urlencoded":
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        params.body = {k: v[0] for k, v in parsed.items() if v}
    return params


_DATE_FORMATS = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[T ].*)?"),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
)


def parse_date_param(name: str, value: Any) -> _dt.date | None:
    """Grape's ``type: Date`` coercion (the common formats); blank means absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        for pattern in _DATE_FORMATS:
            match = pattern.fullmatch(value.strip())
            if match:
                try:
                    return _dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
                except ValueError:
                    break
    raise ApiError(param_error(f"{name} is invalid"))


def parse_int_param(name: str, value: Any, default: int | None = None) -> int | None:
    """Grape's ``type: Integer`` coercion; absent or blank means *default*."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise ApiError(param_error(f"{name} is invalid"))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value.strip())
    raise ApiError(param_error(f"{name} is invalid"))


_TRUE = ("true", "1", "yes", "t", "y", "on")
_FALSE = ("false", "0", "no", "f", "n", "off")


def parse_bool_param(name: str, value: Any) -> bool | None:
    """Grape's ``type: Boolean`` coercion; absent means None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ApiError(param_error(f"{name} is invalid"))


def bearer_token(request: Request) -> str | None:
    """Doorkeeper's from_bearer_authorization: the header after ``Bearer ``."""
    header = request.authorization or ""
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:]
    return None


def nonblank_header(request: Request, name: str) -> str | None:
    """The header's value, None when it is missing or blank (Rails' ``presence``)."""
    value = request.header(name)
    return value if value and value.strip() else None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """Doorkeeper's from_basic client credentials (URL-decoded uid and secret)."""
    decoded = decode_basic_auth(request.authorization)
    if decoded is None:
        return None
    uid, _, secret = decoded.partition(":")
    return unquote(uid), unquote(secret)


# --- the API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    token: Token
    user: User


class GitLabAPI:
    """The token routes of one FakeGitLab.

    ``rotations`` records every committed rotation as ``(old_id, new_id)``;
    ``refreshes`` every OAuth refresh the same way.  ``dpop`` is the DPoP
    check (its settings, and ``dpop_proofs``: every accepted proof).
    """

    def __init__(self, state: GitLabState):
        self.state = state
        self.dpop = DPoPVerifier(state)
        self._lock = threading.Lock()
        self._rotations: list[tuple[int, int]] = []
        self._refreshes: list[tuple[int, int]] = []
        # Other grant types of POST /oauth/token: grant_type -> handler(request, params)
        # (oauth.py adds the device code and authorization code grants).
        self.grants: dict[str, Any] = {}

    @property
    def rotations(self) -> list[tuple[int, int]]:
        with self._lock:
            return list(self._rotations)

    @property
    def refreshes(self) -> list[tuple[int, int]]:
        with self._lock:
            return list(self._refreshes)

    @property
    def dpop_proofs(self) -> list[DPoPProof]:
        """Every DPoP proof accepted so far (method, URL, header, claims), oldest first."""
        return self.dpop.proofs

    def install(self, router: Router) -> None:
        router.add("GET", SELF, self.pat_self, name="pat_self")
        router.add("DELETE", SELF, self.pat_revoke_self, name="pat_revoke_self")
        router.add("GET", SELF + "/associations", self.pat_associations, name="pat_associations")
        router.add("POST", SELF + "/rotate", self.pat_rotate, name="pat_rotate")
        router.add("GET", TOKENS, self.pat_list, name="pat_list")
        router.add("GET", TOKEN_ID, self.pat_get, name="pat_get")
        router.add("DELETE", TOKEN_ID, self.pat_revoke, name="pat_revoke")
        router.add("POST", TOKEN_ID + "/rotate", self.pat_rotate_by_id, name="pat_rotate_by_id")
        router.add("POST", "/oauth/token", self.oauth_token, name="oauth_token")
        router.add("GET", "/oauth/token/info", self.oauth_token_info, name="oauth_token_info")
        router.add("GET", API + "/user", self.current_user, name="current_user")

    # --- authentication -----------------------------------------------------------------

    def _find_token(self, request: Request, params: Params) -> Token | None:
        state = self.state
        bearer = params.text("access_token") or bearer_token(request) or params.text("bearer_token")
        if bearer:
            oauth = state.find_token(bearer, OAUTH)
            if oauth is not None:
                state.oauth_token_used(oauth)
                return oauth
        secret = params.text("private_token") or nonblank_header(request, "PRIVATE-TOKEN") or bearer
        if not secret or secret.startswith(JOB_TOKEN_PREFIX):
            return None
        pat = state.find_token(secret, PAT)
        if pat is None:
            raise ApiError(unauthorized())
        return pat

    @staticmethod
    def personal_access_token_plaintext(request: Request, params: Params) -> str | None:
        """AuthFinders#extract_personal_access_token: ``private_token``, then
        ``PRIVATE-TOKEN``, then the OAuth positions (what DPoP binds to)."""
        return (params.text("private_token") or nonblank_header(request, "PRIVATE-TOKEN")
                or params.text("access_token") or bearer_token(request) or params.text("bearer_token"))

    def authenticate(self, request: Request, params: Params, *, scopes=None, rotation: bool = False,
                     permission: str | None = None) -> Caller:
        """GitLab's API authentication (see the module docstring).

        *scopes*: the endpoint's registered ``(scope, get_only)`` pairs, None
        for "any scope".  *rotation*: the request is a rotation (reuse
        detection applies).  *permission*: what a fine-grained PAT needs
        instead of the scopes (None: fine-grained PATs pass).  Raises
        ApiError with GitLab's answer.
        """
        state = self.state
        with state.lock:
            token = self._find_token(request, params)
            if token is None:
                raise ApiError(unauthorized())
            if state.is_expired(token):
                raise ApiError(invalid_token(EXPIRED_DESCRIPTION))
            if token.revoked:
                if rotation and token.kind == PAT:
                    state.revoke_token_family(token)
                raise ApiError(invalid_token(REVOKED_DESCRIPTION))
            user = state.find_user(token.user)
            if user is None:
                raise ApiError(unauthorized())
            if token.kind == PAT:
                state.touch(token, str(request.client_address[0]))
            if user.blocked:
                raise ApiError(forbidden(BLOCKED))
            denied = self.dpop.check(request, user, self.personal_access_token_plaintext(request, params))
            if denied is not None:
                raise ApiError(denied)
            if scopes is not None and token.granular:
                if permission is not None and permission not in token.permissions:
                    raise ApiError(insufficient_scope([name for name, _ in scopes]))
            elif scopes is not None:
                read_only = request.method.upper() in ("GET", "HEAD")
                allowed = {name for name, get_only in scopes if read_only or not get_only}
                if not allowed & set(token.scopes):
                    raise ApiError(insufficient_scope([name for name, _ in scopes]))
            return Caller(token, user)

    def _self_caller(self, request: Request, params: Params) -> Caller:
        """Authentication for the /self routes: any scope, PATs only."""
        if params.error:
            raise ApiError(param_error(params.error))
        caller = self.authenticate(request, params)
        if caller.token.kind != PAT:
            raise ApiError(bad_request(NOT_A_PAT))
        return caller

    # --- entities -----------------------------------------------------------------------------

    def pat_entity(self, token: Token, *, ips: bool = False) -> dict[str, Any]:
        """API::Entities::PersonalAccessToken, in GitLab's key order (*ips*:
        PersonalAccessTokenWithLastUsedIps, which adds ``last_used_ips``)."""
        state = self.state
        with state.lock:
            expired = state.is_expired(token)
            entity = {
                "id": token.id,
                "name": token.name,
                "active": not token.revoked and not expired,
                "revoked": token.revoked,
                "expired": expired,
                "granular": token.granular,
                "created_at": iso_ms(token.created_at),
                "description": token.description or None,
                "scopes": list(token.scopes),
                "user_id": state.user_id(token),
                "last_used_at": iso_ms(token.last_used_at),
                "expires_at": date_str(token.expires_at),
            }
            if ips:
                entity["last_used_ips"] = list(token.last_used_ips)
            return entity

    # --- /api/v4/personal_access_tokens/self ------------------------------------------------

    def pat_self(self, request: Request, match) -> Response:
        try:
            caller = self._self_caller(request, read_params(request))
        except ApiError as error:
            return error.response
        return Response.json(200, self.pat_entity(caller.token, ips=True))

    def current_user(self, request: Request, match) -> Response:
        """GET /user (lib/api/users.rb): the caller's own account, API::Entities::UserPublic
        trimmed to the fields a client identifies it by.  PATs and OAuth tokens alike."""
        params = read_params(request)
        try:
            if params.error:
                raise ApiError(param_error(params.error))
            user = self.authenticate(request, params, scopes=USER_SCOPES).user
        except ApiError as error:
            return error.response
        return Response.json(200, {
            "id": user.id, "username": user.username, "name": user.username,
            "state": "blocked" if user.blocked else "active", "locked": False,
            "web_url": "%s/%s" % (request.base_url, user.username), "bot": user.bot})

    def pat_revoke_self(self, request: Request, match) -> Response:
        try:
            caller = self._self_caller(request, read_params(request))
        except ApiError as error:
            return error.response
        self.state.revoke(caller.token)
        return Response(204, [], b"")

    def pat_associations(self, request: Request, match) -> Response:
        params = read_params(request)
        try:
            caller = self._self_caller(request, params)
            min_level = params.get("min_access_level")
            try:
                min_level = int(min_level) if min_level not in (None, "") else 0
            except (TypeError, ValueError):
                raise ApiError(param_error("min_access_level is invalid")) from None
        except ApiError as error:
            return error.response
        return Response.json(200, self._associations(request.base_url, caller.user, min_level))

    def _associations(self, base_url: str, user: User, min_level: int) -> dict[str, list]:
        """Groups and projects the user is a member of (directly or, for
        projects, through a group).  Minimal: no pagination, no inherited
        subgroups."""
        state = self.state
        with state.lock:
            groups = []
            for group in sorted(state.groups.values(), key=lambda g: g.id):
                level = group.members.get(user.username)
                if level is None or level < min_level:
                    continue
                parent = state.groups.get(group.path.rsplit("/", 1)[0].lower()) if "/" in group.path else None
                groups.append({
                    "id": group.id,
                    "web_url": f"{base_url}/groups/{group.path}",
                    "name": group.path.rsplit("/", 1)[-1],
                    "parent_id": parent.id if parent else None,
                    "organization_id": 1,
                    "access_levels": level,
                    "visibility": "private",
                })
            projects = []
            for project in sorted(state.projects.values(), key=lambda p: p.id):
                project_level = project.members.get(user.username)
                parts = project.path.split("/")[:-1]
                group_levels = [state.groups[g].members[user.username]
                                for g in ("/".join(parts[:i]).lower() for i in range(1, len(parts) + 1))
                                if g in state.groups and user.username in state.groups[g].members]
                group_level = max(group_levels) if group_levels else None
                if project_level is None and group_level is None:
                    continue
                if max(project_level or 0, group_level or 0) < min_level:
                    continue
                namespace = state.groups.get(project.namespace.lower())
                projects.append({
                    "id": project.id,
                    "description": None,
                    "name": project.name,
                    "name_with_namespace": " / ".join(project.path.split("/")),
                    "path": project.name,
                    "path_with_namespace": project.path,
                    "created_at": None,
                    "access_levels": {"project_access_level": project_level,
                                      "group_access_level": group_level},
                    "visibility": project.visibility,
                    "web_url": f"{base_url}/{project.path}",
                    "namespace": {
                        "id": namespace.id if namespace else None,
                        "name": project.namespace.rsplit("/", 1)[-1],
                        "path": project.namespace.rsplit("/", 1)[-1],
                        "kind": "group",
                        "full_path": project.namespace,
                        "parent_id": None,
                        "avatar_url": None,
                        "web_url": f"{base_url}/groups/{project.namespace}",
                    },
                })
            return {"groups": groups, "projects": projects}

    # --- POST /api/v4/personal_access_tokens/self/rotate -------------------------------------

    def pat_rotate(self, request: Request, match) -> Response:
        params = read_params(request)
        if params.error:
            return param_error(params.error)
        state = self.state
        try:
            # Authentication and rotation in one hold of the lock: a second
            # rotation with the same token sees it revoked (reuse detection).
            with state.lock:
                caller = self.authenticate(request, params, scopes=ROTATE_SCOPES, rotation=True)
                expires_at = parse_date_param("expires_at", params.get("expires_at"))
                if caller.token.kind != PAT:
                    raise ApiError(not_allowed())
                new = self.rotate(caller.token, expires_at)
                body = self.pat_entity(new)
                body["token"] = new.token
        except ApiError as error:
            return error.response
        return Response.json(200, body)

    def rotate(self, token: Token, expires_at: _dt.date | None) -> Token:
        """PersonalAccessTokens::RotateService: validate, then revoke and create."""
        state = self.state
        with state.lock:
            if token.revoked:
                raise ApiError(bad_request("Token already revoked"))
            today = state.today()
            limit = today + _dt.timedelta(days=state.max_token_lifetime_days)
            if state.require_token_expiry:
                if expires_at is None:
                    # One week, never beyond the instance's maximum lifetime.
                    expires_at = min(today + _dt.timedelta(days=7), limit)
                elif expires_at > limit:
                    raise ApiError(bad_request(f"Expiration date must be before {limit.isoformat()}"))
            new = state.rotate_pat(token, expires_at)
            with self._lock:
                self._rotations.append((token.id, new.id))
            return new

    # --- /api/v4/personal_access_tokens and /:id ---------------------------------------------

    def _api_caller(self, request: Request, params: Params, permission: str, *,
                    rotation: bool = False) -> Caller:
        """Authentication for the list and /:id routes: API::API's scopes, any token kind."""
        if params.error:
            raise ApiError(param_error(params.error))
        return self.authenticate(request, params, scopes=API_SCOPES, rotation=rotation,
                                 permission=permission)

    def _token_by_path_id(self, match) -> Token | None:
        """PersonalAccessToken.find_by_id(params[:id])."""
        raw = match["id"]
        if not re.fullmatch(r"\d+", raw):
            return None
        return self.state.token_by_id(PAT, int(raw))

    @staticmethod
    def _may_manage(caller: Caller, token: Token | None) -> bool:
        """The user policy: own tokens, or any token for an admin."""
        return token is not None and (caller.user.admin or token.user == caller.user.username)

    def pat_list(self, request: Request, match) -> Response:
        params = read_params(request)
        state = self.state
        try:
            caller = self._api_caller(request, params, "read_personal_access_token")
            owner = self._list_owner(caller, params)
            active = params.get("state")
            if active is not None and active not in ("active", "inactive"):
                raise ApiError(param_error("state does not have a valid value"))
            revoked = parse_bool_param("revoked", params.get("revoked"))
            search = params.get("search")
            if search is not None and not isinstance(search, str):
                raise ApiError(param_error("search is invalid"))
            page = parse_int_param("page", params.get("page"), 1) or 1
            per_page = parse_int_param("per_page", params.get("per_page"), DEFAULT_PER_PAGE)
        except ApiError as error:
            return error.response
        with state.lock:
            tokens = []
            for (kind, _), token in sorted(state.tokens.items()):
                if kind != PAT or (owner is not None and token.user != owner.username):
                    continue
                if active is not None and state.is_active(token) != (active == "active"):
                    continue
                if revoked is not None and token.revoked != revoked:
                    continue
                if search and search.casefold() not in token.name.casefold():
                    continue
                tokens.append(token)
            shown, headers = paginate(request, tokens, page, per_page)
            body = [self.pat_entity(token, ips=True) for token in shown]
        return Response.json(200, body, headers)

    def _list_owner(self, caller: Caller, params: Params) -> User | None:
        """Whose tokens to list: the caller's, or (admins) ``user_id``'s or everyone's (None)."""
        raw = params.get("user_id")
        if not caller.user.admin:
            # restrict_non_admins!: runs before parameter validation.
            if raw is not None and str(raw).strip() and str(raw).strip() != str(caller.user.id):
                raise ApiError(unauthorized())
            return caller.user
        if raw is None:
            return None
        user_id = parse_int_param("user_id", raw)
        with self.state.lock:
            user = next((u for u in self.state.users.values() if u.id == user_id), None)
        if user is None:
            raise ApiError(not_found())
        return user

    def pat_get(self, request: Request, match) -> Response:
        params = read_params(request)
        try:
            caller = self._api_caller(request, params, "read_personal_access_token")
        except ApiError as error:
            return error.response
        token = self._token_by_path_id(match)
        if not self._may_manage(caller, token):
            return not_found() if caller.user.admin else unauthorized()
        assert token is not None
        return Response.json(200, self.pat_entity(token, ips=True))

    def pat_revoke(self, request: Request, match) -> Response:
        params = read_params(request)
        try:
            caller = self._api_caller(request, params, "revoke_personal_access_token")
        except ApiError as error:
            return error.response
        token = self._token_by_path_id(match)
        if token is None:
            return record_not_found()
        if not self._may_manage(caller, token):
            return bad_request("Not permitted to revoke")
        self.state.revoke(token)
        return Response(204, [], b"")

    def pat_rotate_by_id(self, request: Request, match) -> Response:
        params = read_params(request)
        if params.error:
            return param_error(params.error)
        state = self.state
        try:
            with state.lock:
                caller = self._api_caller(request, params, "rotate_personal_access_token", rotation=True)
                expires_at = parse_date_param("expires_at", params.get("expires_at"))
                token = self._token_by_path_id(match)
                if not self._may_manage(caller, token):
                    raise ApiError(not_found() if caller.user.admin else unauthorized())
                assert token is not None
                new = self.rotate(token, expires_at)
                body = self.pat_entity(new)
                body["token"] = new.token
        except ApiError as error:
            return error.response
        return Response.json(200, body)

    # --- OAuth ----------------------------------------------------------------------------------

    def _client(self, credentials: tuple[str, str]):
        """Doorkeeper's Application.by_uid_and_secret."""
        return self.state.application_by_uid_and_secret(*credentials)

    def oauth_token(self, request: Request, match) -> Response:
        params = read_params(request)
        if params.error:
            return oauth_error("invalid_request")
        grant_type = params.text("grant_type")
        if not grant_type:
            return oauth_error("invalid_request", "Missing required parameter: grant_type.")
        if grant_type != "refresh_token":
            other = self.grants.get(grant_type)
            return other(request, params) if other else oauth_error("unsupported_grant_type")
        credentials = basic_credentials(request)
        if credentials is None or not credentials[0]:
            uid = params.text("client_id", body_only=True)
            credentials = (uid, params.text("client_secret", body_only=True) or "") if uid else None
        state = self.state
        with state.lock:
            refresh = params.text("refresh_token")
            if not refresh:
                return oauth_error("invalid_request", "Missing required parameter: refresh_token.")
            old = state.find_by_refresh_token(refresh)
            if old is None or old.revoked:
                return oauth_error("invalid_grant")
            client = None
            if credentials is not None:
                client = self._client(credentials)
                if client is None:
                    return oauth_error("invalid_client")
            if old.application_id is not None and (client is None or client.id != old.application_id):
                return oauth_error("invalid_grant")
            scopes = None
            requested = params.text("scope") or params.text("scopes")
            if requested:
                scopes = requested.split()
                if not set(scopes) <= set(old.scopes):
                    return oauth_error("invalid_scope")
            new = state.refresh_oauth(old, scopes)
            with self._lock:
                self._refreshes.append((old.id, new.id))
        return token_answer(new)

    def oauth_token_info(self, request: Request, match) -> Response:
        params = read_params(request)
        state = self.state
        with state.lock:
            secret = params.text("access_token") or bearer_token(request) or params.text("bearer_token")
            token = state.find_token(secret, OAUTH)
            if token is not None:
                state.oauth_token_used(token)
            if token is None or token.revoked or state.is_expired(token):
                return _doorkeeper_error(401, "invalid_token", OAUTH_INVALID_TOKEN)
            app = state.oauth_application(token.application_id)
            instant = token.expiry_instant()
            left = None if instant is None else max(0, round((instant - state.now()).total_seconds()))
            body = {
                "resource_owner_id": state.user_id(token),
                "scope": list(token.scopes),
                "expires_in": left,
                "application": {"uid": app.uid if app else None},
                "created_at": int(token.created_at.timestamp()),
                "scopes": list(token.scopes),
                "expires_in_seconds": left,
            }
        return Response(200, [("Content-Type", _DOORKEEPER_JSON)], _dumps(body))


def paginate(request: Request, items: list, page: int, per_page: int | None) -> tuple[list, list[tuple[str, str]]]:
    """GitLab's offset pagination (Kaminari + OffsetHeaderBuilder): one page of
    *items* and the X-* and Link headers.  A page below 1 is page 1; a
    per_page below 1 is the default, above 100 is 100."""
    if per_page is None or per_page < 1:
        per_page = DEFAULT_PER_PAGE
    per_page = min(per_page, MAX_PER_PAGE)
    page = max(page, 1)
    total = len(items)
    total_pages = -(-total // per_page)
    out_of_range = page > total_pages
    next_page = page + 1 if page < total_pages else None
    prev_page = page - 1 if page > 1 and not out_of_range else None
    shown = items[(page - 1) * per_page:page * per_page]
    last_page = max(total_pages, 1)

    query = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True)
             if k not in ("page", "per_page")]

    def link(number: int) -> str:
        target = urlencode([*query, ("page", str(number)), ("per_page", str(per_page))])
        return f"{request.base_url}{request.raw_path}?{target}"

    links = []
    if prev_page is not None:
        links.append(f'<{link(prev_page)}>; rel="prev"')
    if next_page is not None:
        links.append(f'<{link(next_page)}>; rel="next"')
    links.append(f'<{link(1)}>; rel="first"')
    links.append(f'<{link(last_page)}>; rel="last"')
    headers = [
        ("X-Per-Page", str(per_page)),
        ("X-Page", str(page)),
        ("X-Next-Page", str(next_page or "")),
        ("X-Prev-Page", str(prev_page or "")),
        ("Link", ", ".join(links)),
        ("X-Total", str(total)),
        ("X-Total-Pages", str(last_page)),
    ]
    return shown, headers


def install(app) -> GitLabAPI:
    """Register the token routes on a FakeGitLab (its ``router`` and ``state``)."""
    api = GitLabAPI(app.state)
    api.install(app.router)
    return api
