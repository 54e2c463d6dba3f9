"""Container registries and the GitLab instances they belong to.

A registry host is not the GitLab host that owns the tokens (registry.gitlab.com belongs to
gitlab.com; a self-managed instance may use registry.example.com or gitlab.example.com:5050),
so `get` for a registry first finds its GitLab host.  In order:

1. a token registered with ``--registry REGISTRY`` (its own host);
2. the CI job's ``CI_REGISTRY`` (the job's server);
3. GitLab's own conventions for a known GitLab host H: ``registry.H`` and ``H:5050``, and
   registry.gitlab.com for gitlab.com;
4. ``registry = "..."`` in the config's ``[hosts."H"]`` table.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput
from credhelper.rules.hosts import normalise_host
from credhelper.rules.model import ADDED
from credhelper.stores import ci_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from credhelper.local.config import Config
    from credhelper.rules.model import TokenRecord

CONVENTIONS = {"registry.gitlab.com": "gitlab.com"}
REGISTRY_PORT = "5050"     # GitLab's default when the registry shares the GitLab host name


def parse_server_url(text: str) -> tuple[str, str]:
    """What docker passes (``host``, ``host:port``, ``https://host/v1/``...) -> (protocol, host),
    through the one strict URL parser (rules/urls.py): ambiguous URLs raise InvalidInput."""
    from credhelper.rules.urls import parse_url

    text = text.strip(" \t\r\n")
    protocol, userinfo, host, _ = parse_url(text if "://" in text else "https://" + text)
    if protocol not in ("https", "http"):
        raise InvalidInput("unsupported server URL scheme %r" % protocol[:20])
    if userinfo is not None:
        raise InvalidInput("a server URL with a user name is not supported")
    return protocol, host


def gitlab_host_for(registry: str, records: Iterable[TokenRecord], environ: Mapping[str, str],
                    config_loader: Callable[[], Config]) -> str | None:
    """The GitLab host whose tokens serve ``registry``, or None (the order is the module's)."""
    records = list(records)
    for record in records:
        if record.registry == registry and record.origin == ADDED:
            return record.host
    from_ci = _ci_owner(registry, environ)
    if from_ci is not None:
        return from_ci
    by_convention = _conventional_owner(registry, {r.host for r in records if r.origin == ADDED})
    if by_convention is not None:
        return by_convention
    for host, settings in config_loader().hosts.items():
        if settings.registry == registry:
            return host
    return None


def _conventional_owner(registry: str, known: set[str]) -> str | None:
    """The known GitLab host whose conventional registry name ``registry`` is."""
    if registry in CONVENTIONS and CONVENTIONS[registry] in known:
        return CONVENTIONS[registry]
    for host in sorted(known):
        if registry in conventional_registries(host):
            return host
    return None


def _ci_owner(registry: str, environ: Mapping[str, str]) -> str | None:
    """The CI job's server, when ``registry`` is the job's ``CI_REGISTRY``."""
    if not environ.get("CI_REGISTRY"):
        return None
    try:
        if normalise_host(environ["CI_REGISTRY"]) == registry:
            return ci_env.server_host(environ)
    except InvalidInput:
        pass
    return None


def conventional_registries(host: str) -> set[str]:
    """The registry hosts GitLab's defaults give an instance at ``host``."""
    name = host.split(":")[0] if not host.startswith("[") else host
    found = {"registry." + name, "%s:%s" % (name, REGISTRY_PORT)}
    found.update(r for r, owner in CONVENTIONS.items() if owner == host)
    return found


def served_registries(records: Iterable[TokenRecord], environ: Mapping[str, str],
                      config: Config) -> dict[str, str]:
    """{registry: gitlab host} for every registry credhelper can answer (for `list`, setup)."""
    found: dict[str, str] = {}
    for record in records:
        if record.origin == ADDED and record.registry:
            found.setdefault(record.registry, record.host)
    for host, settings in config.hosts.items():
        if settings.registry:
            found.setdefault(settings.registry, host)
    if environ.get("CI_REGISTRY") and ci_env.server_host(environ):
        try:
            registry = normalise_host(environ["CI_REGISTRY"])
            owner = ci_env.server_host(environ)
            assert owner is not None     # the same environ gave a host just above
            found.setdefault(registry, owner)
        except InvalidInput:
            pass
    return found
