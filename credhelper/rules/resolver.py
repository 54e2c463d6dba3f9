"""Which registered credential answers a request: pure functions, no I/O.

Rules, in order (each one a filter, then a ranking):
1. Transport: https only; plain http only for hosts the user allowed.
2. Host: equal to the normalised request host, port included.  Never a prefix or suffix match.
3. Username: when the client already has one, only credentials that log in under it (a deploy
   token's own name, ``gitlab-ci-token`` for job tokens; PATs and OAuth tokens accept any name
   unless the user pinned one).
4. Path: a record registered for ``group`` serves ``group/...`` (segment boundaries).  When the
   client sends no path (git's default), host-wide records come first, path-scoped ones after.
5. Still usable: not known to be expired or revoked.
6. Account: when the client names an account (``https://alice@host/``) that a token is known
   to belong to (its owner, learnt at `add`: accounts.learn_owner), other accounts' tokens drop
   out.
Ranking: a credential whose own username (or owner) is the one the client asked for, then the
most specific path, then (the client naming no user) the host's default account's tokens
(`credhelper add --default`; none set: the account added first), then ability to do the
operation, then what the user added over what git stored over what the CI job provides, then
kind.  Last, when the operation is unknown (git
does not say whether it fetches or pushes), a token known to be read-only goes after every
write-capable token of the same account, however specific its path: a push never fails with
a read-only token while a writable one exists.
"""

from __future__ import annotations

