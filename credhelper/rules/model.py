"""The records every layer shares.  Plain slotted classes, not dataclasses: importing
``dataclasses`` costs ~10 ms (it pulls in ``inspect``), which the ``get`` hot path cannot afford.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Token kinds.  "password" is a credential git obtained elsewhere and asked us to ``store``.
PAT = "pat"          # personal, project and group access tokens (glpat-)
DEPLOY = "deploy"    # deploy tokens (gldt-), with their own username
OAUTH = "oauth"      # OAuth2 access tokens
JOB = "job"          # CI job tokens (glcbt-), username gitlab-ci-token
PASSWORD = "password"
KINDS = (PAT, DEPLOY, OAUTH, JOB)
KIND_NAMES = {PAT: "access token", DEPLOY: "deploy token", OAUTH: "OAuth token",
              JOB: "job token", PASSWORD: "password"}

JOB_USERNAME = "gitlab-ci-token"
# PATs and OAuth tokens work with any username on current GitLab; older servers insist on
# "oauth2" for OAuth tokens, so that one name is right for both.
ANY_USERNAME_DEFAULT = "oauth2"

# Where a record came from.
ADDED = "added"        # registered by the user with `credhelper add`: never dropped silently
GIT_STORE = "git"      # handed to us by git's `store`; git's `erase` removes it
DOCKER_STORE = "docker"  # handed to us by `docker login`; `docker logout` removes it
CARGO_STORE = "cargo"    # `cargo login`; `cargo logout` removes it
TERRAFORM_STORE = "terraform"  # `terraform login`; `terraform logout` removes it
CI_ENV = "ci"          # synthesised from GitLab CI variables; never written anywhere

# What is known about whether the token still works.
OK = "ok"
NEEDS_CHECK = "needs-check"   # a client reported a rejection; re-validate before trusting it
EXPIRED = "expired"
REVOKED = "revoked"
UNKNOWN = "unknown"           # the server does not know the token (deleted, or another host)
LOST = "lost-in-rotation"     # rotated on the server, but the new token never reached us

# What a client wants a credential for; each needs its own scopes (resolver.SCOPES).
GIT = "git"
REGISTRY = "registry"
PACKAGES = "packages"   # package registries: PyPI, npm, Terraform, Go, Maven...


class TokenRecord:
    """One registered token: where it applies and what is known about it.  Never the secret.

    Treat instances as immutable; ``replace()`` returns a changed copy.
    """

    __slots__ = ("id", "host", "kind", "username", "path", "scopes", "expires_at", "registry",
                 "api_url", "store", "origin", "state", "added_at", "hint",
                 "token_id", "token_name", "user_id", "owner_name", "expires_utc", "created_utc",
                 "client_id",
                 "checked_at", "next_check_at", "backoff_until", "warned_at", "pending",
                 "config_mtime", "dpop_key", "default_account", "extra")

    id: str
    host: str
    kind: str
    username: str | None
    path: str | None
    scopes: list[str] | None
    expires_at: str | None
    registry: str | None
    api_url: str | None
    store: str
    origin: str
    state: str
    added_at: str | None
    hint: str | None
    token_id: int | None
    token_name: str | None
    user_id: int | None
    owner_name: str | None
    expires_utc: int | None
    created_utc: int | None
    client_id: str | None
    checked_at: int | None
    next_check_at: int | None
    backoff_until: int | None
    warned_at: int | None
    pending: dict[str, Any] | None
    config_mtime: float | None
    dpop_key: str | None
    default_account: bool | None
    extra: dict[str, Any]

    def __init__(self, id: str, host: str, kind: str, username: str | None = None,
                 path: str | None = None, scopes: list[str] | None = None,
                 expires_at: str | None = None, registry: str | None = None,
                 api_url: str | None = None, store: str = "file", origin: str = ADDED,
                 state: str = OK, added_at: str | None = None, hint: str | None = None,
                 token_id: int | None = None, token_name: str | None = None,
                 user_id: int | None = None, owner_name: str | None = None,
                 expires_utc: int | None = None, created_utc: int | None = None,
                 client_id: str | None = None, checked_at: int | None = None,
                 next_check_at: int | None = None, backoff_until: int | None = None,
                 warned_at: int | None = None, pending: dict[str, Any] | None = None,
                 config_mtime: float | None = None, dpop_key: str | None = None,
                 default_account: bool | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.id = id                    # local identifier, the key in the secret store
        self.host = host                # normalised "host" or "host:port"
        self.kind = kind
        self.username = username        # None: any username is accepted for this kind
        self.path = path                # None: the whole host; else "group" or "group/project"
        self.scopes = scopes            # None: unknown
        self.expires_at = expires_at    # "YYYY-MM-DD" (GitLab: invalid from 00:00 UTC that day)
        self.registry = registry        # container registry host served with this token
        self.api_url = api_url          # e.g. https://gitlab.example.com/api/v4
        self.store = store              # "keyring", "file" or "env"
        self.origin = origin
        self.state = state
        self.added_at = added_at
        self.hint = hint                # the redacted token, for listings
        # What the server told us (GET .../personal_access_tokens/self, /oauth/token/info):
        self.token_id = token_id        # the server's id of the token
        self.token_name = token_name
        self.user_id = user_id
        self.owner_name = owner_name    # the owner's username (GET /user), when it may be read
        self.expires_utc = expires_utc  # exact expiry in Unix seconds (OAuth tokens: 2 hours)
        self.created_utc = created_utc  # when the server made the token (PATs), Unix seconds
        self.client_id = client_id      # OAuth application id, to refresh with
        # Bookkeeping of the lifecycle (Unix seconds):
        self.checked_at = checked_at        # last answer from the server
        self.next_check_at = next_check_at  # when `get` asks the server again
        self.backoff_until = backoff_until  # after a failed call: not before this
        self.warned_at = warned_at          # last expiry warning (deploy tokens)
        self.pending = pending          # a rotation in flight: {"new_id", "started_at", ...}
        self.config_mtime = config_mtime    # the config file's mtime when the policy was applied
        self.dpop_key = dpop_key        # DPoP-bound: the SSH key that signs proofs (see sshkeys)
        # the host's default account: its owner's tokens answer a client that names no user
        self.default_account = default_account
        self.extra = extra or {}        # fields written by newer versions, kept as they are

    def replace(self, **changes: Any) -> TokenRecord:
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return TokenRecord(**fields)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.extra)
        for name in self.__slots__:
            value = getattr(self, name)
            if name != "extra" and value is not None:
                data[name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenRecord:
        known = {name: data[name] for name in cls.__slots__ if name in data and name != "extra"}
        extra = {key: value for key, value in data.items() if key not in cls.__slots__}
        return cls(extra=extra, **known)

    def slot(self) -> tuple[str, str, str | None, str | None, str | None]:
        """What this record answers for; a new record with the same slot replaces it.

        A token the user added is one per (host, path, kind, owner): two accounts on one host
        each keep theirs (issue 12).  A credential a client stored (git's ``store``, ``docker
        login``...) is one per (origin, host, path, username), whatever its kind: its kind is
        only a guess from its prefix, and a client storing a new password for the same login
        means to replace the old one.
        """
        if self.origin == ADDED:
            return (ADDED, self.host, self.path, self.kind, self.owner())
        return (self.origin, self.host, self.path, None, self.username)

    def owner(self) -> str | None:
        """Whose token this is: the server's user id when it told us (PATs, OAuth tokens;
        docs/gitlab.md#token-self-information), else the login name (a deploy token's own),
        else None (a PAT added unchecked: its owner is learnt at the first check)."""
        if self.user_id is not None:
            return "#%d" % self.user_id
        return self.username

    def login_name(self, requested: str | None = None) -> str:
        """The username to send: the one git asked about, else ours, else the kind's default."""
        if requested:
            return requested
        if self.username:
            return self.username
        if self.kind == JOB:
            return JOB_USERNAME
        return ANY_USERNAME_DEFAULT

    def __repr__(self) -> str:  # no secret lives here, but keep reprs short and useful
        return "TokenRecord(%s %s %s path=%s)" % (self.kind, self.host, self.hint, self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenRecord) and self.to_json() == other.to_json()


