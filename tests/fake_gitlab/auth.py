"""GitLab's authentication and access rules for Git over HTTP, as pure functions.

Modelled on GitLab's ``Gitlab::Auth.find_for_git_client``,
``Repositories::GitHttpClientController#authenticate_user`` and
``Gitlab::GitAccess#check``.  The HTTP layer (``git_http.py``) and later
handlers (container registry ``/jwt/auth``, package APIs) call these so that
every route judges Basic credentials the same way.

The shape of the decision, in GitLab's order:

1. Basic credentials given: the password is tried as a CI job token (only
   with username ``gitlab-ci-token``), an OAuth token (any username), a PAT
   (any username), a deploy token (username must be the token's, and the
   token must reach the project), then the account password.  Nothing
   matched, or the token is expired/revoked: 401 with a Basic challenge.
   No credentials: only fetching a public project is allowed, else 401.
2. The credential's abilities (from its scopes; a fine-grained PAT's from
   its ``code_download`` / ``code_push`` permissions) must cover the
   command: 403 "You are not allowed to download/upload code." otherwise.
3. The project must exist and be visible to the credential: 404 otherwise
   (a CI job token gets 403 with a job-token specific message instead).
4. Fetch needs download rights (reporter+ on private projects), push needs
   push rights (developer+): 403 otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Optional

from .state import (
    ACCESS_LEVELS,
    DEPLOY,
    JOB,
    OAUTH,
    PAT,
    GitLabState,
    Project,
    Token,
    User,
)

__all__ = [
    "FETCH",
    "PUSH",
    "CI_JOB_USER",
    "Identity",
    "Denial",
    "parse_basic_auth",
    "find_for_git_client",
    "anonymous_git_identity",
    "check_git_access",
    "authorize_git",
    "abilities_for_scopes",
    "abilities_for_token",
    "can_read_project",
    "can_download_code",
    "can_push_code",
    "access_denied_message",
    "PROJECT_NOT_FOUND",
]

FETCH = "git-upload-pack"
PUSH = "git-receive-pack"
CI_JOB_USER = "gitlab-ci-token"

# --- messages (GitLab's texts, so clients show what users would see) ---------

PROJECT_NOT_FOUND = "The project you were looking for could not be found or you don't have permission to view it."
AUTH_DOWNLOAD = "You are not allowed to download code."
AUTH_UPLOAD = "You are not allowed to upload code."
DOWNLOAD = "You are not allowed to download code from this project."
PUSH_CODE = "You are not allowed to push code to this project."
COMMAND_NOT_ALLOWED = "The command you're trying to execute is not allowed."
JOB_TOKEN_FORBIDDEN = "Insufficient permissions to pull from the repository of project {target}."
JOB_TOKEN_NOT_ALLOWLISTED = "Authentication by CI/CD job token not allowed from {source} to {target}."


def access_denied_message(base_url: str) -> str:
    """The body of GitLab's 401 for Git and registry Basic auth."""
    return (
        "HTTP Basic: Access denied. If a password was provided for Git authentication, "
        "the password was incorrect or you're required to use a token instead of a password. "
        "If a token was provided, it was either incorrect, expired, or improperly scoped. "
        f"See {base_url}/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied"
    )


# --- abilities -----------------------------------------------------------------

_READ_ONLY = frozenset({"read_project", "download_code", "read_container_image"})
_FULL = _READ_ONLY | {"push_code", "create_container_image", "admin_container_image"}
_BUILD = frozenset({
    "read_project", "build_download_code", "build_push_code",
    "build_read_container_image", "build_create_container_image", "build_destroy_container_image",
})

# Gitlab::Auth.abilities_for_scopes: note that read_api also grants
# download_code, so a read_api token can clone.
_ABILITIES_BY_SCOPE: dict[str, frozenset[str]] = {
    "api": _FULL,
    "read_api": _READ_ONLY,
    "read_registry": frozenset({"read_container_image"}),
    "write_registry": frozenset({"create_container_image"}),
    "read_virtual_registry": frozenset({"read_dependency_proxy"}),
    "write_virtual_registry": frozenset({"write_dependency_proxy"}),
    "read_repository": frozenset({"download_code"}),
    "write_repository": frozenset({"download_code", "push_code"}),
    "ai_workflows": frozenset({"download_code", "push_code"}),
}


def abilities_for_scopes(scopes) -> frozenset[str]:
    out: set[str] = set()
    for scope in scopes:
        out |= _ABILITIES_BY_SCOPE.get(scope, frozenset())
    return frozenset(out)


# Fine-grained PATs: their Code permissions, and nothing for the container
# registry (they cannot push images; pull is not modelled either).
_ABILITIES_BY_PERMISSION: dict[str, frozenset[str]] = {
    "code_download": frozenset({"read_project", "download_code"}),
    "code_push": frozenset({"push_code"}),
}


