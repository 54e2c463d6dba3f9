"""What container-registry clients ask (docker, podman, skopeo through docker's protocol): a
credential for a registry, ``docker logout``, and the list of registries served.

A registry host is not the GitLab host that owns the tokens
(docs/gitlab.md#container-registry); ``rules.container_registries`` maps one to the other, and
a conventional name is served only once ``lifecycle.registry_proof`` says the registry is that
host's.  The CI job's registry is answered by the job's own records (stores/ci_env.py).
"""

from __future__ import annotations

from credhelper.errors import CredhelperError
from credhelper.rules import container_registries, resolver
from credhelper.rules.model import ADDED, CI_ENV, DOCKER_STORE, REGISTRY, Answer, Request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.local.trust import Trust
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service

PROVEN = "proven: its /v2/ names %s's token service"


def lookup_registry(service: Service, request: Request) -> Answer | None:
    """What ``docker login`` stored for the registry, else the token of the GitLab host it
    belongs to (with the same lifecycle as git's)."""
    records = service.records()       # read once for both hosts: this is docker's hot path
    answer = service.lookup(request, records, explain=False)
    if answer is not None:
        return answer
    owner = registry_owner(service, request, records)
    if owner is None or owner == request.host:
        return None
    return service.lookup(Request(request.protocol, owner, service=REGISTRY,
                                  operation=request.operation, registry=request.host), records)


def registry_owner(service: Service, request: Request, records: list[TokenRecord],
                   quiet: bool = False) -> str | None:
    """The GitLab host whose tokens serve the registry ``request`` names, or None: a
    conventional name only over https, for a registry that has proven it is that host's."""
    owned = container_registries.owner_for(request.host, records, service.config)
    if owned is None:
        return None
    owner, why = owned
    if why == container_registries.PROOF_NEEDED and not _proven(
            service, request.protocol, request.host, owner, records, quiet):
        return None
    return owner


def _proven(service: Service, protocol: str, registry: str, owner: str,
            records: list[TokenRecord], quiet: bool, read: dict[str, Any] | None = None
            ) -> bool:
    if protocol != "https":
        return False           # plain http: never by convention, proof or not
    from credhelper.lifecycle import registry_proof

    return registry_proof.proven(registry, owner, lambda: _owner_trust(service, owner, records),
                                 service.clock(), None if quiet else service.warn, read)


def _owner_trust(service: Service, owner: str, records: list[TokenRecord]) -> Trust:
    """The CAs the owner's API calls trust (lifecycle/clients.py): its registry is the same
    self-managed instance, so what reaches one reaches the other."""
    from credhelper.lifecycle.clients import trust_of
    from credhelper.local.trust import Trust

    mine = [r for r in records if r.host == owner and r.origin == ADDED]
    mine.sort(key=lambda r: "ca_file" not in r.extra)        # one added with --ca-file first
    if mine:
        return trust_of(mine[0], service.settings)
    config = service.config()
    return Trust(owner, config.path, ca_file=config.host(owner).ca_file)


def forget_registry(service: Service, request: Request) -> int:
    """``docker logout``: forget what docker stored.  A token the user registered is only
    removed by `credhelper remove`: raise so docker tells the user, never drop it silently.
    Returns the number of credentials forgotten."""
    forgotten = service.forget_stored(request, DOCKER_STORE)
    if forgotten:
        return forgotten
    records = service.records()
    owner = registry_owner(service, request, records, quiet=True)
    managed = [r for r in records if r.host == owner and r.origin == ADDED]
    if owner is not None and managed:
        from credhelper.local import audit

        audit.record_event("logout-refused", managed[0], registry=request.host)
        raise CredhelperError(
            "credhelper manages the token for %s (it belongs to %s); it was not removed. "
            "To stop serving it: credhelper remove %s" % (request.host, owner, owner))
    return 0


def served_registries(service: Service) -> dict[str, tuple[str, str]]:
    """{registry: (username, why)} for everything ``get`` would answer."""
    records = service.records()
    by_host: dict[str, list[TokenRecord]] = {}     # each registry looks at its host's only
    for record in records:
        by_host.setdefault(record.host, []).append(record)
    listing = _mapped(service, records, by_host)
    for host in sorted({r.host for r in records if r.origin == CI_ENV and r.registry == r.host}):
        found = resolver.candidates(by_host[host], Request("https", host, service=REGISTRY),
                                    service.clock())
        if found:
            listing[host] = (found[0].login_name(), "the CI job's CI_REGISTRY")
    for record in records:
        if record.origin == DOCKER_STORE:
            listing[record.host] = (record.login_name(), "docker login")
    return listing


def _mapped(service: Service, records: list[TokenRecord],
            by_host: dict[str, list[TokenRecord]]) -> dict[str, tuple[str, str]]:
    """{registry: (username, why)} for the registries served with a GitLab host's token."""
    listing = {}
    read: dict[str, Any] = {}         # the proofs file, read once for every registry
    mapped = container_registries.served_registries(records, service.config())
    for registry, (owner, why) in mapped.items():
        mine = by_host.get(owner, [])
        if why == container_registries.PROOF_NEEDED:
            if not _proven(service, "https", registry, owner, mine, True, read):
                continue
            why = "%s, %s" % (why, PROVEN % owner)
        found = resolver.candidates(mine, Request("https", owner, service=REGISTRY,
                                                  registry=registry), service.clock())
        if found:
            listing[registry] = (found[0].login_name(), "%s (%s)" % (why, owner))
    return listing


def list_registries(service: Service) -> dict[str, str]:
    """{registry: username} for everything ``get`` would answer (docker's ``list``)."""
    return {registry: username for registry, (username, _) in served_registries(service).items()}