TOKEN_PREFIXES = (("glpat-", PAT), ("gldt-", DEPLOY), ("glcbt-", JOB))


def kind_from_prefix(secret: str) -> str | None:
    """The kind GitLab's prefix says a token is (docs/gitlab.md#token-kinds-and-prefixes),
    or None when it has none of them."""
    for prefix, kind in TOKEN_PREFIXES:
        if secret.startswith(prefix):
            return kind
    return None


class Request:
    """What a client asks for: a credential for this URL (and operation, when it knows it)."""

    __slots__ = ("protocol", "host", "path", "username", "operation", "service", "registry")

    protocol: str
    host: str
    path: str | None
    username: str | None
    operation: str | None
    service: str
    registry: str | None

    def __init__(self, protocol: str, host: str, path: str | None = None,
                 username: str | None = None, operation: str | None = None,
                 service: str = GIT, registry: str | None = None) -> None:
        self.protocol = protocol        # "https" or "http"
        self.host = host                # normalised, see hosts.normalise_host
        self.path = path                # "group/project.git" or None
        self.username = username        # set when the client already has one
        self.operation = operation      # "read", "write" or None (unknown: prefer write-capable)
        self.service = service          # GIT or REGISTRY
        self.registry = registry        # the registry asked about, when ``host`` owns it

    def __repr__(self) -> str:
        return "Request(%s %s://%s/%s user=%s op=%s)" % (
            self.service, self.protocol, self.host, self.path or "", self.username,
            self.operation)


class Answer:
    """A credential to hand to a client."""

    __slots__ = ("username", "secret", "expiry_utc", "record")

    username: str
    secret: str
    expiry_utc: int | None
    record: TokenRecord | None

    def __init__(self, username: str, secret: str, expiry_utc: int | None = None,
                 record: TokenRecord | None = None) -> None:
        self.username = username
        self.secret = secret
        self.expiry_utc = expiry_utc    # Unix seconds after which the secret is invalid
        self.record = record

    def __repr__(self) -> str:
        return "Answer(%s, <secret>)" % self.username