def abilities_for_token(token: Token) -> frozenset[str]:
    """What a PAT or OAuth token may do: its scopes, or a fine-grained PAT's permissions."""
    if not token.granular:
        return abilities_for_scopes(token.scopes)
    out: set[str] = set()
    for permission in token.permissions:
        out |= _ABILITIES_BY_PERMISSION.get(permission, frozenset())
    return frozenset(out)


@dataclass(frozen=True)
class Identity:
    """Who a request authenticated as (GitLab's ``Gitlab::Auth::Result``).

    kind: "anonymous", "job", "oauth", "pat", "deploy" or "password".
    """

    kind: str
    abilities: frozenset[str]
    user: Optional[User] = None
    token: Optional[Token] = None

    @property
    def username(self) -> str | None:
        """The name GitLab logs for the actor (used as CGI REMOTE_USER)."""
        if self.user is not None:
            return self.user.username
        if self.token is not None and self.token.kind == DEPLOY:
            return self.token.username
        return None

    @property
    def credential(self) -> Token:
        """The token of a token identity (deploy, job, pat, oauth)."""
        if self.token is None:
            raise ValueError(f"a {self.kind} identity without a token")
        return self.token

    def __repr__(self) -> str:  # never show the token secret
        tid = f"{self.token.kind}#{self.token.id}" if self.token else None
        return f"Identity(kind={self.kind!r}, user={self.username!r}, token={tid!r})"


ANONYMOUS_FETCH = Identity("anonymous", frozenset({"download_code"}))


@dataclass(frozen=True)
class Denial:
    """A refused request: HTTP status and GitLab's message.

    For 401 the message is None: the HTTP layer writes the access-denied text
    with its own base URL and adds the Basic challenge.
    """

    status: int
    message: str | None = None


UNAUTHORIZED = Denial(401)


# --- Basic credentials ------------------------------------------------------------

