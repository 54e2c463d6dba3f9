"""GitLab's package registries, answered as GitLab answers them.

Routes (``install()`` registers them on a FakeGitLab's router)::

    GET  /api/v4/projects/:id/packages/pypi/simple[/]                 PEP 503 index (HTML)
    GET  /api/v4/projects/:id/packages/pypi/simple/:package_name[/]   links to the files
    GET  /api/v4/projects/:id/packages/pypi/files/:sha256/:file_name  the file
    POST /api/v4/projects/:id/packages/pypi                           twine upload (multipart)
    GET  /api/v4/groups/:id/-/packages/pypi/simple[/:package_name]    group variants
    GET  /api/v4/groups/:id/-/packages/pypi/files/:sha256/:file_name
    GET  /api/v4/projects/:id/packages/npm/:package_name              packument (@scope%2fname)
    GET  /api/v4/projects/:id/packages/npm/:package_name/-/:file_name tarball
    GET  /api/v4/projects/:id/packages/npm/-/package/:package_name/dist-tags
    GET  /api/v4/projects/:id/packages/go/:module/@v/list             Go proxy (also .info .mod .zip)
    GET  /api/v4/projects/:id/packages/generic/:name/:version/:file   generic packages
    PUT  /api/v4/projects/:id/packages/generic/:name/:version/:file   (raw body)
    GET  /.well-known/terraform.json                                  service discovery
    GET  /api/v4/packages/terraform/modules/v1/:namespace/:name/:system/versions
    GET  /api/v4/packages/terraform/modules/v1/:namespace/:name/:system/download
    GET  /api/v4/packages/terraform/modules/v1/:namespace/:name/:system/:version/download
    GET  /api/v4/packages/terraform/modules/v1/:namespace/:name/:system/:version/file?token=

``:id`` is a project's (group's) numeric id or its URL-encoded full path
(``group%2Fproject``); a literal slash in it does not match, as in GitLab.

Authentication (lib/api/api_guard.rb ``find_user_from_sources``,
lib/gitlab/auth/auth_finders.rb), in GitLab's order.  Each route has its
``route_setting :authentication`` (see ``PYPI``, ``NPM``... below):

1. ``deploy_token_allowed``: the Basic password when there is Basic
   authentication (the username is ignored), else the ``Deploy-Token``
   header, else the Bearer token, is looked up as an active deploy token.
2. ``job_token_allowed`` (any form): a Bearer token that is the token of a
   running job.
3. An OAuth token from the Bearer token; else a PAT from ``private_token``,
   ``PRIVATE-TOKEN`` or the Bearer token (values starting ``glcbt-`` are
   skipped).  A value there that is no PAT: ``401 {"message":"401 Unauthorized"}``.
   Else, with ``basic_auth_personal_access_token``, the Basic password as a
   PAT (unknown: simply no user).  A PAT or OAuth token found: expired, then
   revoked, give GitLab's ``401 invalid_token`` answers.
4. ``job_token_allowed: :basic_auth``: Basic credentials with the username
   ``gitlab-ci-token`` must be a running job's token, else 401.
   ``job_token_allowed: true`` (``:request``): the ``job_token`` or ``token``
   parameter or the ``JOB-TOKEN`` header must be one, else 401.
5. Otherwise the request is anonymous (even when it carried credentials
   that matched nothing, e.g. an expired deploy token as a Basic password).

Then: a blocked user gets ``403 {"message":"403 Forbidden - Your account has
been blocked."}``; the user's DPoP proof is checked (``api.dpop``); a PAT or
OAuth token needs the scope ``api``, or ``read_api`` on GET/HEAD, else
``403 {"error":"insufficient_scope",...,"scope":"api read_api"}``.

Routes that include GitLab's ``BasicAuthHelpers`` (PyPI, generic, Terraform
modules) answer every 401 with ``WWW-Authenticate: Basic realm="GitLab
Packages Registry"``; npm and the Go proxy send no challenge.  Where GitLab
writes ``unauthorized_or! { ... }``, an anonymous request gets the 401 and an
authenticated one the other answer (403 or 404).

Who may read packages (Packages::Policies::ProjectPolicy): anyone on public
projects; any non-external user on internal ones; reporters and above (and
guests when ``guests_can_pull_packages``, GitLab's feature flag
allow_guest_plus_roles_to_pull_packages, off by default); admins; deploy
tokens with ``read_package_registry`` or ``write_package_registry`` on their
project or below their group; job tokens as their user, on their own project
or projects whose allowlist holds it (public projects always).  Writing
(create_package): developers and above, deploy tokens with
``write_package_registry``, job tokens whose user is a developer.

The Terraform module registry (lib/api/terraform/modules/v1/namespace_packages.rb)
authenticates differently (``authenticate_with``): only the
``Authorization`` header, whatever its scheme, whose last word is tried as
a PAT, a deploy token and a job token; nothing matching gives 401.

Unknown packages: npm and PyPI redirect to npmjs.org / pypi.org (302) while
``npm_package_requests_forwarding`` / ``pypi_package_requests_forwarding``
(GitLab's defaults: on) are set, as GitLab does.

Read from GitLab's source: the authentication order and route settings, the
``WWW-Authenticate`` realm, the ``{"message": ...}`` texts, the PyPI HTML
(SimplePresenterBase's heredoc, indentation included), the npm packument's
shape (``dist`` holds ``shasum`` and ``tarball`` only, the tarball URL is
``.../packages/npm/NAME/-/NAME-VERSION.tgz`` with the scope unescaped), the
Terraform discovery document, versions and version entities, PyPI's
duplicate-file error and ``201 {"message":"201 Created"}``.  Approximations:
Grape's redirect body and its ``, ``-joined validation errors (from Grape),
the Content-Disposition format (ActionDispatch), version and name regexps,
the Go proxy (versions come from ``golang`` packages in the state, not from
repository tags), the X-Terraform-Get token (an HS256 JWT with a per-server
secret), group visibility (public when a public project lies below it), and
job tokens (no fine-grained job token permissions).  GitLab's
``X-Frame-Options``/``X-Content-Type-Options`` API headers are not sent.
"""

from __future__ import annotations

import datetime as _dt
import email.parser
import email.policy
import io
import json
import re
import secrets
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import quote, unquote

import jwt

