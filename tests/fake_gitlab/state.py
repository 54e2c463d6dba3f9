"""The in-memory model of a GitLab instance: users, groups, projects, tokens.

This module only stores facts and answers questions about them (who is a
member of what, is this token still active).  What a request may do with a
token is decided in ``auth.py``, following GitLab's own rules.

Everything is guarded by one lock: the HTTP server answers requests on many
threads while a test thread creates, revokes and expires tokens.

Time comes from ``GitLabState.now()`` so tests can move it (``advance()``,
``set_clock()``) to expire tokens without sleeping.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as _dt
import hashlib
import os
import re
import secrets
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

__all__ = [
    "ACCESS_LEVELS",
    "GitLabState",
    "Group",
    "OAuthApplication",
    "Project",
    "Token",
    "User",
    "SSHKey",
    "SSH_KEY_USAGES",
    "ssh_fingerprint",
    "Package",
    "PackageFile",
    "PACKAGE_TYPES",
    "ReuseDetection",
    "PAT",
    "DEPLOY",
    "OAUTH",
    "JOB",
]

# GitLab's numeric access levels (Gitlab::Access).
ACCESS_LEVELS: dict[str, int] = {
    "guest": 10,
    "planner": 15,
    "reporter": 20,
    "developer": 30,
    "maintainer": 40,
    "owner": 50,
}

VISIBILITIES = ("private", "internal", "public")

# Token kinds.  Each kind lives in its own table in GitLab, so each has its
# own id sequence (a PAT and a deploy token may both have id 1).
PAT = "personal_access_token"
DEPLOY = "deploy_token"
OAUTH = "oauth_access_token"
JOB = "ci_job_token"

# A path segment as GitLab allows it (simplified): it must not be able to
# escape the repository root on disk.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

# Fixed identity and dates for the initial commit, so repositories are
# reproducible and git never asks who the committer is.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fake GitLab",
    "GIT_AUTHOR_EMAIL": "fake-gitlab@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "Fake GitLab",
    "GIT_COMMITTER_EMAIL": "fake-gitlab@example.com",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _level(value: str | int) -> int:
    if isinstance(value, int):
        return value
    try:
        return ACCESS_LEVELS[value.lower()]
    except KeyError:
        raise ValueError(f"unknown access level {value!r}; use one of {sorted(ACCESS_LEVELS)}") from None


def _check_path(path: str) -> str:
    path = path.strip("/")
    parts = path.split("/")
    if not path or any(not _SEGMENT.fullmatch(p) or p.endswith((".git", ".atom")) for p in parts):
        raise ValueError(f"invalid GitLab path {path!r}")
    return path


# --- token formats ---------------------------------------------------------

def _random_urlsafe(nbytes: int) -> str:
    return secrets.token_urlsafe(nbytes)


def _base36(n: int, width: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(width, "0")


def new_pat_secret(prefix: str = "glpat-", routable: bool | None = None) -> str:
    """A PAT in one of GitLab's formats, so helpers never rely on one shape.

    Legacy: prefix + 20 url-safe characters.  Routable (newer servers):
    prefix + base64url payload + "." + 2 base36 chars + 7 base36 chars of a
    CRC32.  The payload length varies on purpose: never assume a fixed length.
    """
    if routable is None:
        routable = secrets.randbelow(2) == 1
    if not routable:
        return prefix + _random_urlsafe(15)  # 15 bytes -> 20 characters
    payload = base64.urlsafe_b64encode(secrets.token_bytes(24 + secrets.randbelow(16))).decode().rstrip("=")
    body = f"{prefix}{payload}.01"
    return body + _base36(binascii.crc32(body.encode()), 7)


def _new_deploy_secret() -> str:
    return "gldt-" + _random_urlsafe(15)


def _new_oauth_secret() -> str:
    return secrets.token_hex(32)  # 64 hex characters, opaque


def _new_job_secret() -> str:
    # Recent GitLab job tokens carry a partition id before an underscore.
    return f"glcbt-{64:x}_{_random_urlsafe(15)}"


# --- model -----------------------------------------------------------------

@dataclass(eq=False)
class User:
    id: int
    username: str
    password: str | None = field(default=None, repr=False)
    blocked: bool = False
    admin: bool = False
    external: bool = False
    bot: bool = False  # project/group access token owners
    two_factor: bool = False
    # User preference "Enable DPoP" (user_preference.dpop_enabled): API
    # requests with this user's personal access tokens then need a DPoP proof.
    dpop_enabled: bool = False


# GitLab's key usage types (Key#usage_type): what an SSH key may be used for.
SSH_KEY_USAGES = ("auth_and_signing", "auth", "signing")

# Key types GitLab accepts for users' SSH keys.  The ones cryptography can
# load are checked fully; the others only for a well-formed blob.
_SSH_KEY_TYPES = (
    "ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "ssh-dss", "sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com",
)
_SSH_LOADABLE = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521")


def _parse_ssh_public_key(line: str) -> tuple[str, bytes, str]:
    """``"TYPE BASE64 [COMMENT]"`` -> (type, blob, comment); ValueError when malformed."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        raise ValueError("an SSH public key line is 'TYPE BASE64 [COMMENT]'")
    key_type, data = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) > 2 else ""
    if key_type not in _SSH_KEY_TYPES:
        raise ValueError(f"unsupported SSH key type {key_type!r}")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the SSH public key is not valid base64") from None
    # The blob starts with its own type as an SSH string: it must agree.
    if len(blob) < 4:
        raise ValueError("the SSH public key blob is truncated")
    size = int.from_bytes(blob[:4], "big")
    if blob[4:4 + size] != key_type.encode():
        raise ValueError("the SSH public key blob does not match its type")
    if key_type in _SSH_LOADABLE:
        from cryptography.hazmat.primitives import serialization  # slow import: only here

        try:
            serialization.load_ssh_public_key(f"{key_type} {data}".encode())
        except (ValueError, TypeError, NotImplementedError) as error:
            raise ValueError(f"invalid {key_type} public key: {error}") from None
    return key_type, blob, comment


