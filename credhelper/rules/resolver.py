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
Ranking: a credential whose own username is the one the client asked for, then the most
specific path, then ability to do the operation (git does not say whether it
fetches or pushes, so when unknown a write-capable token beats one known to be read-only: a
push never fails with a read-only token while a writable one exists), then what the user added
over what git stored over what the CI job provides, then kind.
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
    usable.sort(key=lambda r: _rank(r, request), reverse=True)  # stable: ties keep add order
    return usable


def _rank(record: TokenRecord, request: Request) -> tuple[bool, int, int, int, int]:
    if request.path is None:
        specificity = 1 if record.path is None else 0
    else:
        specificity = 0 if record.path is None else record.path.count("/") + 1
    writable = can_write(record, request.service)
    capability = 0 if request.operation == "read" else {True: 2, None: 1, False: 0}[writable]
    exact_username = bool(request.username) and record.login_name() == request.username
    return (exact_username, specificity, capability, _ORIGIN_RANK.get(record.origin, 0),
            _KIND_RANK.get(record.kind, 0))
