"""What credhelper wrote into the clients' configuration, so that `logout` and `uninstall`
(clientconfig/undo.py) put back what was there before: a ``useHttpPath`` the user had set
stays, one credhelper set goes; helpers credhelper's section replaced come back; a file
credhelper created is removed once it is empty again.

Kept in the state dir as ``written.json`` (no secrets: keys, helper names, registry names)::

    {"git": {HOST: {"use_http_path": bool, "helpers": [...]}}, "git_created_file": bool,
     "docker": {"created_file": bool, "registries": {REGISTRY: {"host": H, "before": V}}}}

Entries written before this file existed are still found and removed by their value
(the helper's name); only what they replaced cannot be put back.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _path() -> str:
    from credhelper.local.paths import state_dir

    return os.path.join(state_dir(), "written.json")


def load() -> dict[str, Any]:
    from credhelper.local.files import read_json

    found = read_json(_path(), {})
    return found if isinstance(found, dict) else {}


def save(data: dict[str, Any]) -> None:
    from credhelper.local.files import write_json

    write_json(_path(), data)


def git_entry(host: str) -> dict[str, Any]:
    entry = load().get("git", {}).get(host)
    return entry if isinstance(entry, dict) else {}


def note_git(host: str, **facts: Any) -> None:
    """Remember facts about the section credhelper wrote for ``host``; the first value of
    each fact is kept (it describes the file before credhelper touched it)."""
    data = load()
    if facts.pop("created_file", False):
        data["git_created_file"] = True     # for every host: the file goes once empty
    entry = data.setdefault("git", {}).setdefault(host, {})
    for name, value in facts.items():
        if name == "use_http_path":
            entry[name] = entry.get(name, False) or value
        else:
            entry.setdefault(name, value)
    save(data)


def git_created_file() -> bool:
    return bool(load().get("git_created_file"))


def forget_git(host: str, file_removed: bool = False) -> None:
    data = load()
    data.get("git", {}).pop(host, None)
    if file_removed:
        data.pop("git_created_file", None)
    save(data)


def docker_facts() -> dict[str, Any]:
    found = load().get("docker")
    return found if isinstance(found, dict) else {}


def note_docker(created_file: bool, registries: dict[str, tuple[str | None, Any]]) -> None:
    """``registries``: {registry: (GitLab host or None, the value credHelpers had before)}."""
    data = load()
    docker = data.setdefault("docker", {})
    docker.setdefault("created_file", created_file)
    known = docker.setdefault("registries", {})
    for registry, (host, before) in registries.items():
        known.setdefault(registry, {"host": host, "before": before})
    save(data)


def forget_docker(registries: list[str]) -> None:
    data = load()
    docker = data.get("docker", {})
    for registry in registries:
        docker.get("registries", {}).pop(registry, None)
    if not docker.get("registries"):
        data.pop("docker", None)
    save(data)