def ssh_fingerprint(public_key: str | bytes) -> str:
    """``SHA256:<base64, no padding>`` of an SSH public key, as ``ssh-keygen -lf`` prints it.

    *public_key* is an OpenSSH public key line (str) or the raw key blob (bytes).
    """
    blob = public_key if isinstance(public_key, bytes) else _parse_ssh_public_key(public_key)[1]
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(eq=False)
class SSHKey:
    """A user's SSH public key (GitLab's Key model, usage type included)."""

    id: int
    user: str  # owner's username
    key: str  # the public key line as registered ("TYPE BASE64 [COMMENT]")
    key_type: str  # e.g. "ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256"
    fingerprint: str  # "SHA256:..." exactly as ssh-keygen -lf prints it
    usage: str = "auth_and_signing"
    title: str = ""
    created_at: _dt.datetime | None = None
    blob: bytes = field(default=b"", repr=False)

    @property
    def fingerprint_sha256(self) -> str:
        """The fingerprint without the ``SHA256:`` prefix (GitLab's column)."""
        return self.fingerprint[len("SHA256:"):]

    @property
    def for_signing(self) -> bool:
        """GitLab's Key.signing scope: usage signing or auth_and_signing."""
        return self.usage in ("auth_and_signing", "signing")

    @property
    def for_auth(self) -> bool:
        return self.usage in ("auth_and_signing", "auth")


@dataclass(eq=False)
class Group:
    id: int
    path: str
    members: dict[str, int] = field(default_factory=dict)  # username -> level