from credhelper.rules import freshness
from credhelper.rules.hosts import path_within
from credhelper.rules.model import (
    ADDED,
    CARGO_STORE,
    CI_ENV,
    DEPLOY,
    DOCKER_STORE,
    GIT,
    GIT_STORE,
    JOB,
    JOB_USERNAME,
    OAUTH,
    PACKAGES,
    PASSWORD,
    PAT,
    REGISTRY,
    TERRAFORM_STORE,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from credhelper.rules.model import Request, TokenRecord

# Per service: (scopes that let a token do anything there, scopes that let it write).
# docs/gitlab.md#git-over-http, and #container-registry for read_registry/write_registry/api.
SCOPES = {
    GIT: (frozenset({"api", "read_api", "read_repository", "write_repository"}),
          frozenset({"api", "write_repository"})),
    REGISTRY: (frozenset({"api", "read_registry", "write_registry"}),
               frozenset({"api", "write_registry"})),
    # package routes: read_api/api for PATs, *_package_registry for deploy tokens
    PACKAGES: (frozenset({"api", "read_api", "read_package_registry", "write_package_registry"}),
               frozenset({"api", "write_package_registry"})),
}

_ORIGIN_RANK = {ADDED: 2, GIT_STORE: 1, DOCKER_STORE: 1, CARGO_STORE: 1, TERRAFORM_STORE: 1,
                CI_ENV: 0}
_KIND_RANK = {PAT: 4, OAUTH: 3, DEPLOY: 2, JOB: 1, PASSWORD: 0}


def transport_allowed(protocol: str, allow_http: bool) -> bool:
    return protocol == "https" or (protocol == "http" and allow_http)


def accepts_username(record: TokenRecord, requested: str | None, service: str = GIT) -> bool:
    """Can ``record`` log in as ``requested`` (None: the client has no username yet)?

    Package routes ignore the Basic username (docs/gitlab.md#package-registries), so any name
    will do there.
    """
    if not requested or service == PACKAGES:
        return True
    if record.kind == JOB:
        return requested == JOB_USERNAME
    if record.kind in (PAT, OAUTH) and record.username is None:
        return True
    return record.username == requested


def _permissions_unknown(record: TokenRecord) -> bool:
    """No scopes recorded, or a fine-grained PAT, whose permissions its scopes do not show
    (it reports ``["granular"]``; docs/gitlab.md#changes-in-gitlab-2024-2026)."""
    return record.scopes is None or "granular" in record.scopes


def serves(record: TokenRecord, service: str) -> bool:
    """Could this token be of any use for the service?  (Unknown permissions: maybe.)"""
    if _permissions_unknown(record) or record.kind in (JOB, PASSWORD):
        return True
    return bool(SCOPES[service][0].intersection(record.scopes or ()))


def can_write(record: TokenRecord, service: str = GIT) -> bool | None:
    """True, False, or None when unknown (no scopes recorded)."""
    if record.kind == JOB:
        # a job token writes its own project's registries, never (by default) to git
        return None if service != GIT else False
    if _permissions_unknown(record):
        return None
    assert record.scopes is not None
    return bool(SCOPES[service][1].intersection(record.scopes))


def matching(records: Iterable[TokenRecord], request: Request, allow_http: bool = False
             ) -> list[TokenRecord]:
    """Records for this request's host, username and path, ignoring whether they still work."""
    if not transport_allowed(request.protocol, allow_http):
        return []
    return [r for r in records
            if r.host == request.host
            and accepts_username(r, request.username, request.service)
            and (request.path is None or path_within(request.path, r.path))
            and serves(r, request.service)]


def candidates(records: Iterable[TokenRecord], request: Request, now: float,
               allow_http: bool = False) -> list[TokenRecord]:
    """The records that may answer ``request``, best first."""
    usable = [r for r in matching(records, request, allow_http)
              if freshness.unusable_reason(r, now) is None]
    if request.operation == "write":
        usable = [r for r in usable if can_write(r, request.service) is not False]
    usable = _of_the_named_account(usable, request.username)
    if request.registry:
        # `add --registry R` binds R to that token, not to its host's other tokens
        usable = [r for r in usable if r.registry == request.registry] or usable
    default = _default_accounts(usable) if not request.username else set()
    # stable: ties keep the order they were added in
    usable.sort(key=lambda r: _rank(r, request, bool(r.default_account) or
                                    r.owner() in default), reverse=True)
    if request.operation is None:
        return _writable_first(usable, request.service)
    return usable


def _default_accounts(records: list[TokenRecord]) -> set[str]:
    """The owners whose tokens answer first when the client names no user."""
    return {owner for owner in (r.owner() for r in records if r.default_account) if owner}


def owned_by(record: TokenRecord, username: str | None) -> bool:
    """Is ``username`` this token's own login: its pinned name, a deploy token's, or its
    owner's as the server named it (GitLab usernames are case-insensitive)?"""
    own = record.username or record.owner_name
    return bool(username) and own is not None and own.lower() == (username or "").lower()


def _of_the_named_account(records: list[TokenRecord], username: str | None
                          ) -> list[TokenRecord]:
    """When the client names an account (``https://alice@host/``) that one of the tokens
    belongs to, never another account's token: tokens of other known owners drop out.  A
    name no token is known to own (``git@``, ``oauth2@``) changes nothing."""
    if not username or not any(owned_by(r, username) for r in records):
        return records
    return [r for r in records if owned_by(r, username) or r.owner() is None]


def _writable_first(ranked: list[TokenRecord], service: str) -> list[TokenRecord]:
    """The operation is unknown (git never says whether it fetches or pushes): a token known
    to be read-only goes after every write-capable token of the same account, however
    specific its path, or a push would fail beside a token that can do it (README, "Which
    token answers").  A deploy or job token belongs to no account, so to every account."""
    read_only = [r for r in ranked if can_write(r, service) is False]
    if not read_only:
        return ranked
    writers = [r for r in ranked if can_write(r, service)]
    outclassed = [r for r in read_only if any(_same_account(r, w) for w in writers)]
    kept = [r for r in ranked if all(r is not o for o in outclassed)]
    return kept + outclassed


def _same_account(one: TokenRecord, other: TokenRecord) -> bool:
    """Could these be one account's tokens?  Yes unless both are users' tokens whose owners
    the server named as different users."""
    owners = [r.user_id for r in (one, other) if r.kind in (PAT, OAUTH) and r.user_id is not None]
    return len(owners) < 2 or owners[0] == owners[1]


def _rank(record: TokenRecord, request: Request, default: bool
          ) -> tuple[bool, int, bool, int, int, int]:
    if request.path is None:
        specificity = 1 if record.path is None else 0
    else:
        specificity = 0 if record.path is None else record.path.count("/") + 1
    writable = can_write(record, request.service)
    capability = 0 if request.operation == "read" else {True: 2, None: 1, False: 0}[writable]
    exact_username = owned_by(record, request.username) or (
        bool(request.username) and record.login_name() == request.username)
    return (exact_username, specificity, default, capability,
            _ORIGIN_RANK.get(record.origin, 0), _KIND_RANK.get(record.kind, 0))
