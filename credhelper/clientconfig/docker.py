"""The docker client's config (``$DOCKER_CONFIG/config.json``, default ``~/.docker``) for
`credhelper setup docker` and `doctor`.

Only ``credHelpers`` entries for the registries we serve are added: docker then asks
``docker-credential-gitlab`` for those registries and keeps using its own store (or
``credsStore``) for every other one.  podman, skopeo and buildah read the same entries.
Everything else in the file is kept as it is, and the file is replaced atomically.
"""

from __future__ import annotations

import json
import os

from credhelper.errors import ConfigError
from credhelper.local.files import write_private

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

HELPER_NAME = "gitlab"   # docker runs docker-credential-gitlab


def config_path() -> str:
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"),
                                                                  ".docker")
    return os.path.join(directory, "config.json")


def load(path: str | None = None) -> dict[str, Any]:
    path = path or config_path()
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError("cannot read %s: %s" % (path, error.strerror)) from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError("%s is not valid JSON; fix it first (nothing was changed)" % path) \
            from None
    if not isinstance(data, dict):
        raise ConfigError("%s is not a JSON object; fix it first (nothing was changed)" % path)
    return data


def helpers() -> dict[str, Any]:
    found = load().get("credHelpers")
    return found if isinstance(found, dict) else {}


def configure(registries: Iterable[str]) -> list[str]:
    """Point docker at credhelper for each registry; returns the list of changes."""
    path = config_path()
    data = load(path)
    entries = data.get("credHelpers")
    if entries is None:
        entries = data["credHelpers"] = {}
    elif not isinstance(entries, dict):
        raise ConfigError("credHelpers in %s is not an object; fix it first" % path)
    changes = []
    for registry in registries:
        if entries.get(registry) != HELPER_NAME:
            before = entries.get(registry)
            entries[registry] = HELPER_NAME
            changes.append("credHelpers[%s] = %s%s" % (
                registry, HELPER_NAME, " (was %s)" % before if before else ""))
    if changes:
        write_private(path, (json.dumps(data, indent="\t") + "\n").encode())
    return changes
