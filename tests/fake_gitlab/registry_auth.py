"""GitLab's container registry token service: ``GET /jwt/auth``.

Modelled on GitLab's ``JwtController`` and
``Auth::ContainerRegistryAuthenticationService``.  A registry configured
with ``auth: token`` (realm ``https://GITLAB/jwt/auth``, service
``container_registry``, the issuer below and ``rootcertbundle`` =
``RegistryAuth.cert_file``) sends clients here; they come back with a JWT
the registry verifies offline.

The request::

    GET /jwt/auth?service=container_registry&scope=repository:group/project:pull,push
        [&scope=...] [&account=USER&client_id=docker&offline_token=true]
    Authorization: Basic base64(user:token)        (optional)

How GitLab answers, in its order:

1. Basic credentials are judged like Git's (``auth.find_for_git_client``
   with no project: job token as ``gitlab-ci-token``, OAuth, PAT, deploy
   token under its own username, password).  Nothing matches (expired,
   revoked, unknown, blocked owner, wrong deploy-token username): 401 with
   ``{"errors":[{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied. ..."}]}``
   and no WWW-Authenticate header.  Without credentials the request goes
   on as anonymous with read-only abilities.
2. ``service`` other than ``container_registry``: 404, empty body.
3. Registry disabled: 404 ``UNAVAILABLE`` "registry not enabled".
4. The credential has no registry ability at all (e.g. a PAT with only
   ``read_repository``): 403 ``DENIED`` "access forbidden".
5. Every scope is checked action by action; actions the credential may not
   do are dropped silently, a scope left without actions is dropped.  An
   anonymous request left with no scope at all: 403 ``DENIED``.  An
   authenticated one gets a token anyway (``"access": []``): the registry
   then refuses the operation, which is how ``docker login`` works (no
   scope, any valid credential with a registry ability gets a token).
6. 200 ``{"token": "<JWT>"}``: GitLab sends nothing else (no
   ``access_token``, ``expires_in`` or ``issued_at``; Docker then assumes
   60 seconds).  Error bodies carry ``"http_status"`` too, because GitLab
   renders the service's whole result hash.

The JWT (``JSONWebToken::RSAToken``): RS256, header ``{"alg","kid","typ":"JWT"}``
where ``kid`` is the libtrust key id of the signing key (what the registry
looks up in its rootcertbundle); claims, in GitLab's order: ``auth_type``,
``access`` (``[{"type","name","actions","meta"}]``), ``user`` (a nested
signed JWT with ``user_info``), ``jti``, ``aud`` (the service), ``sub``
(the username; absent for deploy tokens and anonymous requests, whose
``current_user`` is nil in GitLab), ``iss``, ``iat``, ``nbf`` (iat - 5 s),
``exp`` (iat + ``expire_delay_minutes``, default 5).

Who may do what (``can_access?``):

- pull: a user credential with ``read_container_image`` (scopes ``api``,
  ``read_api``, ``read_registry``; a password) on a project the user may
  read images of (public: anyone, anonymous included; internal: any
  non-external user; private: reporter or above; admins: all).  A deploy
  token with ``read_registry`` on its project or below its group.  A job
  token on its own project, or on a project that is public or that allows
  the job's project and that the job's user may read.
- push: ``create_container_image`` (scopes ``api``, ``write_registry``) and
  developer or above; a deploy token with ``write_registry`` on its
  projects; a job token on its own project only.  ``write_registry`` alone
  gives push but not pull.
- delete and ``*``: ``admin_container_image`` (scope ``api``) and developer
  or above; a job token on its own project (delete only).
- ``registry:catalog:*``: admins only.

JWT times come from the real clock, not ``GitLabState.now()``: the real
registry checks them against the real clock (as TLS does), while the
credential checks above follow the state's movable clock.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from . import auth
from .auth import Identity
from .state import DEPLOY, GitLabState, Project
from .web import Request, Response, Router

__all__ = [
    "AUDIENCE",
    "DEFAULT_ISSUER",
    "IssuedToken",
    "RegistryAuth",
    "install",
    "libtrust_key_id",
    "registry_access_denied_message",
]

AUDIENCE = "container_registry"
DEFAULT_ISSUER = "gitlab-issuer"
# Gitlab::CurrentSettings.container_registry_token_expire_delay (minutes).
DEFAULT_EXPIRE_DELAY_MINUTES = 5
# JSONWebToken::Token: nbf = iat - 5 s; the nested "user" token lives 60 s.
NOT_BEFORE_SECONDS = 5
NESTED_TOKEN_SECONDS = 60
# ContainerRegistry::Path::LEVELS_SUPPORTED
LEVELS_SUPPORTED = 3

HELP_PATH = ("/help/user/profile/account/two_factor_authentication_troubleshooting.md"
             "#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-")

# Gitlab::Auth::Result#type as the controller passes it on (auth_type claim).
AUTH_TYPES = {
    "anonymous": "none",
    "pat": "personal_access_token",
    "oauth": "oauth",
    "deploy": "deploy_token",
    "job": "build",
    "password": "gitlab_or_ldap",
}

# Auth::ContainerRegistryAuthenticationService::REGISTRY_LOGIN_ABILITIES
REGISTRY_LOGIN_ABILITIES = frozenset({
    "read_container_image", "create_container_image", "destroy_container_image",
    "update_container_image", "admin_container_image", "build_read_container_image",
    "build_create_container_image", "build_destroy_container_image",
})

# Gitlab::Auth.read_only_authentication_abilities: what an anonymous request has.
ANONYMOUS = Identity("anonymous", frozenset({"read_project", "download_code", "read_container_image"}))

# Gitlab::Regex.container_repository_name_regex (lower case only; the path
# is downcased before it is checked).
_REPOSITORY_NAME = re.compile(r"[a-z0-9]+(?:(?:[._/]|__|-+)[a-z0-9]+)*")


def registry_access_denied_message(base_url: str) -> str:
    """The 401 message of GitLab's JwtController (its help link differs from Git's)."""
    return (
        "HTTP Basic: Access denied. If a password was provided for Git authentication, the "
        "password was incorrect or you're required to use a token instead of a password. If a "
        "token was provided, it was either incorrect, expired, or improperly scoped. See "
        f"{base_url}{HELP_PATH}"
    )


def libtrust_key_id(public_key) -> str:
    """The key id Docker's libtrust (and GitLab's ``RSAToken#kid``) derive from a key.

    SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes, base32 without
    padding, in groups of four joined by colons.  The registry finds the
    verification key of a token by this id among its rootcertbundle's keys.
    """
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True)
class IssuedToken:
    """A token /jwt/auth handed out (for tests: what was granted to whom)."""

    token: str = dataclasses.field(repr=False)
    claims: dict
    identity_kind: str  # "anonymous", "pat", "oauth", "deploy", "job", "password"
    token_kind: str | None  # the credential's kind (state.PAT, ...) or None
    token_id: int | None
    requested_scopes: tuple[str, ...]

    @property
    def access(self) -> list[dict]:
        return self.claims.get("access", [])

    def actions(self, name: str) -> list[str]:
        """Actions granted on repository *name* (empty when none)."""
        for entry in self.access:
            if entry.get("type") == "repository" and entry.get("name") == name:
                return list(entry.get("actions", []))
        return []


class RegistryAuth:
    """The ``/jwt/auth`` route of one FakeGitLab, and its signing key.

    Settings (plain attributes, change them any time):
        issuer: the ``iss`` claim; the registry's ``auth.token.issuer``.
        expire_delay_minutes: token lifetime (GitLab's default is 5).
        enabled: False answers 404 ``UNAVAILABLE`` (registry not enabled).
        disabled_projects: paths of projects whose registry is turned off.
        clock: time source for the JWT's iat/nbf/exp (default: real time).
    """

    def __init__(self, state: GitLabState, directory: str | Path, *, issuer: str = DEFAULT_ISSUER,
                 expire_delay_minutes: int = DEFAULT_EXPIRE_DELAY_MINUTES):
        self.state = state
        self.directory = Path(directory)
        self.issuer = issuer
        self.expire_delay_minutes = expire_delay_minutes
        self.enabled = True
        self.disabled_projects: set[str] = set()
        self.clock: Callable[[], float] = time.time
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self._kid: str | None = None
        self._cert_file: Path | None = None
        self._issued: list[IssuedToken] = []

    # --- the signing key ------------------------------------------------------------------

    def _ensure_key(self) -> rsa.RSAPrivateKey:
        """The RSA key, made on first use (keeps FakeGitLab() fast when unused)."""
        with self._lock:
            if self._key is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self._kid = libtrust_key_id(key.public_key())
                self._key = key
            return self._key

    @property
    def signing_key(self) -> rsa.RSAPrivateKey:
        return self._ensure_key()

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._ensure_key().public_key()

    @property
    def kid(self) -> str:
        self._ensure_key()
        assert self._kid is not None
        return self._kid

    @property
    def cert_file(self) -> str:
        """PEM certificate of the signing key: the registry's ``rootcertbundle``.

        Self-signed, like the one GitLab's Omnibus generates for its registry.
        The private key never leaves memory.
        """
        key = self._ensure_key()
        with self._lock:
            if self._cert_file is None:
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitlab-registry-signing")])
                now = _dt.datetime.now(_dt.timezone.utc)
                cert = (
                    x509.CertificateBuilder()
                    .subject_name(name)
                    .issuer_name(name)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - _dt.timedelta(days=1))
                    .not_valid_after(now + _dt.timedelta(days=3650))
                    .sign(key, hashes.SHA256())
                )
                self.directory.mkdir(parents=True, exist_ok=True)
                path = self.directory / "registry-signing-cert.pem"
                path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
                self._cert_file = path
            return str(self._cert_file)

    def decode(self, token: str, *, verify_exp: bool = True) -> dict:
        """Verify *token* (signature, issuer, audience, times) and return its claims."""
        return jwt.decode(token, self.public_key, algorithms=["RS256"], audience=AUDIENCE,
                          issuer=self.issuer, options={"verify_exp": verify_exp},
                          leeway=NOT_BEFORE_SECONDS)

    # --- observation ----------------------------------------------------------------------------

    @property
    def issued(self) -> list[IssuedToken]:
        """Every token handed out, oldest first."""
        with self._lock:
            return list(self._issued)

    def clear_issued(self) -> None:
        with self._lock:
            self._issued.clear()

    # --- routes ------------------------------------------------------------------------------------

    def install(self, router: Router) -> None:
        router.add("GET", "/jwt/auth", self.handle, name="jwt_auth")

    def handle(self, request: Request, match=None) -> Response:
        query = parse_qs(request.query_string, keep_blank_values=True)
        identity = self._authenticate(request.authorization)
        if identity is None:
            return _error(401, "UNAUTHORIZED", registry_access_denied_message(request.base_url),
                          http_status=False)
        service = (query.get("service") or [""])[0]
        if service != AUDIENCE:
            return Response(404, [("Content-Type", "text/html")], b"")
        scopes = [part for value in query.get("scope", []) for part in value.split()]
        return self.respond(identity, scopes)

    # --- the decision ---------------------------------------------------------------------------

    def _authenticate(self, authorization: str | None) -> Identity | None:
        """Rails' authenticate_with_http_basic: credentials only when the header is Basic."""
        if not authorization:
            return ANONYMOUS
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return ANONYMOUS
        creds = auth.parse_basic_auth(authorization)
        if creds is None:
            return None  # Basic, but no "user:password" in it
        login, password = creds
        return auth.find_for_git_client(self.state, login, password, None)

    def respond(self, identity: Identity, scopes: list[str]) -> Response:
        """Auth::ContainerRegistryAuthenticationService#execute for *identity*."""
        if not self.enabled:
            return _error(404, "UNAVAILABLE", "registry not enabled")
        if not identity.abilities & REGISTRY_LOGIN_ABILITIES:
            return _error(403, "DENIED", "access forbidden")
        accesses = [entry for entry in (self._process_scope(identity, s) for s in scopes) if entry]
        if not accesses and identity.kind == "anonymous":
            return _error(403, "DENIED", "access forbidden")
        token, claims = self._encode(identity, accesses)
        record = IssuedToken(token, claims, identity.kind,
                             identity.token.kind if identity.token else None,
                             identity.token.id if identity.token else None, tuple(scopes))
        with self._lock:
            self._issued.append(record)
        return _json(200, {"token": token})

    def _process_scope(self, identity: Identity, scope: str) -> dict | None:
        parts = scope.split(":", 2)
        if len(parts) != 3:
            return None  # GitLab raises (500) on these; nobody sends them
        kind, name, actions = parts[0], parts[1], parts[2].split(",")
        if kind == "registry":
            user = identity.user
            if user is not None and user.admin and name == "catalog" and actions == ["*"]:
                return {"type": kind, "name": name, "actions": ["*"]}
            return None
        if kind != "repository":
            return None
        path = name.lower()
        project = self.repository_project(path)
        if project is None:
            return None
        granted = [action for action in actions if self.can_access(identity, project, action)]
        if not granted:
            return None
        return {"type": kind, "name": path, "actions": granted, "meta": self._meta(project)}

    def repository_project(self, path: str) -> Project | None:
        """ContainerRegistry::Path#repository_project: the project a repository path is in.

        ``group/project``, ``group/project/image`` and ``group/project/a/b``
        belong to ``group/project``.
        """
        path = path.lower()
        if not _REPOSITORY_NAME.fullmatch(path):
            return None
        components = path.split("/")
        if len(components) < 2:
            return None
        nodes = ["/".join(components[:n]) for n in range(len(components), 1, -1)][:LEVELS_SUPPORTED]
        for node in nodes:
            project = self.state.find_project(node)
            if project is not None:
                return project
        return None

    def can_access(self, identity: Identity, project: Project, action: str) -> bool:
        """GitLab's can_access? for one action on one project."""
        if project.path.lower() in {p.lower() for p in self.disabled_projects}:
            return False
        has = identity.abilities.__contains__
        state = self.state
        user = identity.user
        is_deploy = identity.kind == "deploy"
        is_job = identity.kind == "job"
        own_project = is_job and (identity.credential.project or "").lower() == project.path.lower()

        def user_can(level_rule: str) -> bool:
            if is_deploy:
                return False
            if level_rule == "read":
                return auth.can_download_code(state, user, project)
            return auth.can_push_code(state, user, project)  # developer or above, or admin

        def deploy_reaches() -> bool:
            return is_deploy and auth._deploy_token_reaches(identity.credential, project)

        if action == "pull":
            build = has("build_read_container_image") and is_job and (
                own_project or project.visibility == "public"
                or (auth._job_token_allowed(identity.credential, project)
                    and auth.can_download_code(state, user, project)))
            return (build
                    or (has("read_container_image") and user_can("read"))
                    or (has("read_container_image") and deploy_reaches()))
        if action == "push":
            return ((has("build_create_container_image") and own_project)
                    or (has("create_container_image") and user_can("write"))
                    or (has("create_container_image") and deploy_reaches()))
        if action == "delete":
            return ((has("build_destroy_container_image") and own_project)
                    or (has("admin_container_image") and user_can("write")))
        if action == "*":
            return has("admin_container_image") and user_can("write")
        return False

    def _meta(self, project: Project) -> dict:
        """access_metadata: project_path, project_id, root_namespace_id."""
        root = self.state.find_group(project.path.split("/", 1)[0])
        meta: dict[str, Any] = {"project_path": project.path.lower(), "project_id": project.id}
        if root is not None:
            meta["root_namespace_id"] = root.id
        return meta

    # --- tokens ----------------------------------------------------------------------------------

    def _headers(self) -> dict:
        return {"kid": self.kid, "typ": "JWT"}

    def _encode(self, identity: Identity, accesses: list[dict]) -> tuple[str, dict]:
        key = self._ensure_key()
        now = int(self.clock())
        auth_type = AUTH_TYPES.get(identity.kind, identity.kind)
        user = identity.user
        if user is not None:
            info: dict | None = {"token_type": auth_type, "username": user.username, "user_id": user.id}
        elif identity.token is not None and identity.token.kind == DEPLOY:
            info = {"token_type": auth_type, "username": identity.token.username,
                    "deploy_token_id": identity.token.id}
        else:
            info = None
        nested = {"user_info": info, "jti": str(uuid.uuid4()), "iat": now,
                  "nbf": now - NOT_BEFORE_SECONDS, "exp": now + NESTED_TOKEN_SECONDS}
        claims: dict[str, Any] = {
            "auth_type": auth_type,
            "access": accesses,
            "user": jwt.encode(nested, key, algorithm="RS256", headers=self._headers()),
            "jti": str(uuid.uuid4()),
            "aud": AUDIENCE,
        }
        if user is not None:
            claims["sub"] = user.username
        claims.update({
            "iss": self.issuer,
            "iat": now,
            "nbf": now - NOT_BEFORE_SECONDS,
            "exp": now + 60 * self.expire_delay_minutes,
        })
        token = jwt.encode(claims, key, algorithm="RS256", headers=self._headers())
        return token, json.loads(json.dumps(claims))


def _error(status: int, code: str, message: str, *, http_status: bool = True) -> Response:
    body: dict[str, Any] = {"errors": [{"code": code, "message": message}]}
    if http_status:
        body["http_status"] = status
    return _json(status, body)


def _json(status: int, body: dict) -> Response:
    """Rails' ``render json:``."""
    return Response(status, [("Content-Type", "application/json; charset=utf-8")],
                    json.dumps(body, separators=(",", ":")).encode())


def install(app) -> RegistryAuth:
    """Register ``GET /jwt/auth`` on a FakeGitLab; the key lives in ``app.workdir/registry``."""
    registry_auth = RegistryAuth(app.state, Path(app.workdir) / "registry")
    registry_auth.install(app.router)
    return registry_auth
