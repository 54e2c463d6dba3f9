"""Has a registry with a conventional name (``registry.H``, ``H:5050``) shown that it is GitLab
host H's?  Its ``/v2/`` challenge must name H's token service (gitlab/registry_probe.py); a
name alone is no proof, since Harbor, Artifactory or a local user may answer there
(rules/container_registries.py).

Each answer is kept in ``registry-proofs.json`` in the data dir (0600, no secrets), a proof for
PROVEN_TTL and a failure for UNPROVEN_TTL, so docker's `get` probes at most once in a while;
after that the registry proves itself again.
"""

from __future__ import annotations

import os

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from credhelper.local.trust import Trust

PROOFS_FILE = "registry-proofs.json"
PROVEN_TTL = 24 * 3600.0      # a registry rarely changes hands; a day bounds a stale proof
UNPROVEN_TTL = 10 * 60.0      # an unreachable registry costs one probe timeout per 10 min


def proven(registry: str, owner: str, trust: Callable[[], Trust], now: float,
           warn: Callable[[str], None] | None = None,
           read: dict[str, dict[str, Any]] | None = None) -> bool:
    """Is ``registry`` ``owner``'s?  From the cache while fresh, else probed (and cached),
    with TLS verified by ``trust()``, made only then.  When not, ``warn`` gets one line on
    how to map it explicitly.  ``read``: a dict a caller asking about many registries keeps
    (docker's `list`), so the file is read once for all of them, not once for each."""
    path = os.path.join(_data_dir(), PROOFS_FILE)
    if read is None:
        read = {}
    if path not in read:
        read[path] = _load(path)
    proofs = read[path]
    key = "%s %s" % (registry, owner)
    entry: dict[str, Any] = proofs.get(key) or {}
    if not _fresh(entry, now):
        from credhelper.gitlab.registry_probe import token_realm
        from credhelper.rules.container_registries import realm_is_hosts_token_service

        realm = token_realm(registry, trust())
        entry = {"proven": realm is not None and realm_is_hosts_token_service(realm, owner),
                 "checked_at": now}
        proofs[key] = entry
        _save(path, {k: v for k, v in proofs.items() if _fresh(v, now)})
    if entry["proven"] is not True and warn is not None:
        warn(hint(registry, owner))
    return entry["proven"] is True


def hint(registry: str, owner: str) -> str:
    """One line: why nothing is served, and the two explicit mappings (the config's works
    for a token already added; `credhelper add` keeps one record per token)."""
    return ('%s is not served: its /v2/ does not name https://%s/jwt/auth as its token '
            'service. If it is that GitLab\'s registry, map it: registry = "%s" in [hosts."%s"] '
            'in the config, or credhelper add %s --registry %s'
            % (registry, owner, registry, owner, owner, registry))


def _fresh(entry: Any, now: float) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("checked_at"), (int, float)):
        return False
    ttl = PROVEN_TTL if entry.get("proven") is True else UNPROVEN_TTL
    return entry["checked_at"] <= now < entry["checked_at"] + ttl


def _data_dir() -> str:
    from credhelper.local.paths import data_dir

    return data_dir()


def _load(path: str) -> dict[str, Any]:
    from credhelper.local.files import read_json

    try:
        proofs = read_json(path, {})
    except CredhelperError:
        return {}        # unreadable or corrupt: prove again, and replace it
    return proofs if isinstance(proofs, dict) else {}


def _save(path: str, proofs: dict[str, Any]) -> None:
    """Best effort: a cache that cannot be written costs a probe next time, nothing more."""
    from credhelper.local.files import write_json

    try:
        write_json(path, proofs)
    except OSError:
        pass
