"""What container-registry clients ask (docker, podman, skopeo through docker's protocol): a
credential for a registry, ``docker logout``, and the list of registries served.

A registry host is not the GitLab host that owns the tokens
(docs/gitlab.md#container-registry); ``rules.container_registries`` maps one to the other.
"""

from __future__ import annotations

from credhelper.errors import CredhelperError
from credhelper.rules import container_registries, resolver
from credhelper.rules.model import ADDED, DOCKER_STORE, REGISTRY, Answer, Request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.service import Service


def lookup_registry(service: Service, request: Request) -> Answer | None:
    """What ``docker login`` stored for the registry, else the token of the GitLab host it
    belongs to (with the same lifecycle as git's)."""
    records = service.records()       # read once for both hosts: this is docker's hot path
    answer = service.lookup(request, records, explain=False)
    if answer is not None:
        return answer
    owner = container_registries.gitlab_host_for(request.host, records, service.environ,
                                                 service.config)
    if owner is None or owner == request.host:
        return None
    return service.lookup(Request(request.protocol, owner, service=REGISTRY,
                                  operation=request.operation), records)


def forget_registry(service: Service, request: Request) -> int:
    """``docker logout``: forget what docker stored.  A token the user registered is only
    removed by `credhelper remove`: raise so docker tells the user, never drop it silently.
    Returns the number of credentials forgotten."""
    forgotten = service.forget_stored(request, DOCKER_STORE)
    if forgotten:
        return forgotten
    records = service.records()
    owner = container_registries.gitlab_host_for(request.host, records, service.environ,
                                                 service.config)
    managed = [r for r in records if r.host == owner and r.origin == ADDED]
    if owner is not None and managed:
        from credhelper.local import audit

        audit.record_event("logout-refused", managed[0], registry=request.host)
        raise CredhelperError(
            "credhelper manages the token for %s (it belongs to %s); it was not removed. "
            "To stop serving it: credhelper remove %s" % (request.host, owner, owner))
    return 0


def list_registries(service: Service) -> dict[str, str]:
    """{registry: username} for everything ``get`` would answer."""
    records = service.records()
    listing = {}
    served = container_registries.served_registries(records, service.environ, service.config())
    for registry, owner in served.items():
        found = resolver.candidates(records, Request("https", owner, service=REGISTRY),
                                    service.clock())
        if found:
            listing[registry] = found[0].login_name()
    for record in records:
        if record.origin == DOCKER_STORE:
            listing[record.host] = record.login_name()
    return listing