from . import auth
from .api import (
    BLOCKED,
    EXPIRED_DESCRIPTION,
    REVOKED_DESCRIPTION,
    ApiError,
    api_message,
    bearer_token,
    insufficient_scope,
    invalid_token,
    nonblank_header,
)
from .auth import Identity
from .state import (
    ACCESS_LEVELS,
    DEPLOY,
    JOB,
    OAUTH,
    PAT,
    GitLabState,
    Group,
    Package,
    PackageFile,
    Project,
    User,
)
from .web import Request, Response, Router

__all__ = [
    "AuthSetting",
    "PACKAGES_REALM",
    "PackageRegistry",
    "install",
    "normalize_pypi_name",
    "content_disposition",
]

API = "/api/v4"
PACKAGES_REALM = 'Basic realm="GitLab Packages Registry"'
CI_JOB_USER = auth.CI_JOB_USER
JOB_TOKEN_PREFIX = "glcbt-"
PACKAGE_SCOPES = frozenset({"read_package_registry", "write_package_registry"})
# API::API's scopes: api always, read_api for GET and HEAD only.
API_SCOPES = ("api", "read_api")

NPMJS = "https://registry.npmjs.org/"
PYPI_SIMPLE = "https://pypi.org/simple/"

# Grape's regexps (Gitlab::Regex), simplified where noted.
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# PEP 440 (a close approximation of Gitlab::Regex.pypi_version_regex).
_PYPI_VERSION = re.compile(
    r"v?(?:\d+!)?\d+(?:\.\d+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?"
    r"(?:(?:-\d+)|(?:[-_.]?(?:post|rev|r)[-_.]?\d*))?(?:[-_.]?dev[-_.]?\d*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?", re.IGNORECASE)
