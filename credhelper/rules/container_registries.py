"""Container registries and the GitLab instances they belong to.

A registry host is not the GitLab host that owns the tokens (registry.gitlab.com belongs to
gitlab.com; a self-managed instance may use registry.example.com or gitlab.example.com:5050),
so `get` for a registry first finds its GitLab host (``owner_for``).  In order:

1. a token registered with ``--registry REGISTRY`` (its own host);
2. ``registry = "..."`` in the config's ``[hosts."H"]`` table;
3. registry.gitlab.com for gitlab.com: GitLab's own, a fixed fact;
4. GitLab's conventions for a host H the user added a token for: ``registry.H`` and
   ``H:5050``.  A name is not proof: Harbor or Artifactory may answer on registry.H, any
   local user on port 5050.  So these are candidates (``PROOF_NEEDED``) that the caller
   serves only once the registry shows that its token service is H
   (lifecycle/registry_proof.py), and never for a loopback name or plain http.

The CI job's ``CI_REGISTRY`` is not mapped here: stores/ci_env.py gives it records of its own
holding the job's variables only, so a variable never sends a token the user added anywhere.
Pure functions; no I/O.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput
from credhelper.rules.hosts import normalise_host
from credhelper.rules.model import ADDED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from credhelper.local.config import Config
    from credhelper.rules.model import TokenRecord

CONVENTIONS = {"registry.gitlab.com": "gitlab.com"}
REGISTRY_PORT = "5050"     # GitLab's default when the registry shares the GitLab host name

# Why a registry is served (`credhelper registries` shows it); PROOF_NEEDED is a candidate.
BY_TOKEN = "token added with --registry"
BY_CONFIG = "registry in the config's [hosts] table"
WELL_KNOWN = "GitLab's own registry for gitlab.com"
PROOF_NEEDED = "GitLab's naming convention"


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


def owner_for(registry: str, records: Iterable[TokenRecord],
              config_loader: Callable[[], Config]) -> tuple[str, str] | None:
    """(GitLab host, why) for ``registry``, or None (the order is the module's).  With why
    PROOF_NEEDED the host is only a candidate."""
    records = list(records)
    # the config is read only when needed: a --registry token is docker's hot path
    explicit = _by_token(records).get(registry) or _by_config(config_loader()).get(registry)
    if explicit is not None:
        return explicit
    known = {r.host for r in records if r.origin == ADDED}
    return _conventional_owner(registry, known, _conventional(known))


def _conventional_owner(registry: str, known: set[str], conventional: dict[str, str]
                        ) -> tuple[str, str] | None:
    """(host, why) for a registry neither a token nor the config maps: gitlab.com's own, or
    a candidate by GitLab's naming (``conventional``: ``_conventional(known)``)."""
    if CONVENTIONS.get(registry) in known:
        return CONVENTIONS[registry], WELL_KNOWN
    if is_loopback(registry):
        return None            # anyone on this machine may listen there: never by convention
    host = conventional.get(registry)
    return None if host is None else (host, PROOF_NEEDED)


def _conventional(known: set[str]) -> dict[str, str]:
    """{conventional registry: the first host, in sorted order, whose convention names it}:
    built once, so that mapping every host's registries stays linear."""
    found: dict[str, str] = {}
    for host in sorted(known):
        for registry in conventional_registries(host):
            found.setdefault(registry, host)
    return found


def _by_token(records: list[TokenRecord]) -> dict[str, tuple[str, str]]:
    """{registry: (host, BY_TOKEN)} for the tokens added with --registry (the first wins)."""
    found: dict[str, tuple[str, str]] = {}
    for record in records:
        if record.origin == ADDED and record.registry:
            found.setdefault(record.registry, (record.host, BY_TOKEN))
    return found


def _by_config(config: Config) -> dict[str, tuple[str, str]]:
    """{registry: (host, BY_CONFIG)} for the config's ``registry`` keys (the first wins)."""
    found: dict[str, tuple[str, str]] = {}
    for host, settings in config.hosts.items():
        if settings.registry:
            found.setdefault(settings.registry, (host, BY_CONFIG))
    return found


def is_loopback(host: str) -> bool:
    """Does the name itself say "this machine" (localhost, *.localhost, 127.x, ::1)?  Judged
    on the name the client asked for, not on what it resolves to."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return (name in ("localhost", "[::1]", "0.0.0.0", "[::]") or name.endswith(".localhost")
            or (name.startswith("127.") and name.replace(".", "").isdigit()))


def conventional_registries(host: str) -> set[str]:
    """The registry hosts GitLab's defaults give an instance at ``host``."""
    name = host.split(":")[0] if not host.startswith("[") else host
    found = {"registry." + name, "%s:%s" % (name, REGISTRY_PORT)}
    found.update(r for r, owner in CONVENTIONS.items() if owner == host)
    return found


def served_registries(records: Iterable[TokenRecord], config: Config
                      ) -> dict[str, tuple[str, str]]:
    """{registry: (gitlab host, why)} for every registry credhelper may answer, conventional
    candidates (why PROOF_NEEDED, loopback names left out) included."""
    records = list(records)
    found = _by_config(config)
    found.update(_by_token(records))         # a --registry token wins over the config
    known = {r.host for r in records if r.origin == ADDED}
    conventional = _conventional(known)
    for host in sorted(known):
        for registry in sorted(conventional_registries(host)):
            owned = None if registry in found else _conventional_owner(registry, known,
                                                                       conventional)
            if owned is not None:
                found[registry] = owned
    return found


def challenge_realm(header: str) -> str | None:
    """The ``realm`` of a ``WWW-Authenticate: Bearer realm="...",service="..."`` challenge
    (RFC 6750, as the distribution registry sends it), or None for any other challenge."""
    import re

    scheme, _, params = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    found = dict(re.findall(r'([A-Za-z]+)="([^"]*)"', params))
    return found.get("realm")


def realm_is_hosts_token_service(realm: str, host: str) -> bool:
    """Is ``realm`` GitLab's registry token service (``https://HOST/jwt/auth``, under a
    relative URL root too) at exactly ``host``?"""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(realm)
        named = normalise_host(parts.netloc) if parts.scheme == "https" else None
    except (InvalidInput, ValueError):
        return False
    return (named == host and "@" not in parts.netloc
            and (parts.path == "/jwt/auth" or parts.path.endswith("/jwt/auth")))