def decode_basic_auth(header: str | None) -> str | None:
    """The decoded value of ``Authorization: Basic``, or None when not Basic.

    Lenient like Ruby's ``Base64.decode64``: bad padding or stray characters
    do not reject the header, and invalid UTF-8 is replaced.
    """
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value.strip(), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic`` -> (username, password), or None when not Basic.

    Like Rails, the decoded value is split at the first colon; a value without
    a colon does not count as Basic credentials at all.
    """
    decoded = decode_basic_auth(header)
    if decoded is None or ":" not in decoded:
        return None
    username, _, password = decoded.partition(":")
    return username, password


# --- policy: what a user may do on a project --------------------------------------

def can_read_at(state: GitLabState, user: User | None, project: Project, role: str) -> bool:
    """Reading that needs *role* on private projects: anyone on public ones,
    any non-external human on internal ones, admins everywhere."""
    if project.visibility == "public":
        return True
    if user is None or user.blocked:
        return False
    if user.admin:
        return True
    if project.visibility == "internal" and not user.external and not user.bot:
        return True
    return state.access_level(user, project) >= ACCESS_LEVELS[role]


def can_read_project(state: GitLabState, user: User | None, project: Project) -> bool:
    return can_read_at(state, user, project, "guest")


def can_download_code(state: GitLabState, user: User | None, project: Project) -> bool:
    return can_read_at(state, user, project, "reporter")


def can_push_code(state: GitLabState, user: User | None, project: Project) -> bool:
    # Branch protection is not modelled: developers may push to main here,
    # while GitLab's default protection reserves it to maintainers.
    if user is None or user.blocked:
        return False
    return user.admin or state.access_level(user, project) >= ACCESS_LEVELS["developer"]


def _deploy_token_reaches(token: Token, project: Project) -> bool:
    if token.project is not None:
        return token.project.lower() == project.path.lower()
    if token.group is not None:
        return project.path.lower().startswith(token.group.lower() + "/")
    return False


def _job_token_allowed(token: Token, project: Project) -> bool:
    """The job token inbound allowlist of the target project."""
    source = (token.project or "").lower()
    return source == project.path.lower() or source in project.job_token_allowlist


# --- authentication -----------------------------------------------------------------

def _active_user(state: GitLabState, username: str | None) -> User | None:
    user = state.find_user(username)
    if user is None or user.blocked:
        return None
    return user


def find_for_git_client(state: GitLabState, login: str, password: str,
                        project: Project | None) -> Identity | None:
    """Match Basic credentials, in GitLab's order.  None means 401.

    *project* is the project the request is for (None if it does not exist);
    deploy tokens and bot-owned tokens only authenticate for projects they
    can reach.
    """
    if not password:
        return None

    # 1. CI job token: only under the username gitlab-ci-token.
    if login == CI_JOB_USER:
        token = state.find_active_token(password, JOB)
        if token is not None:
            user = _active_user(state, token.user)
            if user is not None:
                return Identity("job", _BUILD, user, token)

    # 2. OAuth access token: any username on current GitLab (older servers
    #    wanted "oauth2").
    token = state.find_active_token(password, OAUTH)
    if token is not None:
        user = _active_user(state, token.user)
        if user is not None:
            return Identity("oauth", abilities_for_scopes(token.scopes), user, token)

    # 3. Personal access token (also project/group access tokens): any username.
    token = state.find_active_token(password, PAT)
    if token is not None:
        user = _active_user(state, token.user)
        if user is not None and token.scopes:
            if not (user.bot and project is not None and not can_read_project(state, user, project)):
                state.touch(token)
                return Identity("pat", abilities_for_token(token), user, token)

    # 4. Deploy token: the username must be the token's own, and the token
    #    must reach the project (else it is as if the token did not exist).
    token = state.find_active_token(password, DEPLOY)
    if token is not None and login == token.username:
        if project is None or _deploy_token_reaches(token, project):
            return Identity("deploy", abilities_for_scopes(token.scopes), None, token)

    # 5. Account password, if the instance allows it for Git and the user has
    #    no two-factor authentication.
    if state.password_authentication_enabled_for_git:
        user = _active_user(state, login)
        if user is not None and user.password is not None and not user.two_factor and not user.bot:
            if hmac.compare_digest(user.password.encode(), password.encode()):
                return Identity("password", _FULL, user)
    return None


def anonymous_git_identity(state: GitLabState, project: Project | None, command: str) -> Identity | None:
    """Without credentials GitLab lets through only fetches of public projects."""
    if command == FETCH and project is not None and project.visibility == "public":
        return ANONYMOUS_FETCH
    return None


# --- access check ----------------------------------------------------------------------

def check_git_access(state: GitLabState, identity: Identity, project: Project | None,
                     command: str) -> Denial | None:
    """GitLab's GitAccess#check for HTTP: None when allowed, else a Denial."""
    abilities = identity.abilities
    user = identity.user

    # Abilities granted by the credential's scopes, before looking at the project.
    if command == FETCH:
        if "download_code" not in abilities and "build_download_code" not in abilities:
            return Denial(403, AUTH_DOWNLOAD)
    elif command == PUSH:
        if "push_code" not in abilities and "build_push_code" not in abilities:
            return Denial(403, AUTH_UPLOAD)
    else:
        return Denial(403, COMMAND_NOT_ALLOWED)

    if project is None:
        return Denial(404, PROJECT_NOT_FOUND)

    # Can the credential see the project at all?
    if identity.kind == "deploy":
        readable = _deploy_token_reaches(identity.credential, project)
    elif identity.kind == "job":
        readable = project.visibility == "public" or (
            _job_token_allowed(identity.credential, project) and can_read_project(state, user, project))
    else:
        readable = can_read_project(state, user, project)
    if not readable:
        if identity.kind == "job":
            if _job_token_allowed(identity.credential, project):
                return Denial(403, JOB_TOKEN_FORBIDDEN.format(target=project.name))
            source = (identity.credential.project or "").rsplit("/", 1)[-1]
            return Denial(403, JOB_TOKEN_NOT_ALLOWLISTED.format(source=source, target=project.name))
        return Denial(404, PROJECT_NOT_FOUND)

    if command == FETCH:
        if identity.kind == "deploy":
            allowed = True
        elif identity.kind == "job":
            allowed = project.visibility == "public" or can_download_code(state, user, project)
        else:
            allowed = can_download_code(state, user, project)
        return None if allowed else Denial(403, DOWNLOAD)

    # Push.
    if identity.kind == "deploy":
        return None  # write_repository checked above
    if identity.kind == "job":
        allowed = (project.job_token_push_allowed
                   and (identity.credential.project or "").lower() == project.path.lower()
                   and can_push_code(state, user, project))
    else:
        allowed = "push_code" in abilities and can_push_code(state, user, project)
    return None if allowed else Denial(403, PUSH_CODE)


def authorize_git(state: GitLabState, authorization: str | None, project: Project | None,
                  command: str) -> tuple[Identity | None, Denial | None]:
    """The whole decision for one Git HTTP request.

    Returns ``(identity, None)`` when allowed, ``(identity_or_None, denial)``
    otherwise.  A 401 denial means the HTTP layer must send the Basic challenge.
    """
    creds = parse_basic_auth(authorization)
    if creds is not None:
        identity = find_for_git_client(state, creds[0], creds[1], project)
    else:
        identity = anonymous_git_identity(state, project, command)
    if identity is None:
        return None, UNAUTHORIZED
    return identity, check_git_access(state, identity, project, command)
