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
    return load_raw(path or config_path())[0]


def load_raw(path: str) -> tuple[dict[str, Any], bytes | None]:
    """The file's object and its bytes (None: no file), for ``dump`` to keep its layout."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return {}, None
    except OSError as error:
        raise ConfigError("cannot read %s: %s" % (path, error.strerror)) from None
    return _parsed(path, raw), raw


def _parsed(path: str, raw: bytes) -> dict[str, Any]:
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


def dump(data: dict[str, Any], like: bytes | None) -> bytes:
    """``data`` laid out as the file ``like`` was (its indent, its final newline; docker
    writes tabs and no final newline), so that taking credhelper's entries out again gives
    back the same bytes."""
    text = like.decode("utf-8", "replace") if like and like.strip() else "{\n\t\n}\n"
    inner = text.strip()[1:].lstrip(" ")
    indent: str | None = "\t" if inner.startswith("}") else None     # {} as docker would
    if inner.startswith(("\n", "\r\n")):
        first = inner.lstrip("\r\n")
        indent = first[:len(first) - len(first.lstrip(" \t"))] or "\t"
    separators = (",", ": ") if indent is not None or '": ' in text else (",", ":")
    out = json.dumps(data, indent=indent, separators=separators, ensure_ascii=False)
    return (out + ("\n" if text.endswith("\n") else "")).encode()


def write(path: str, data: dict[str, Any], like: bytes | None) -> None:
    write_private(path, dump(data, like))


def helpers() -> dict[str, Any]:
    found = load().get("credHelpers")
    return found if isinstance(found, dict) else {}


def configure(registries: Iterable[str], host: str | None = None) -> list[str]:
    """Point docker at credhelper for each registry (served with ``host``'s tokens, when
    known); returns the list of changes."""
    from credhelper.clientconfig import written

    path = config_path()
    data, raw = load_raw(path)
    entries = data.get("credHelpers")
    if entries is None:
        entries = data["credHelpers"] = {}
    elif not isinstance(entries, dict):
        raise ConfigError("credHelpers in %s is not an object; fix it first" % path)
    changes, noted = [], {}
    for registry in registries:
        if entries.get(registry) != HELPER_NAME:
            before = noted[registry] = entries.get(registry)
            entries[registry] = HELPER_NAME
            changes.append("credHelpers[%s] = %s%s" % (
                registry, HELPER_NAME, " (was %s)" % before if before else ""))
    if changes:
        written.note_docker(raw is None, {r: (host, b) for r, b in noted.items()})
        write(path, data, raw)
    return changes