# Gitlab::Regex.semver_regex (without its build-metadata subtleties).
_SEMVER = re.compile(r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
                     r"(?:-(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
                     r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?")
_GENERIC_NAME = re.compile(r"[-+.\w]+")  # generic_package_name_regex (\w: letters, digits, _)
_GENERIC_VERSION = re.compile(r"\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.+-]+)?|[A-Za-z0-9][-.\w+]*")
_GENERIC_FILE = re.compile(r"[-+.~\w]+")
_GO_VERSION = re.compile(r"v(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[-.!a-z0-9]+)?(?:\+[-.!a-z0-9]+)?")

_MAX_UPLOAD = 64 * 1024 * 1024


# --- route settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuthSetting:
    """GitLab's ``route_setting :authentication`` for one route, plus whether the
    endpoint includes BasicAuthHelpers (``realm``: 401s carry the Basic challenge)."""

    deploy_token: bool = False  # deploy_token_allowed
    basic_pat: bool = False  # basic_auth_personal_access_token
    # job_token_allowed: "basic_auth" and/or "request" (GitLab's true is "request").
    job_token: frozenset[str] = frozenset()
    authenticate_non_public: bool = False
    realm: bool = False


PYPI = AuthSetting(deploy_token=True, basic_pat=True, job_token=frozenset({"basic_auth"}), realm=True)
NPM = AuthSetting(deploy_token=True, job_token=frozenset({"request"}))
NPM_METADATA = AuthSetting(deploy_token=True, job_token=frozenset({"request"}), authenticate_non_public=True)
GO = AuthSetting(basic_pat=True, job_token=frozenset({"request"}), authenticate_non_public=True)
GENERIC_DOWNLOAD = AuthSetting(deploy_token=True, basic_pat=True, job_token=frozenset({"request", "basic_auth"}),
                               realm=True)
GENERIC_UPLOAD = AuthSetting(deploy_token=True, basic_pat=True, job_token=frozenset({"request"}), realm=True)
TERRAFORM = AuthSetting(realm=True)  # token types come from authenticate_with, see _terraform_identity


# --- small helpers ------------------------------------------------------------------------


ANONYMOUS = Identity("anonymous", frozenset())


def normalize_pypi_name(name: str) -> str:
    """PEP 503 normalisation, as GitLab's normalized_pypi_name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _html_escape(text: str | None) -> str:
    """ERB::Util.html_escape."""
    text = text or ""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _percent_escape(text: str, keep: str) -> str:
    out = []
    for char in text:
        if char.isascii() and (char.isalnum() or char in keep):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def content_disposition(disposition: str, filename: str) -> str:
    """ActionDispatch::Http::ContentDisposition.format."""
    ascii_name = _percent_escape(filename, " !#$+.^_`|~-")
    utf8_name = _percent_escape(filename, "!#$&+.^_`|~-")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{utf8_name}"


def _version_key(version: str):
    """VersionSorter's order: numbers numerically, a pre-release tag sorts
    before the release it precedes (1.0.0-rc1 < 1.0.0 < 1.0.0.1)."""
    key = []
    for part in re.findall(r"\d+|[A-Za-z]+", version):
        key.append((2, int(part), "") if part.isdigit() else (0, 0, part.lower()))
    key.append((1, 0, ""))
    return key


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values and values[0].strip():
        return values[0]
    return None


def _simple_name(segments: list[str]) -> str:
    """The package name after ``.../pypi/simple/`` (trailing slashes dropped);
    empty for the index itself."""
    names = [unquote(s) for s in segments]
    while names and names[-1] == "":
        names.pop()
    return "/".join(names)


def _pypi_file_path(segments: list[str]) -> tuple[str, str]:
    """``(sha256, file name)`` from the segments after ``.../pypi/files/``."""
    return unquote(segments[0]), "/".join(unquote(s) for s in segments[1:])


def _pat_plaintext(request: Request) -> str | None:
    """AuthFinders#extract_personal_access_token: what check_dpop! binds the proof to."""
    query = request.query
    return (_first(query, "private_token") or nonblank_header(request, "PRIVATE-TOKEN")
            or _first(query, "access_token") or bearer_token(request) or _first(query, "bearer_token"))


def _json(status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """Grape's JSON rendering (``application/json``)."""
    return Response(status, [("Content-Type", "application/json"), *headers],
                    json.dumps(body, separators=(",", ":")).encode())


def not_found(resource: str | None = None) -> Response:
    """Grape's not_found!: ``404 <Resource> Not Found``."""
    return api_message(404, " ".join(["404", *([resource] if resource else []), "Not Found"]))


def forbidden(reason: str | None = None) -> Response:
    return api_message(403, "403 Forbidden" + (f" - {reason}" if reason else ""))


def bad_request(reason: str | None = None) -> Response:
    return api_message(400, "400 Bad request" + (f" - {reason}" if reason else ""))


def param_error(*messages: str) -> Response:
    """Grape's validation errors: ``{"error": "a is missing, b is invalid"}``."""
    return Response.json(400, {"error": ", ".join(messages)})


def redirect(location: str) -> Response:
    """Grape's ``redirect`` for GET: 302, a plain-text body."""
    return Response(302, [("Location", location), ("Content-Type", "text/plain")],
                    f"This resource has been moved temporarily to {location}.".encode())


def file_response(file: PackageFile, extra_headers: Iterable[tuple[str, str]] = ()) -> Response:
    """present_package_file! with local storage (present_disk_file!)."""
    headers = [
        ("Content-Type", "application/octet-stream"),
        *extra_headers,
        ("Content-Disposition", content_disposition("attachment", file.file_name)),
        ("Content-Transfer-Encoding", "binary"),
    ]
    return Response(200, headers, file.data)


# --- multipart/form-data ---------------------------------------------------------------------


@dataclass
class FormPart:
    name: str
    value: bytes = field(repr=False)
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


def parse_multipart(content_type: str, body: bytes) -> dict[str, FormPart]:
    """The parts of a multipart/form-data body by name (the last one wins, as in Rack).

    ValueError when the body is not multipart.
    """
    if "multipart/form-data" not in content_type.lower() or "boundary=" not in content_type.lower():
        raise ValueError("not multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    parts: dict[str, FormPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):   # with decode=True: bytes, or None for a multipart part
            payload = b""
        filename = part.get_param("filename", header="content-disposition")
        parts[str(name)] = FormPart(str(name), payload, str(filename) if filename is not None else None,
                                    part.get_content_type() if part.get("Content-Type") else None)
    return parts


# --- the registry ------------------------------------------------------------------------------


class _Call:
    """One request: its route's authentication setting and, once asked for,
    the identity (GitLab evaluates ``current_user`` lazily, so its errors
    come only where a handler first needs it)."""

    def __init__(self, registry: "PackageRegistry", request: Request, setting: AuthSetting):
        self.registry = registry
        self.request = request
        self.setting = setting
        self._identity: Identity | None = None

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self._identity = self.registry.identify(self.request, self.setting)
        return self._identity

    @property
    def anonymous(self) -> bool:
        return self.identity.kind == "anonymous"

    def unauthorized(self) -> ApiError:
        return ApiError(self.registry.unauthorized(self.setting))

    def unauthorized_or(self, response: Response) -> ApiError:
        """BasicAuthHelpers#unauthorized_or!: 401 when anonymous, else *response*."""
        return self.unauthorized() if self.anonymous else ApiError(response)


class PackageRegistry:
    """The package registry routes of one FakeGitLab.

    Settings (plain attributes):
        npm_package_requests_forwarding, pypi_package_requests_forwarding:
            unknown packages redirect to npmjs.org / pypi.org (GitLab: on).
        guests_can_pull_packages: GitLab's allow_guest_plus_roles_to_pull_packages
            feature flag (off).
        go_proxy_enabled: GitLab's go_proxy feature flag (off in GitLab; on
            here so the Go proxy answers).
        terraform_token_lifetime: seconds the token in X-Terraform-Get lives.
    """

    def __init__(self, state: GitLabState, dpop=None):
        self.state = state
        self.dpop = dpop
        self.reset()
        self._jwt_secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._identities: list[tuple[str, str, str, int | None]] = []

    def reset(self) -> None:
        """Settings back to their defaults."""
        self.npm_package_requests_forwarding = True
        self.pypi_package_requests_forwarding = True
        self.guests_can_pull_packages = False
        self.go_proxy_enabled = True
        self.terraform_token_lifetime = 300
        self.clock: Callable[[], float] = time.time

    @property
    def identities(self) -> list[tuple[str, str, str, int | None]]:
        """``(method, path, identity kind, token id)`` of every authenticated
        package request, oldest first (to check which credential a client used)."""
        with self._lock:
            return list(self._identities)

    # --- URLs (for tests and clients) -----------------------------------------------------------

    @staticmethod
    def project_ref(project: Project | int | str) -> str:
        if isinstance(project, Project):
            return str(project.id)
        return quote(str(project), safe="")

    def pypi_index_url(self, base_url: str, project: Project | int | str) -> str:
        """``BASE/api/v4/projects/ID/packages/pypi/simple`` (pip's --index-url)."""
        return f"{base_url}{API}/projects/{self.project_ref(project)}/packages/pypi/simple"

    def pypi_upload_url(self, base_url: str, project: Project | int | str) -> str:
        """``BASE/api/v4/projects/ID/packages/pypi`` (twine's --repository-url)."""
        return f"{base_url}{API}/projects/{self.project_ref(project)}/packages/pypi"

    def npm_registry_url(self, base_url: str, project: Project | int | str) -> str:
        """``BASE/api/v4/projects/ID/packages/npm/`` (npm's --registry; trailing slash included)."""
        return f"{base_url}{API}/projects/{self.project_ref(project)}/packages/npm/"

    # --- routes ----------------------------------------------------------------------------------------

    def install(self, router: Router) -> None:
        router.add(("GET", "POST", "PUT"), r"/api/v4/projects/.+/packages/(?:pypi|npm|go|generic)(?:/.*)?",
                   self.project_route, name="packages_project")
        router.add("GET", r"/api/v4/groups/.+/-/packages/pypi(?:/.*)?", self.group_pypi,
                   name="packages_group_pypi")
        router.add("GET", r"/\.well-known/terraform\.json", self.terraform_discovery,
                   name="terraform_discovery")
        router.add("GET", r"/api/v4/packages/terraform/modules/v1/.*", self.terraform_modules,
                   name="terraform_modules")

    def project_route(self, request: Request, match=None) -> Response:
        segments = request.raw_path.split("/")
        # ['', 'api', 'v4', 'projects', ID, 'packages', TYPE, ...]
        if len(segments) < 7 or segments[5] != "packages" or not segments[4]:
            return not_found()
        raw_id, kind, rest = segments[4], segments[6], segments[7:]
        handler = {"pypi": self._pypi, "npm": self._npm, "go": self._go, "generic": self._generic}.get(kind)
        if handler is None:
            return not_found()
        try:
            response = handler(request, unquote(raw_id), rest)
        except ApiError as error:
            return error.response
        return response if response is not None else not_found()

    # --- authentication ----------------------------------------------------------------------------------

    def unauthorized(self, setting: AuthSetting) -> Response:
        headers = [("WWW-Authenticate", PACKAGES_REALM)] if setting.realm else []
        return _json(401, {"message": "401 Unauthorized"}, headers)

    def identify(self, request: Request, setting: AuthSetting) -> Identity:
        """GitLab's current_user for a package route; raises ApiError with GitLab's answer."""
        with self.state.lock:
            identity, access_token = self._find_identity(request, setting, request.query)
            return self._checked(request, identity, access_token)

    def _checked(self, request: Request, identity: Identity, access_token: Any) -> Identity:
        """The checks after authentication: blocked user, DPoP, the PAT's or
        OAuth token's scopes; then the identity is recorded."""
        user = identity.user
        if user is not None:
            if user.blocked:
                raise ApiError(forbidden(BLOCKED))
            if self.dpop is not None:
                denied = self.dpop.check(request, user, _pat_plaintext(request))
                if denied is not None:
                    raise ApiError(denied)
        if access_token is not None:
            read_only = request.method.upper() in ("GET", "HEAD")
            allowed = {"api"} | ({"read_api"} if read_only else set())
            if not allowed & set(access_token.scopes):
                raise ApiError(insufficient_scope(API_SCOPES))
        if identity.kind != "anonymous":
            with self._lock:
                self._identities.append((request.method.upper(), request.path, identity.kind,
                                         identity.token.id if identity.token else None))
        return identity

    def _job_identity(self, secret: str | None) -> Identity | None:
        token = self.state.find_active_token(secret, JOB)
        if token is None:
            return None
        user = self.state.find_user(token.user)
        if user is None:
            return None
        return Identity("job", frozenset(), user, token)

    def _token_user(self, token: Any, setting: AuthSetting) -> User:
        """The user of a PAT or OAuth token found: expired, then revoked, give
        GitLab's ``invalid_token`` answers; a token whose user is gone, 401."""
        state = self.state
        if state.is_expired(token):
            raise ApiError(invalid_token(EXPIRED_DESCRIPTION))
        if token.revoked:
            raise ApiError(invalid_token(REVOKED_DESCRIPTION))
        user = state.find_user(token.user)
        if user is None:
            raise ApiError(self.unauthorized(setting))
        return user

    def _find_identity(self, request: Request, setting: AuthSetting, query) -> tuple[Identity, Any]:
        state = self.state
        basic = auth.parse_basic_auth(request.authorization)
        bearer = _first(query, "access_token") or bearer_token(request) or _first(query, "bearer_token")

        # 1. deploy_token_from_request
        if setting.deploy_token:
            candidate = basic[1] if basic else (nonblank_header(request, "Deploy-Token") or bearer)
            token = state.find_active_token(candidate, DEPLOY)
            if token is not None:
                return Identity("deploy", frozenset(), None, token), None

        # 2. find_user_from_job_bearer_token
        if setting.job_token and bearer:
            found = self._job_identity(bearer)
            if found is not None:
                return found, None

        # 3. find_user_from_access_token (OAuth, then PAT, then PAT from Basic)
        token = None
        if bearer:
            token = state.find_token(bearer, OAUTH)
            if token is not None:
                state.oauth_token_used(token)
        if token is None:
            secret = _first(query, "private_token") or nonblank_header(request, "PRIVATE-TOKEN") or bearer
            if secret and not secret.startswith(JOB_TOKEN_PREFIX):
                token = state.find_token(secret, PAT)
                if token is None:
                    raise ApiError(self.unauthorized(setting))
        if token is None and setting.basic_pat and basic:
            token = state.find_token(basic[1], PAT)
        if token is not None:
            user = self._token_user(token, setting)
            if token.kind == PAT:
                state.touch(token, str(request.client_address[0]))
            return Identity("pat" if token.kind == PAT else "oauth", frozenset(), user, token), token

        # 4. find_user_from_job_token
        if "basic_auth" in setting.job_token and basic and basic[0] and basic[1] and basic[0] == CI_JOB_USER:
            found = self._job_identity(basic[1])
            if found is None:
                raise ApiError(self.unauthorized(setting))
            return found, None
        if "request" in setting.job_token:
            secret = (_first(query, "job_token") or _first(query, "token")
                      or nonblank_header(request, "JOB-TOKEN"))
            if secret:
                found = self._job_identity(secret)
                if found is None:
                    raise ApiError(self.unauthorized(setting))
                return found, None

        # 5. nobody
        return ANONYMOUS, None

    # --- policy --------------------------------------------------------------------------------------------

    def _deploy_reaches(self, identity: Identity, project: Project) -> bool:
        return identity.kind == "deploy" and auth._deploy_token_reaches(identity.credential, project)

    def _job_reaches(self, identity: Identity, project: Project) -> bool:
        return identity.kind == "job" and auth._job_token_allowed(identity.credential, project)

    def _user_allowed_on(self, identity: Identity, project: Project) -> bool:
        """Whether the identity's user may act on *project* at all: job tokens
        only where the project's allowlist lets them in."""
        if identity.kind == "job":
            return self._job_reaches(identity, project)
        return identity.user is not None

    def _can_read_at(self, identity: Identity, project: Project, role: str) -> bool:
        """Reading *project* (needing *role* where it is not public): deploy
        tokens with a package scope that reach it, users as auth.can_read_at."""
        if project.visibility == "public":
            return True
        if identity.kind == "deploy":
            return self._deploy_reaches(identity, project) and bool(PACKAGE_SCOPES & set(identity.credential.scopes))
        if not self._user_allowed_on(identity, project):
            return False
        return auth.can_read_at(self.state, identity.user, project, role)

    def can_read_project(self, identity: Identity, project: Project) -> bool:
        return self._can_read_at(identity, project, "guest")

    @property
    def _package_reader_role(self) -> str:
        """The least role that reads packages of a private project or group."""
        return "guest" if self.guests_can_pull_packages else "reporter"

    def can_read_package(self, identity: Identity, project: Project) -> bool:
        return self._can_read_at(identity, project, self._package_reader_role)

    def can_create_package(self, identity: Identity, project: Project) -> bool:
        if identity.kind == "deploy":
            return self._deploy_reaches(identity, project) and "write_package_registry" in identity.credential.scopes
        if not self._user_allowed_on(identity, project):
            return False
        user = identity.user
        if user is None or user.blocked:
            return False
        return user.admin or self.state.access_level(user, project) >= ACCESS_LEVELS["developer"]

    def _group_projects(self, group: Group) -> list[Project]:
        prefix = group.path.lower() + "/"
        with self.state.lock:
            return sorted((p for p in self.state.projects.values() if p.path.lower().startswith(prefix)),
                          key=lambda p: p.id)

    def _group_level(self, identity: Identity, group: Group) -> int:
        user = identity.user
        if user is None or user.blocked:
            return 0
        parts = group.path.split("/")
        levels = [0]
        with self.state.lock:
            for i in range(1, len(parts) + 1):
                found = self.state.groups.get("/".join(parts[:i]).lower())
                if found is not None:
                    levels.append(found.members.get(user.username, 0))
        return max(levels)

    def _group_public(self, group: Group) -> bool:
        # A group is at least as visible as its projects: one public project
        # below it means the group is public.
        return any(p.visibility == "public" for p in self._group_projects(group))

    def _group_deploy_token(self, identity: Identity, group: Group) -> bool:
        token = identity.token
        if (identity.kind != "deploy" or token is None or token.group is None
                or not PACKAGE_SCOPES & set(token.scopes)):
            return False
        target = group.path.lower()
        return target == token.group.lower() or target.startswith(token.group.lower() + "/")

    def _can_read_group_at(self, identity: Identity, group: Group, role: str, *, members_below: bool) -> bool:
        """Reading *group*: anyone when it is public, deploy tokens with a
        package scope on it or above, admins, members with *role* on it or a
        parent; with *members_below*, also members of anything below it."""
        if self._group_public(group):
            return True
        if identity.kind == "deploy":
            return self._group_deploy_token(identity, group)
        user = identity.user
        if user is None or user.blocked:
            return False
        if user.admin or self._group_level(identity, group) >= ACCESS_LEVELS[role]:
            return True
        if not members_below:
            return False
        if any(self.state.access_level(user, p) > 0 for p in self._group_projects(group)):
            return True
        prefix = group.path.lower() + "/"
        with self.state.lock:
            return any(g.path.lower().startswith(prefix) and user.username in g.members
                       for g in self.state.groups.values())

    def can_read_group(self, identity: Identity, group: Group) -> bool:
        # Members of a project or subgroup below the group may see it.
        return self._can_read_group_at(identity, group, "guest", members_below=True)

    def can_read_group_packages(self, identity: Identity, group: Group) -> bool:
        """Packages::Policies::GroupPolicy read_package."""
        return self._can_read_group_at(identity, group, self._package_reader_role, members_below=False)

    # --- lookups ----------------------------------------------------------------------------------------------

    def find_project(self, ident: str) -> Project | None:
        """API::Helpers#find_project: a numeric id, or a full path (with a slash)."""
        if re.fullmatch(r"-?\d+", ident):
            return self.state.project_by_id(int(ident))
        if "/" in ident:
            return self.state.find_project(ident)
        return None

    def find_group(self, ident: str) -> Group | None:
        if re.fullmatch(r"-?\d+", ident):
            return self.state.group_by_id(int(ident))
        return self.state.find_group(ident)

    def _visible_packages(self, call: _Call, projects: Iterable[Project], package_type: str) -> list[Package]:
        out = []
        for project in projects:
            if self.can_read_package(call.identity, project):
                out.extend(self.state.project_packages(project, package_type))
        return sorted(out, key=lambda p: p.id)

    def _project_with_read_package(self, call: _Call, project: Project | None, *, basic_auth_helpers: bool) -> Project:
        """BasicAuthHelpers#authorized_project_find!(action: :read_package) or
        PackagesHelpers#user_project_with_read_package (npm)."""
        identity = call.identity
        if project is not None and self.can_read_package(identity, project):
            return project
        if project is not None and self.can_read_project(identity, project):
            raise ApiError(forbidden())
        if basic_auth_helpers:
            raise call.unauthorized_or(not_found())
        if call.setting.authenticate_non_public and call.anonymous:
            raise call.unauthorized()
        raise ApiError(not_found("Project"))

    # --- PyPI ---------------------------------------------------------------------------------------------------

    def _pypi(self, request: Request, ident: str, rest: list[str]) -> Response | None:
        call = _Call(self, request, PYPI)
        method = request.method.upper()
        if method == "POST":
            return self._pypi_upload(call, ident, rest) if not rest or rest == [""] else None
        if method not in ("GET", "HEAD") or not rest:
            return None
        if rest[0] == "simple":
            name = _simple_name(rest[1:])
            project = self.find_project(ident)
            if project is None:
                return not_found()
            project = self._project_with_read_package(call, project, basic_auth_helpers=True)
            packages = self.state.project_packages(project, "pypi")
            base = f"{request.base_url}{API}/projects/{project.id}/packages/pypi"
            if not name:
                return self._simple_index(packages, project.name, base)
            return self._simple_package(packages, name, base)
        if rest[0] == "files" and len(rest) >= 3:
            sha256, filename = _pypi_file_path(rest[1:])
            project = self.find_project(ident)
            if project is None:
                return not_found()
            project = self._project_with_read_package(call, project, basic_auth_helpers=True)
            file = self._pypi_file(self.state.project_packages(project, "pypi"), filename, sha256)
            return file_response(file) if file is not None else not_found("Package")
        return None

    @staticmethod
    def _pypi_file(packages: list[Package], filename: str, sha256: str) -> PackageFile | None:
        found = None
        for package in packages:
            for file in package.files:
                if file.file_name == filename and file.sha256 == sha256.lower():
                    found = file
        return found

    @staticmethod
    def _simple_page(title: str, links: list[str]) -> Response:
        """SimplePresenterBase#body (a heredoc: the indentation is part of the page)."""
        body = (
            "<!DOCTYPE html>\n"
            "        <html>\n"
            "          <head>\n"
            f"            <title>Links for {_html_escape(title)}</title>\n"
            "          </head>\n"
            "          <body>\n"
            f"            <h1>Links for {_html_escape(title)}</h1>\n"
            f"            {''.join(links)}\n"
            "          </body>\n"
            "        </html>\n"
        )
        return Response(200, [("Content-Type", "text/html; charset=utf-8")], body.encode())

    @staticmethod
    def _link(url: str, requires_python: str | None, text: str) -> str:
        return f'<a href="{url}" data-requires-python="{_html_escape(requires_python)}">{text}</a>'

    def _simple_index(self, packages: list[Package], title: str, base: str) -> Response:
        links = [self._link(f"{base}/simple/{normalize_pypi_name(p.name)}",
                            p.metadata.get("requires_python") or "", p.name) for p in packages]
        return self._simple_page(title, links)

    def _simple_package(self, packages: list[Package], name: str, base: str) -> Response:
        matching = [p for p in packages if normalize_pypi_name(p.name) == name.lower()]
        if not matching:
            if self.pypi_package_requests_forwarding:
                return redirect(f"{PYPI_SIMPLE}{name}/")
            return not_found("Package")
        links = [self._link(f"{base}/files/{f.sha256}/{f.file_name}#sha256={f.sha256}",
                            p.metadata.get("requires_python") or "", f.file_name)
                 for p in matching for f in p.files]
        return self._simple_page(matching[0].name, links)

    def _pypi_upload(self, call: _Call, ident: str, rest: list[str]) -> Response:
        request = call.request
        try:
            parts = parse_multipart(request.header("Content-Type") or "", request.body.read(_MAX_UPLOAD))
        except ValueError:
            parts = {}
        errors = []
        content = parts.get("content")
        if content is None:
            errors.append("content is missing")
        elif content.filename is None:
            errors.append("content is invalid")
        for required in ("name", "version"):
            if required not in parts:
                errors.append(f"{required} is missing")
        digest = parts["sha256_digest"].text if "sha256_digest" in parts else None
        if digest is not None and not _SHA256.fullmatch(digest):
            errors.append("sha256_digest is invalid")
        if errors:
            return param_error(*errors)
        assert content is not None  # else an error above

        project = self.find_project(ident)
        if project is None:
            return not_found()
        if not self.can_read_project(call.identity, project):
            raise call.unauthorized_or(not_found())
        if not self.can_create_package(call.identity, project):
            raise call.unauthorized_or(forbidden())

        name, version = parts["name"].text, parts["version"].text
        if not name.strip():
            return bad_request("Validation failed: Name can't be blank")
        if not _PYPI_VERSION.fullmatch(version):
            return bad_request("Validation failed: Version is invalid")
        filename = content.filename or ""
        existing = self.state.find_package(project, "pypi", name, version)
        if existing is not None and any(f.file_name == filename for f in existing.files):
            return bad_request("Validation failed: File name has already been taken")
        requires_python = parts["requires_python"].text if "requires_python" in parts else ""
        metadata = {"requires_python": requires_python[:255]}
        for key in ("metadata_version", "summary", "author_email", "description", "keywords",
                    "description_content_type"):
            if key in parts:
                metadata[key] = parts[key].text
        self.state.add_package_file(project, "pypi", name, version, filename, content.value,
                                    sha256=digest, metadata=metadata)
        return api_message(201, "201 Created")

    def group_pypi(self, request: Request, match=None) -> Response:
        segments = request.raw_path.split("/")
        # ['', 'api', 'v4', 'groups', ID, '-', 'packages', 'pypi', ...]
        if len(segments) < 8 or segments[5:8] != ["-", "packages", "pypi"] or not segments[4]:
            return not_found()
        rest = segments[8:]
        call = _Call(self, request, PYPI)
        try:
            group = self.find_group(unquote(segments[4]))
            if group is None:
                return not_found()
            if not self.can_read_group(call.identity, group):
                raise call.unauthorized_or(not_found())
            if not rest:
                return not_found()
            base = f"{request.base_url}{API}/groups/{group.id}/-/packages/pypi"
            if rest[0] == "simple":
                name = _simple_name(rest[1:])
                if not self.can_read_group_packages(call.identity, group):
                    raise call.unauthorized_or(forbidden())
                packages = self._visible_packages(call, self._group_projects(group), "pypi")
                if not name:
                    return self._simple_index(packages, group.path.rsplit("/", 1)[-1], base)
                return self._simple_package(packages, name, base)
            if rest[0] == "files" and len(rest) >= 3:
                if not self.can_read_group_packages(call.identity, group):
                    raise call.unauthorized_or(forbidden())
                sha256, filename = _pypi_file_path(rest[1:])
                packages = self._visible_packages(call, self._group_projects(group), "pypi")
                file = self._pypi_file(packages, filename, sha256)
                # Packages::Pypi::PackageFinder raises RecordNotFound here (not rescued).
                return file_response(file) if file is not None else api_message(404, "404 Not found")
            return not_found()
        except ApiError as error:
            return error.response

    # --- npm -----------------------------------------------------------------------------------------------------

    def _npm(self, request: Request, ident: str, rest: list[str]) -> Response | None:
        if request.method.upper() not in ("GET", "HEAD") or not rest or rest == [""]:
            return None
        decoded = [unquote(s) for s in rest]
        if decoded[:2] == ["-", "package"] and len(decoded) >= 4 and decoded[-1] == "dist-tags":
            return self._npm_dist_tags(request, ident, "/".join(decoded[2:-1]))
        joined = "/".join(decoded)
        if "/-/" in joined:
            name, file_name = joined.split("/-/", 1)
            return self._npm_tarball(request, ident, name, file_name)
        if len(rest) != 1:
            return None  # a literal slash in the name: no route (npm sends @scope%2fname)
        return self._npm_metadata(request, ident, decoded[0])

    def _npm_packages(self, project: Project | None, name: str) -> list[Package]:
        if project is None:
            return []
        return [p for p in self.state.project_packages(project, "npm", name) if p.files]

    def _npm_metadata(self, request: Request, ident: str, name: str) -> Response:
        call = _Call(self, request, NPM_METADATA)
        project_or_nil = self.find_project(ident)
        packages = self._npm_packages(project_or_nil, name)
        if (project_or_nil is None or not packages) and self.npm_package_requests_forwarding:
            return redirect(f"{NPMJS}{name}")
        project = self._project_with_read_package(call, project_or_nil, basic_auth_helpers=False)
        if not packages:
            return not_found("Packages")
        return _json(200, self.packument(request.base_url, project, name, packages))

    def packument(self, base_url: str, project: Project, name: str, packages: list[Package]) -> dict:
        """Packages::Npm::GenerateMetadataService + API::Entities::NpmPackage."""
        versions: dict[str, Any] = {}
        tags: dict[str, str] = {}
        latest = None
        for package in sorted(packages, key=lambda p: p.id):
            for tag in package.tags:
                tags[tag] = package.version
            if latest is None or _version_key(package.version) > _version_key(latest):
                latest = package.version
            file = package.files[-1]
            allowed = {k: v for k, v in (package.metadata.get("package_json") or {}).items()
                       if k in ("deprecated", "bin", "directories", "engines", "_hasShrinkwrap",
                                "hasInstallScript")}
            entry: dict[str, Any] = {**allowed, "name": package.name, "version": package.version,
                                     "dist": {"shasum": file.sha1,
                                              "tarball": f"{base_url}{API}/projects/{project.id}/packages/npm/"
                                                         f"{package.name}/-/{file.file_name}"}}
            for kind in ("dependencies", "devDependencies", "bundleDependencies", "peerDependencies",
                         "optionalDependencies"):
                deps = (package.metadata.get("package_json") or {}).get(kind)
                if deps:
                    entry[kind] = deps
            versions[package.version] = entry
        if latest is not None:   # callers answer 404 for no packages
            tags.setdefault("latest", latest)
        return {"name": name, "versions": versions, "dist-tags": tags}

    def _npm_tarball(self, request: Request, ident: str, name: str, file_name: str) -> Response:
        call = _Call(self, request, NPM)
        project = self._project_with_read_package(call, self.find_project(ident), basic_auth_helpers=False)
        found = None
        for package in self._npm_packages(project, name):
            for file in package.files:
                if file.file_name == file_name:
                    found = file
        if found is None:
            return not_found("Package")
        return file_response(found)

    def _npm_dist_tags(self, request: Request, ident: str, name: str) -> Response:
        call = _Call(self, request, NPM)
        if not name:
            return bad_request('"Package Name" not given')
        project = self._project_with_read_package(call, self.find_project(ident), basic_auth_helpers=False)
        packages = self._npm_packages(project, name)
        if not packages:
            return not_found()
        return _json(200, self.packument(request.base_url, project, name, packages)["dist-tags"])

    # --- Go proxy --------------------------------------------------------------------------------------------------

    def _go(self, request: Request, ident: str, rest: list[str]) -> Response | None:
        if request.method.upper() not in ("GET", "HEAD"):
            return None
        decoded = "/".join(unquote(s) for s in rest)
        if "/@v/" not in decoded:
            return None
        module, _, leaf = decoded.rpartition("/@v/")
        call = _Call(self, request, GO)
        identity = call.identity  # find_project! asks for the user first (job token scope)
        project = self.find_project(ident)
        if project is None:
            return not_found("Project")
        if not self.can_read_project(identity, project):
            if call.anonymous:
                raise call.unauthorized()
            return not_found("Project")
        if not self.can_read_package(identity, project):
            return forbidden()
        if not self.go_proxy_enabled:
            return not_found()
        name = re.sub(r"!([a-z])", lambda m: m.group(1).upper(), module)
        if not name:
            return bad_request('"Module Name" not given')
        packages = sorted(self.state.project_packages(project, "golang", name),
                          key=lambda p: _version_key(p.version))
        if not packages:
            return not_found()
        if leaf == "list":
            text = "\n".join(p.version for p in packages)
            return Response(200, [("Content-Type", "text/plain")], text.encode())
        version_match = re.fullmatch(r"(.+)\.(info|mod|zip)", leaf)
        if not version_match or not _GO_VERSION.fullmatch(version_match.group(1)):
            return None
        version = re.sub(r"!([a-z])", lambda m: m.group(1).upper(), version_match.group(1))
        package = next((p for p in packages if p.version == version), None)
        if package is None:
            return not_found()
        what = version_match.group(2)
        if what == "info":
            created = package.created_at.astimezone(_dt.timezone.utc)
            stamp = created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z"
            return _json(200, {"Version": package.version, "Time": stamp})
        if what == "mod":
            file = next((f for f in package.files if f.file_name == "go.mod"), None)
            go_mod = file.data if file is not None else f"module {name}\n".encode()
            return Response(200, [("Content-Type", "text/plain")], go_mod)
        file = next((f for f in package.files if f.file_name.endswith(".zip")), None)
        data = file.data if file is not None else self._go_zip(name, package)
        return Response(200, [("Content-Type", "application/zip"),
                              ("Content-Disposition", content_disposition("attachment", f"{version}.zip")),
                              ("Content-Transfer-Encoding", "binary")], data)

    @staticmethod
    def _go_zip(module: str, package: Package) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            prefix = f"{module}@{package.version}/"
            if not any(file.file_name == "go.mod" for file in package.files):
                archive.writestr(prefix + "go.mod", f"module {module}\n")
            for file in package.files:
                archive.writestr(prefix + file.file_name, file.data)
        return buffer.getvalue()

    # --- generic packages -------------------------------------------------------------------------------------------

    def _generic(self, request: Request, ident: str, rest: list[str]) -> Response | None:
        method = request.method.upper()
        if len(rest) < 3 or method not in ("GET", "HEAD", "PUT"):
            return None
        decoded = [unquote(s) for s in rest]
        name, version, file_name = decoded[0], decoded[1], "/".join(decoded[2:])
        setting = GENERIC_UPLOAD if method == "PUT" else GENERIC_DOWNLOAD
        call = _Call(self, request, setting)
        if method == "PUT" and call.anonymous:  # authenticate_non_get!
            raise call.unauthorized()
        errors = []
        if not _GENERIC_NAME.fullmatch(name):
            errors.append("package_name is invalid")
        if not _GENERIC_VERSION.fullmatch(version):
            errors.append("package_version is invalid")
        if not _GENERIC_FILE.fullmatch(decoded[-1]):
            errors.append("file_name is invalid")
        if errors:
            return param_error(*errors)
        project = self.find_project(ident)
        if method == "PUT":
            if project is None or not self.can_read_project(call.identity, project):
                raise call.unauthorized_or(not_found())
            if not self.can_create_package(call.identity, project):
                raise call.unauthorized_or(forbidden())
            data = request.body.read(_MAX_UPLOAD)
            self.state.add_package_file(project, "generic", name, version, file_name, data)
            return api_message(201, "201 Created")
        if project is None:
            raise call.unauthorized_or(not_found())
        project = self._project_with_read_package(call, project, basic_auth_helpers=True)
        package = next((p for p in reversed(self.state.project_packages(project, "generic", name))
                        if p.version == version), None)
        file = None
        if package is not None:
            file = next((f for f in reversed(package.files) if f.file_name == file_name), None)
        if file is None:
            return api_message(404, "404 Not found")  # RecordNotFound
        response = file_response(file, [("X-Checksum-SHA256", file.sha256)])
        return response

    # --- Terraform module registry ---------------------------------------------------------------------------------

    def terraform_discovery(self, request: Request, match=None) -> Response:
        """Terraform::ServicesController#index (Rails: ``application/json; charset=utf-8``)."""
        body = {"modules.v1": f"{API}/packages/terraform/modules/v1/"}
        return Response(200, [("Content-Type", "application/json; charset=utf-8")],
                        json.dumps(body, separators=(",", ":")).encode())

    def _terraform_identity(self, request: Request) -> Identity:
        """authenticate_with: token types PAT, deploy token, job token, sent
        through ``Authorization`` (its last word, whatever the scheme)."""
        header = request.authorization
        if not header or not header.strip():
            return ANONYMOUS
        raw = header.split()[-1]
        state = self.state
        with state.lock:
            token = state.find_token(raw, PAT)
            if token is None:
                return self._terraform_deploy_or_job(raw)
            user = self._token_user(token, TERRAFORM)
            state.touch(token, str(request.client_address[0]))
            return Identity("pat", frozenset(), user, token)

    def _terraform_deploy_or_job(self, secret: str) -> Identity:
        """authenticate_with's other token types: a deploy token, else a job token, else 401."""
        deploy = self.state.find_active_token(secret, DEPLOY)
        if deploy is not None:
            return Identity("deploy", frozenset(), None, deploy)
        job = self._job_identity(secret)
        if job is None:
            raise ApiError(self.unauthorized(TERRAFORM))
        return job

    def _terraform_file_identity(self, request: Request) -> Identity:
        """The ``file`` route: only the ``token`` parameter, a JWT from X-Terraform-Get."""
        raw = _first(request.query, "token")
        if raw is None:
            return ANONYMOUS
        try:
            claims = jwt.decode(raw, self._jwt_secret, algorithms=["HS256"], leeway=0,
                                options={"require": ["exp", "iat", "jti"]})
        except jwt.PyJWTError:
            raise ApiError(self.unauthorized(TERRAFORM)) from None
        value = claims.get("token")
        state = self.state
        with state.lock:
            if isinstance(value, int):
                token = state.token_by_id(PAT, value)
                if token is None:
                    raise ApiError(self.unauthorized(TERRAFORM))
                return Identity("pat", frozenset(), self._token_user(token, TERRAFORM), token)
            if isinstance(value, str):
                return self._terraform_deploy_or_job(value)
            raise ApiError(self.unauthorized(TERRAFORM))

    def terraform_token(self, identity: Identity) -> str:
        """Gitlab::TerraformRegistryToken.from_token: an HS256 JWT naming the credential."""
        now = int(self.clock())
        token = identity.credential
        value: Any = token.id if token.kind == PAT else token.token
        claims = {"jti": str(uuid.uuid4()), "iat": now, "nbf": now - 5,
                  "exp": now + self.terraform_token_lifetime, "token": value}
        return jwt.encode(claims, self._jwt_secret, algorithm="HS256")

    def terraform_modules(self, request: Request, match=None) -> Response:
        prefix = f"{API}/packages/terraform/modules/v1/"
        parts = [unquote(s) for s in request.raw_path[len(prefix):].split("/")]
        if len(parts) < 3 or not all(parts[:3]):
            return not_found()
        namespace_id, name, system, rest = parts[0], parts[1], parts[2], parts[3:]
        try:
            if rest and rest[-1] == "file" and len(rest) == 2:
                identity = self._terraform_file_identity(request)
            else:
                identity = self._terraform_identity(request)
            identity = self._checked(request, identity, identity.token if identity.kind == "pat" else None)
            call = _Call(self, request, TERRAFORM)
            call._identity = identity
            namespace = self.find_group(namespace_id)
            packages: list[Package] = []
            if namespace is not None:
                packages = [p for p in self._visible_packages(call, self._group_projects(namespace),
                                                               "terraform_module")
                            if p.name == f"{name}/{system}" and p.files]
            if not packages and not (namespace is not None and self.can_read_group_packages(identity, namespace)):
                raise call.unauthorized_or(forbidden())
            base = f"{prefix}{quote(namespace_id, safe='')}/{quote(name, safe='')}/{quote(system, safe='')}"
            ordered = sorted(packages, key=lambda p: _version_key(p.version))
            source = f"{request.base_url}/{packages[0].project}" if packages else None
            if rest == ["versions"]:
                return _json(200, {"modules": [self._terraform_versions(packages, system, source)]})
            if rest in (["download"], []) and not ordered:
                return _json(404, {"message": {"error": f"No version found for {name} module"}})
            if rest == ["download"]:
                return redirect(f"{base}/{ordered[-1].version}/download")
            if not rest:
                return _json(200, self._terraform_version(ordered[-1], system, request.base_url))
            version = rest[0]
            if not _SEMVER.fullmatch(version) or len(rest) > 2:
                return not_found()
            package = next((p for p in packages if p.version == version), None)
            if package is None:
                return not_found()
            if rest[1:] == ["download"]:
                token = self.terraform_token(identity) if identity.token is not None else ""
                location = f"{base}/{version}/file?token={token}&archive=tgz"
                return Response(204, [("X-Terraform-Get", location)], b"")
            if rest[1:] == ["file"]:
                return file_response(package.files[0])
            if len(rest) == 1:
                return _json(200, self._terraform_version(package, system, request.base_url))
            return not_found()
        except ApiError as error:
            return error.response

    @staticmethod
    def _terraform_versions(packages: list[Package], system: str, source: str | None) -> dict:
        """Terraform::ModulesPresenter#modules (one module; ``source``, the
        project's web URL, only when there are packages)."""
        module: dict[str, Any] = {"versions": [
            {"version": p.version, "submodules": [],
             "root": {"dependencies": [], "providers": [{"name": system, "version": ""}]}}
            for p in packages]}
        if source is not None:
            module["source"] = source
        return module

    @staticmethod
    def _terraform_version(package: Package, system: str, base_url: str) -> dict:
        """Terraform::ModuleVersionPresenter + API::Entities::Terraform::ModuleVersion."""
        return {"name": package.name, "provider": system, "providers": [system],
                "root": {"dependencies": []}, "source": f"{base_url}/{package.project}",
                "submodules": [], "version": package.version, "versions": [package.version]}


def install(app) -> PackageRegistry:
    """Register the package routes on a FakeGitLab (uses ``app.api.dpop`` when present)."""
    api = getattr(app, "api", None)
    registry = PackageRegistry(app.state, getattr(api, "dpop", None))
    registry.install(app.router)
    return registry