@dataclass(eq=False)
class Project:
    id: int
    path: str
    visibility: str
    repo_path: Path
    members: dict[str, int] = field(default_factory=dict)  # username -> level
    # CI/CD job token inbound allowlist: paths of projects whose job tokens may
    # reach this project.  The project itself is always allowed.  GitLab
    # enforces this allowlist for new projects, so it starts empty.
    job_token_allowlist: set[str] = field(default_factory=set)
    # GitLab's "Allow Git push requests to the repository" for job tokens
    # (off by default).
    job_token_push_allowed: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def namespace(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""


@dataclass(eq=False)
class Token:
    """One credential.  ``token`` is the secret: it is never part of repr()."""

    id: int
    kind: str
    token: str = field(repr=False)
    name: str
    scopes: tuple[str, ...]
    created_at: _dt.datetime
    # PAT: a date (stops working at 00:00 UTC that day).  Deploy tokens store
    # a timestamp in GitLab; both a date and an aware datetime are accepted.
    expires_at: _dt.date | _dt.datetime | None = None
    revoked: bool = False
    previous_token_id: int | None = None
    user: str | None = None  # owner (PAT, OAuth, job); None for deploy tokens
    # Deploy tokens: the Basic-auth username and what they belong to.
    username: str | None = None
    project: str | None = None  # project path (deploy token, job token)
    group: str | None = None  # group path (group deploy token)
    # OAuth access tokens
    expires_in: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    application_id: int | None = None
    # OAuth, Doorkeeper's "revoke previous refresh token on use": the token
    # this one was refreshed from is revoked when this one is first used.
    revoke_previous_on_use: bool = False
    # CI job tokens
    finished: bool = False
    description: str = ""
    last_used_at: _dt.datetime | None = None
    # PAT: the most recent distinct client addresses (GitLab keeps five).
    last_used_ips: list[str] = field(default_factory=list)
    # Fine-grained PAT: ``scopes`` is ("granular",) and ``permissions`` says
    # what it may do (a small subset of GitLab's permission names:
    # ``code_download``, ``code_push``, ``read_personal_access_token``,
    # ``rotate_personal_access_token``, ``revoke_personal_access_token``).
    granular: bool = False
    permissions: frozenset[str] = frozenset()

    def expiry_instant(self) -> _dt.datetime | None:
        """The moment this token stops working, or None when it never expires."""
        if self.kind == OAUTH:
            if self.expires_in is None:
                return None
            return self.created_at + _dt.timedelta(seconds=self.expires_in)
        exp = self.expires_at
        if exp is None:
            return None
        if isinstance(exp, _dt.datetime):
            return exp if exp.tzinfo else exp.replace(tzinfo=_dt.timezone.utc)
        # A date D means "valid through D-1": expired from 00:00 UTC on D.
        return _dt.datetime.combine(exp, _dt.time(0, 0), tzinfo=_dt.timezone.utc)


# Package types (Packages::Package.package_types) the fake's registries serve.
PACKAGE_TYPES = ("pypi", "npm", "generic", "golang", "terraform_module", "maven", "nuget", "conan",
                 "composer", "helm", "debian", "rubygems")


@dataclass(eq=False)
class PackageFile:
    """One file of a package: its bytes and the digests GitLab stores with it.

    ``sha256`` is what the PyPI index links to; for PyPI uploads it is the
    ``sha256_digest`` the client sent (GitLab stores it as given), else the
    digest of the bytes.
    """

    id: int
    file_name: str
    data: bytes = field(repr=False)
    sha256: str
    sha1: str
    md5: str
    created_at: _dt.datetime
    package: "Package | None" = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(eq=False)
class Package:
    """A package version in a project's registry (GitLab's Packages::Package).

    ``metadata`` holds type-specific facts: ``requires_python`` (PyPI),
    ``package_json`` (npm), ...  ``tags`` are npm dist-tags on this version.
    """

    id: int
    project: str  # project path
    package_type: str
    name: str
    version: str
    created_at: _dt.datetime
    files: list[PackageFile] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReuseDetection:
    """One firing of reuse detection: the revoked PAT that was presented to a
    rotate route, and the ids of the tokens revoked because of it."""

    token_id: int
    revoked_ids: tuple[int, ...]
    at: _dt.datetime


@dataclass(eq=False)
class OAuthApplication:
    """An OAuth application (Doorkeeper): ``uid`` is the client_id."""

    id: int
    name: str
    uid: str
    secret: str = field(repr=False)
    # A non-confidential application may identify itself with its client_id
    # alone (no client_secret), as native apps and helpers do.
    confidential: bool = False
    # One or more URIs, whitespace-separated (GitLab's "Redirect URI" box, one per line).
    # A loopback IP URI matches any port (RFC 8252 section 7.3, Doorkeeper's URIChecker).
    redirect_uri: str = "http://127.0.0.1/callback"
    # What the application may ask for (GitLab's scope checkboxes).
    scopes: tuple[str, ...] = ("api", "read_api", "read_user", "read_repository", "write_repository",
                               "read_registry", "write_registry", "openid", "profile", "email")
    # Answers POST /oauth/authorize_device (else unauthorized_client).
    device_flow: bool = True


class GitLabState:
    """The whole fake instance.  Thread-safe: every method takes ``self.lock``."""

    def __init__(self, repo_root: str | os.PathLike, git: str = "git"):
        self.repo_root = Path(repo_root)
        self.repo_root.mkdir(parents=True, exist_ok=True)
        self.git = git
        self.lock = threading.RLock()
        self._clock: Callable[[], _dt.datetime] = _utcnow
        self._offset = _dt.timedelta(0)
        self._ids: dict[str, int] = {}
        self.users: dict[str, User] = {}  # lower-case username -> User
        self.groups: dict[str, Group] = {}  # lower-case path -> Group
        self.projects: dict[str, Project] = {}  # lower-case path -> Project
        self.tokens: dict[tuple[str, int], Token] = {}  # (kind, id) -> Token
        self._by_secret: dict[str, Token] = {}
        # Instance setting "Allow password authentication for Git over HTTP(S)".
        self.password_authentication_enabled_for_git = True
        self.pat_prefix = "glpat-"
        # "Require personal access token expiry" (on, as on gitlab.com): a
        # rotation without expires_at gets one week, and expires_at may not
        # lie beyond today + max_token_lifetime_days.
        self.require_token_expiry = True
        self.max_token_lifetime_days = 365
        # Doorkeeper's access_token_expires_in.
        self.oauth_access_token_expires_in = 7200
        # False (GitLab's documented behaviour): a refresh revokes the old
        # access token and spends its refresh token at once.  True: Doorkeeper's
        # "refresh token revoked on use" mode, where the old pair stays valid
        # until the new access token is first used.
        self.oauth_refresh_revokes_on_use = False
        self.applications: dict[int, OAuthApplication] = {}
        self._by_refresh: dict[str, Token] = {}
        self.ssh_keys: dict[int, SSHKey] = {}  # id -> SSHKey
        self.packages: dict[int, Package] = {}  # id -> Package, oldest first
        # Every time reuse detection fired (a revoked PAT on a rotate route), oldest first.
        self.reuse_detections: list[ReuseDetection] = []
        # Application 1 exists from the start: create_oauth_token() uses it.
        self.add_oauth_application("Fake GitLab OAuth application")

    # --- clock ---------------------------------------------------------------

    def now(self) -> _dt.datetime:
        """Current time (aware, UTC) as the fake server sees it."""
        with self.lock:
            value = self._clock() + self._offset
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.astimezone(_dt.timezone.utc)

    def today(self) -> _dt.date:
        return self.now().date()

    def set_clock(self, clock: Callable[[], _dt.datetime] | None) -> None:
        """Replace the time source (None: back to the real clock, no offset)."""
        with self.lock:
            self._clock = clock or _utcnow
            self._offset = _dt.timedelta(0)

    def advance(self, seconds: float = 0, *, days: float = 0) -> _dt.datetime:
        """Move the server's clock forward; returns the new now()."""
        with self.lock:
            self._offset += _dt.timedelta(seconds=seconds, days=days)
        return self.now()

    # --- ids -------------------------------------------------------------------

    def _next_id(self, table: str) -> int:
        self._ids[table] = self._ids.get(table, 0) + 1
        return self._ids[table]

    # --- users and groups --------------------------------------------------------

    def add_user(self, username: str, *, password: str | None = None, admin: bool = False,
                 external: bool = False, bot: bool = False) -> User:
        with self.lock:
            key = username.lower()
            if key in self.users:
                raise ValueError(f"user {username!r} exists")
            user = User(self._next_id("users"), username, password=password, admin=admin,
                        external=external, bot=bot)
            self.users[key] = user
            return user

    def user(self, username: str) -> User:
        with self.lock:
            try:
                return self.users[username.lower()]
            except KeyError:
                raise KeyError(f"no user {username!r}") from None

    def find_user(self, username: str | None) -> User | None:
        if not username:
            return None
        with self.lock:
            return self.users.get(username.lower())

    def _ensure_user(self, username: str) -> User:
        return self.find_user(username) or self.add_user(username)

    def block_user(self, username: str, blocked: bool = True) -> None:
        with self.lock:
            self.user(username).blocked = blocked

    # --- SSH keys and DPoP ----------------------------------------------------------

    def add_ssh_key(self, user: str, public_key: str, usage: str = "auth_and_signing",
                    title: str | None = None) -> SSHKey:
        """Register an SSH public key (an OpenSSH ``TYPE BASE64 [COMMENT]`` line) for *user*.

        *usage* is GitLab's usage type: ``auth_and_signing`` (default), ``auth``
        or ``signing``.  Like GitLab, a key (same fingerprint) can be
        registered only once on the whole instance: ValueError otherwise.
        """
        if usage not in SSH_KEY_USAGES:
            raise ValueError(f"usage must be one of {SSH_KEY_USAGES}")
        key_type, blob, comment = _parse_ssh_public_key(public_key)
        fingerprint = ssh_fingerprint(blob)
        with self.lock:
            owner = self.user(user)
            if any(k.fingerprint == fingerprint for k in self.ssh_keys.values()):
                raise ValueError("Fingerprint sha256 has already been taken")
            key_id = self._next_id("keys")
            key = SSHKey(key_id, owner.username, public_key.strip(), key_type, fingerprint, usage,
                         title if title is not None else (comment or f"key {key_id}"), self.now(),
                         blob)
            self.ssh_keys[key_id] = key
            return key

    def user_ssh_keys(self, user: str) -> list[SSHKey]:
        """*user*'s SSH keys, oldest first."""
        with self.lock:
            name = self.user(user).username
            return [k for _, k in sorted(self.ssh_keys.items()) if k.user == name]

    def find_ssh_key(self, fingerprint: str) -> SSHKey | None:
        """The key with this ``SHA256:...`` fingerprint (any user), or None."""
        with self.lock:
            for key in self.ssh_keys.values():
                if key.fingerprint == fingerprint:
                    return key
            return None

    def remove_ssh_key(self, key: SSHKey | int) -> None:
        with self.lock:
            self.ssh_keys.pop(key.id if isinstance(key, SSHKey) else key, None)

    def signing_key(self, user: User | str, fingerprint_sha256: str) -> SSHKey | None:
        """``user.keys.signing.find_by_fingerprint_sha256``: *fingerprint_sha256*
        is compared, case-sensitively, with the fingerprint without its ``SHA256:``."""
        name = user.username if isinstance(user, User) else user
        with self.lock:
            for key in self.ssh_keys.values():
                if (key.user.lower() == name.lower() and key.for_signing
                        and key.fingerprint_sha256 == fingerprint_sha256):
                    return key
            return None

    def enable_dpop(self, user: str, enabled: bool = True) -> None:
        """The user preference "Enable DPoP" (off by default)."""
        with self.lock:
            self.user(user).dpop_enabled = bool(enabled)

    def add_group(self, path: str, members: Mapping[str, str | int] | None = None) -> Group:
        """Create a group (and any missing parent groups)."""
        path = _check_path(path)
        with self.lock:
            parts = path.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent.lower() not in self.groups:
                    self.groups[parent.lower()] = Group(self._next_id("namespaces"), parent)
            group = self.groups.get(path.lower())
            if group is None:
                if path.lower() in self.projects:
                    raise ValueError(f"{path!r} is a project")
                group = Group(self._next_id("namespaces"), path)
                self.groups[path.lower()] = group
            for name, level in (members or {}).items():
                group.members[self._ensure_user(name).username] = _level(level)
            return group

    def find_group(self, path: str) -> Group | None:
        with self.lock:
            return self.groups.get(path.strip("/").lower())

    # --- projects ------------------------------------------------------------------

    def add_project(self, path: str, visibility: str = "private",
                    members: Mapping[str, str | int] | None = None,
                    *, files: Mapping[str, str | bytes] | None = None) -> Project:
        """Create a project with a real bare repository holding one commit on ``main``.

        Members that do not exist yet are created as users.  Parent groups are
        created too (a GitLab project always lives in a namespace).
        """
        path = _check_path(path)
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}")
        if "/" not in path:
            raise ValueError("a project path needs a namespace, e.g. 'group/project'")
        with self.lock:
            if path.lower() in self.projects or path.lower() in self.groups:
                raise ValueError(f"{path!r} exists")
            self.add_group(path.rsplit("/", 1)[0])
            project = Project(self._next_id("projects"), path, visibility,
                              self.repo_root / f"{path}.git")
            for name, level in (members or {}).items():
                project.members[self._ensure_user(name).username] = _level(level)
            self.projects[path.lower()] = project
        # Creating the repository runs git: done outside the lock so requests
        # for other projects are not held up.
        try:
            self._init_repo(project, files or {"README.md": f"# {project.name}\n"})
        except BaseException:
            with self.lock:
                self.projects.pop(path.lower(), None)
            raise
        return project

    def find_project(self, path: str) -> Project | None:
        """Look a project up by path, case-insensitively as GitLab does."""
        with self.lock:
            return self.projects.get(path.strip("/").lower())

    def project(self, path: str) -> Project:
        found = self.find_project(path)
        if found is None:
            raise KeyError(f"no project {path!r}")
        return found

    def project_by_id(self, project_id: int) -> Project | None:
        with self.lock:
            for project in self.projects.values():
                if project.id == project_id:
                    return project
            return None

    def group_by_id(self, group_id: int) -> Group | None:
        with self.lock:
            for group in self.groups.values():
                if group.id == group_id:
                    return group
            return None

    def add_member(self, project_or_group: str, username: str, level: str | int) -> None:
        with self.lock:
            target = self.find_project(project_or_group) or self.find_group(project_or_group)
            if target is None:
                raise KeyError(f"no project or group {project_or_group!r}")
            target.members[self._ensure_user(username).username] = _level(level)

    def allow_job_token_access(self, target_project: str, source_project: str) -> None:
        """Add *source_project* to *target_project*'s job token inbound allowlist."""
        with self.lock:
            self.project(target_project).job_token_allowlist.add(self.project(source_project).path.lower())

    def _git(self, *args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.repo_root), **_GIT_ENV}
        done = subprocess.run([self.git, *args], cwd=cwd, env=env, input=input,
                              capture_output=True, check=True)
        return done.stdout.decode().strip()

    def _init_repo(self, project: Project, files: Mapping[str, str | bytes]) -> None:
        repo = project.repo_path
        repo.parent.mkdir(parents=True, exist_ok=True)
        self._git("init", "--quiet", "--bare", "--initial-branch=main", str(repo))
        gd = f"--git-dir={repo}"
        # Build the first commit with plumbing: no working tree needed.
        entries = []
        for name, content in sorted(files.items()):
            if "/" in name:
                raise ValueError("initial files must be top-level")
            data = content.encode() if isinstance(content, str) else content
            blob = self._git(gd, "hash-object", "-w", "--stdin", input=data)
            entries.append(f"100644 blob {blob}\t{name}\n")
        tree = self._git(gd, "mktree", input="".join(entries).encode())
        commit = self._git(gd, "commit-tree", tree, "-m", "Initial commit")
        self._git(gd, "update-ref", "refs/heads/main", commit)

    # --- packages ------------------------------------------------------------------

    def add_package_file(self, project: str | Project, package_type: str, name: str, version: str,
                         filename: str, data: bytes, *, sha256: str | None = None,
                         metadata: Mapping | None = None) -> PackageFile:
        """Store *data* as *filename* in package *name* *version* of *project*.

        The package is created on first use (GitLab's find_or_create_package!:
        same project, type, name and version).  *metadata* is merged into the
        package's (e.g. ``{"requires_python": ">=3.8"}``).  Returns the file;
        ``file.package`` is its package.
        """
        if package_type not in PACKAGE_TYPES:
            raise ValueError(f"unknown package type {package_type!r}")
        if not name or not version or not filename:
            raise ValueError("name, version and filename are required")
        data = bytes(data)
        with self.lock:
            proj = project if isinstance(project, Project) else self.project(project)
            package = self.find_package(proj, package_type, name, version)
            if package is None:
                package = Package(self._next_id("packages"), proj.path, package_type, name, version, self.now())
                self.packages[package.id] = package
            if metadata:
                package.metadata.update(metadata)
            digest = (sha256 or hashlib.sha256(data).hexdigest()).lower()
            file = PackageFile(self._next_id("package_files"), filename, data, digest,
                               hashlib.sha1(data).hexdigest(), hashlib.md5(data).hexdigest(),
                               self.now(), package)
            package.files.append(file)
            return file

    def find_package(self, project: str | Project, package_type: str, name: str,
                     version: str) -> Package | None:
        """The package with exactly this name and version in *project*, or None."""
        with self.lock:
            path = (project.path if isinstance(project, Project) else project).lower()
            for package in self.packages.values():
                if (package.project.lower() == path and package.package_type == package_type
                        and package.name == name and package.version == version):
                    return package
            return None

    def project_packages(self, project: str | Project, package_type: str | None = None,
                         name: str | None = None) -> list[Package]:
        """Packages of *project* (optionally of one type and name), oldest first."""
        with self.lock:
            path = (project.path if isinstance(project, Project) else project).lower()
            return [p for p in self.packages.values()
                    if p.project.lower() == path
                    and (package_type is None or p.package_type == package_type)
                    and (name is None or p.name == name)]

    def tag_package(self, package: Package, tag: str) -> None:
        """Point the npm dist-tag *tag* at *package* (moving it from any other version)."""
        with self.lock:
            for other in self.project_packages(package.project, package.package_type, package.name):
                if tag in other.tags:
                    other.tags.remove(tag)
            package.tags.append(tag)

    def delete_package(self, package: Package) -> None:
        with self.lock:
            self.packages.pop(package.id, None)

    # --- permissions (facts only; auth.py applies GitLab's rules) ----------------

    def access_level(self, user: User | str | None, project: Project) -> int:
        """The user's effective access level: project membership or any ancestor group's."""
        if user is None:
            return 0
        name = user.username if isinstance(user, User) else user
        with self.lock:
            levels = [project.members.get(name, 0)]
            parts = project.path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                group = self.groups.get("/".join(parts[:i]).lower())
                if group is not None:
                    levels.append(group.members.get(name, 0))
            return max(levels)

    # --- tokens --------------------------------------------------------------------

    def _register(self, token: Token) -> Token:
        self.tokens[(token.kind, token.id)] = token
        self._by_secret[token.token] = token
        if token.refresh_token:
            self._by_refresh[token.refresh_token] = token
        return token

    def create_pat(self, user: str, scopes: Iterable[str] = ("api",), expires_at: _dt.date | None = None,
                   name: str = "token", *, routable: bool | None = None,
                   previous_token_id: int | None = None, description: str = "",
                   granular: bool = False, permissions: Iterable[str] = ()) -> Token:
        """A personal access token for an existing user.

        *granular*: a fine-grained PAT.  Its scopes are ``("granular",)``
        whatever *scopes* says, and *permissions* is what it may do (see
        ``Token.permissions``); git needs ``code_download`` / ``code_push``.
        """
        if not granular and permissions:
            raise ValueError("only fine-grained (granular) tokens have permissions")
        with self.lock:
            owner = self.user(user)
            token = Token(self._next_id(PAT), PAT, new_pat_secret(self.pat_prefix, routable), name,
                          ("granular",) if granular else tuple(scopes), self.now(), expires_at=expires_at,
                          previous_token_id=previous_token_id, user=owner.username,
                          description=description, granular=granular,
                          permissions=frozenset(permissions))
            return self._register(token)

    def _create_bot_token(self, target: Project | Group, scopes: Iterable[str], level: str | int,
                          expires_at: _dt.date | None, name: str) -> Token:
        kind = "project" if isinstance(target, Project) else "group"
        with self.lock:
            bot_name = f"{kind}_{target.id}_bot_{secrets.token_hex(4)}"
            self.add_user(bot_name, bot=True)
            target.members[bot_name] = _level(level)
            return self.create_pat(bot_name, scopes, expires_at, name)

    def create_project_access_token(self, project: str, scopes: Iterable[str] = ("api",),
                                    access_level: str | int = "maintainer",
                                    expires_at: _dt.date | None = None, name: str = "token") -> Token:
        """A project access token: a PAT owned by a new bot user that is a project member."""
        return self._create_bot_token(self.project(project), scopes, access_level, expires_at, name)

    def create_group_access_token(self, group: str, scopes: Iterable[str] = ("api",),
                                  access_level: str | int = "maintainer",
                                  expires_at: _dt.date | None = None, name: str = "token") -> Token:
        found = self.find_group(group)
        if found is None:
            raise KeyError(f"no group {group!r}")
        return self._create_bot_token(found, scopes, access_level, expires_at, name)

    def create_deploy_token(self, project_or_group: str, scopes: Iterable[str] = ("read_repository",),
                            username: str | None = None,
                            expires_at: _dt.date | _dt.datetime | None = None,
                            name: str = "deploy token") -> Token:
        """A deploy token for a project, or for a group (reaching every project below it)."""
        with self.lock:
            project = self.find_project(project_or_group)
            group = None if project else self.find_group(project_or_group)
            if project is None and group is None:
                raise KeyError(f"no project or group {project_or_group!r}")
            token_id = self._next_id(DEPLOY)
            token = Token(token_id, DEPLOY, _new_deploy_secret(), name, tuple(scopes), self.now(),
                          expires_at=expires_at,
                          username=username or f"gitlab+deploy-token-{token_id}",
                          project=project.path if project else None,
                          group=group.path if group else None)
            return self._register(token)

    def create_oauth_token(self, user: str, scopes: Iterable[str] = ("api",), expires_in: int | None = 7200,
                           *, application_id: int | None = 1, previous_token_id: int | None = None) -> Token:
        """An OAuth2 access token (Doorkeeper): opaque, lives *expires_in* seconds."""
        with self.lock:
            owner = self.user(user)
            token = Token(self._next_id(OAUTH), OAUTH, _new_oauth_secret(), "oauth", tuple(scopes),
                          self.now(), expires_in=expires_in, refresh_token=_new_oauth_secret(),
                          application_id=application_id, user=owner.username,
                          previous_token_id=previous_token_id)
            return self._register(token)

    def create_job_token(self, user: str, project: str) -> Token:
        """A CI job token for a running job of *project*, triggered by *user*."""
        with self.lock:
            owner = self.user(user)
            proj = self.project(project)
            token = Token(self._next_id(JOB), JOB, _new_job_secret(), "job", (), self.now(),
                          user=owner.username, project=proj.path)
            return self._register(token)

    def _resolve(self, token: Token | str) -> Token:
        if isinstance(token, Token):
            return token
        with self.lock:
            found = self._by_secret.get(token)
        if found is None:
            raise KeyError("unknown token")  # never echo the secret
        return found

    def finish_job(self, token: Token | str) -> None:
        """End the job: its token stops working."""
        with self.lock:
            found = self._resolve(token)
            if found.kind != JOB:
                raise ValueError("not a job token")
            found.finished = True

    def revoke(self, token: Token | str) -> None:
        with self.lock:
            self._resolve(token).revoked = True

    def forget(self, token: Token | str) -> None:
        """Delete *token* from the server: from now on it is unknown (not revoked)."""
        with self.lock:
            found = self._resolve(token)
            self.tokens.pop((found.kind, found.id), None)
            self._by_secret.pop(found.token, None)
            if found.refresh_token:
                self._by_refresh.pop(found.refresh_token, None)

    def token_by_id(self, kind: str, token_id: int) -> Token | None:
        with self.lock:
            return self.tokens.get((kind, token_id))

    def find_token(self, secret: str | None, kind: str | None = None) -> Token | None:
        """The token with this secret, active or not (None if unknown)."""
        if not secret:
            return None
        with self.lock:
            found = self._by_secret.get(secret)
        if found is None or (kind is not None and found.kind != kind):
            return None
        return found

    def is_expired(self, token: Token) -> bool:
        instant = token.expiry_instant()
        return instant is not None and self.now() >= instant

    def is_active(self, token: Token) -> bool:
        """Not revoked, not expired, and (job tokens) the job still runs."""
        with self.lock:
            if token.revoked or self.is_expired(token):
                return False
            if token.kind == JOB and token.finished:
                return False
            return True

    def find_active_token(self, secret: str | None, kind: str) -> Token | None:
        """Like GitLab's finders: expired or revoked tokens are simply not found."""
        found = self.find_token(secret, kind)
        if found is None or not self.is_active(found):
            return None
        return found

    def touch(self, token: Token, ip: str | None = None) -> None:
        """Record a use of *token* (last_used_at, and the client address)."""
        with self.lock:
            token.last_used_at = self.now()
            if ip:
                if ip in token.last_used_ips:
                    token.last_used_ips.remove(ip)
                token.last_used_ips.append(ip)
                del token.last_used_ips[:-5]

    def user_id(self, token: Token) -> int | None:
        user = self.find_user(token.user)
        return user.id if user else None

    # --- token families (rotation) --------------------------------------------------

    def descendants(self, token: Token | str) -> list[Token]:
        """Tokens rotated from *token*, directly or transitively (oldest first)."""
        with self.lock:
            root = self._resolve(token)
            children: dict[int, list[Token]] = {}
            for (kind, _), candidate in sorted(self.tokens.items()):
                if kind == root.kind and candidate.previous_token_id is not None:
                    children.setdefault(candidate.previous_token_id, []).append(candidate)
            out: list[Token] = []
            queue = [root.id]
            while queue:
                for child in children.get(queue.pop(0), []):
                    out.append(child)
                    queue.append(child.id)
            return out

    def revoke_token_family(self, token: Token | str) -> list[Token]:
        """GitLab's reuse detection: revoke every active descendant of *token*.

        Returns the tokens this call revoked.  Every call is recorded in
        ``reuse_detections`` (even one that found nothing left to revoke).
        """
        with self.lock:
            reused = self._resolve(token)
            revoked = []
            for descendant in self.descendants(reused):
                if self.is_active(descendant):
                    descendant.revoked = True
                    revoked.append(descendant)
            self.reuse_detections.append(ReuseDetection(reused.id, tuple(t.id for t in revoked), self.now()))
            return revoked

    def family_root(self, token: Token | str) -> Token:
        """The oldest token still known on the server that *token* was rotated from."""
        with self.lock:
            root = self._resolve(token)
            seen = {root.id}
            while root.previous_token_id is not None:
                parent = self.tokens.get((root.kind, root.previous_token_id))
                if parent is None or parent.id in seen:
                    break
                seen.add(parent.id)
                root = parent
            return root

    def family(self, token: Token | str) -> list[Token]:
        """Every token of *token*'s family (the chain of
        previous_personal_access_token_id links), oldest first."""
        with self.lock:
            root = self.family_root(token)
            return sorted([root, *self.descendants(root)], key=lambda t: t.id)

    def active_tokens_of_family(self, token: Token | str) -> list[Token]:
        """The family's tokens that still work (normally at most one), oldest first."""
        with self.lock:
            return [t for t in self.family(token) if self.is_active(t)]

    def rotation_count(self, token: Token | str) -> int:
        """How many rotations committed in *token*'s family (any route): each
        one added exactly one member."""
        with self.lock:
            return len(self.family(token)) - 1

    def reuse_detections_of_family(self, token: Token | str) -> list["ReuseDetection"]:
        """The reuse detections triggered by a token of *token*'s family."""
        with self.lock:
            ids = {t.id for t in self.family(token)}
            return [d for d in self.reuse_detections if d.token_id in ids]

    def rotate_pat(self, token: Token | str, expires_at: _dt.date | None) -> Token:
        """Revoke *token* and create its successor, atomically (no validation).

        The successor keeps the name, description, scopes and owner and
        points back to *token* (GitLab's previous_personal_access_token_id).
        """
        with self.lock:
            old = self._resolve(token)
            if old.kind != PAT:
                raise ValueError("only personal access tokens rotate")
            assert old.user is not None  # a PAT has an owner
            old.revoked = True
            new = self.create_pat(old.user, old.scopes, expires_at, old.name,
                                  previous_token_id=old.id, description=old.description,
                                  granular=old.granular, permissions=old.permissions)
            return new

    # --- OAuth applications and refresh tokens ------------------------------------------

    def add_oauth_application(self, name: str = "application", *, uid: str | None = None,
                              secret: str | None = None, confidential: bool = False,
                              redirect_uri: str | None = None, scopes: Iterable[str] | None = None,
                              device_flow: bool = True) -> OAuthApplication:
        with self.lock:
            app = OAuthApplication(self._next_id("oauth_applications"), name,
                                   uid or secrets.token_hex(32), secret or ("gloas-" + secrets.token_hex(32)),
                                   confidential=confidential, device_flow=device_flow)
            if redirect_uri is not None:
                app.redirect_uri = redirect_uri
            if scopes is not None:
                app.scopes = tuple(scopes)
            self.applications[app.id] = app
            return app

    def oauth_application(self, app_id: int | None) -> OAuthApplication | None:
        with self.lock:
            return self.applications.get(app_id) if app_id is not None else None

    def application_by_uid_and_secret(self, uid: str | None, secret: str | None
                                      ) -> OAuthApplication | None:
        """Doorkeeper's Application.by_uid_and_secret: a public application by its uid alone,
        a confidential one only with its secret."""
        app = self.find_oauth_application(uid)
        if app is None:
            return None
        if not secret and not app.confidential:
            return app
        return app if secret and secret == app.secret else None

    def find_oauth_application(self, uid: str | None) -> OAuthApplication | None:
        if not uid:
            return None
        with self.lock:
            for app in self.applications.values():
                if app.uid == uid:
                    return app
            return None

    def application_uid(self, token: Token | str) -> str | None:
        """The client_id of the application an OAuth token was issued to."""
        with self.lock:
            app = self.oauth_application(self._resolve(token).application_id)
            return app.uid if app else None

    def find_by_refresh_token(self, refresh_token: str | None) -> Token | None:
        """The OAuth token record holding *refresh_token* (revoked or not)."""
        if not refresh_token:
            return None
        with self.lock:
            return self._by_refresh.get(refresh_token)

    def refresh_oauth(self, token: Token | str, scopes: Iterable[str] | None = None) -> Token:
        """Doorkeeper's refresh: a new access token and refresh token (no validation).

        The old record is revoked at once, or (``oauth_refresh_revokes_on_use``)
        when the new access token is first used.
        """
        with self.lock:
            old = self._resolve(token)
            if old.kind != OAUTH:
                raise ValueError("not an OAuth token")
            assert old.user is not None  # an OAuth token has an owner
            new = self.create_oauth_token(old.user, old.scopes if scopes is None else scopes,
                                          self.oauth_access_token_expires_in,
                                          application_id=old.application_id, previous_token_id=old.id)
            if self.oauth_refresh_revokes_on_use:
                new.revoke_previous_on_use = True
            else:
                old.revoked = True
            return new

    def oauth_token_used(self, token: Token) -> None:
        """Doorkeeper's revoke_previous_refresh_token!: called when *token* authenticates."""
        with self.lock:
            if token.revoke_previous_on_use and token.previous_token_id is not None:
                previous = self.tokens.get((OAUTH, token.previous_token_id))
                if previous is not None:
                    previous.revoked = True
            token.revoke_previous_on_use = False

    def snapshot(self, token: Token) -> Token:
        """A copy safe to read without the lock."""
        with self.lock:
            return dataclasses.replace(token, last_used_ips=list(token.last_used_ips))
