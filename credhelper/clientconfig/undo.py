"""Taking credhelper out of git's and docker's configuration (`logout`, `uninstall`): its
own entries go, what they replaced comes back (clientconfig/written.py), and everything else
in the files stays as it is.

git: the whole ``credential.https://HOST`` section credhelper wrote (the empty reset and the
helper) goes with ``git config --remove-section``, which leaves the rest of the file byte for
byte; keys of the section that are not credhelper's are written back.  docker: the
``credHelpers`` entries naming ``gitlab``, and ``credHelpers`` itself once empty (docker never
writes an empty one), the file laid out as it was.  A file credhelper created goes once empty.
"""

from __future__ import annotations

import os

from credhelper.clientconfig import docker, written
from credhelper.clientconfig import git as gitconfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def shown(path: str) -> str:
    """A path as a person reads it: the home directory as ``~``."""
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


def git_hosts() -> list[str]:
    """Every host whose section in the global git config names credhelper's helper."""
    hosts = []
    for key, value in gitconfig.config_entries("--global"):
        section, _, name = key.rpartition(".")
        url = section[len("credential."):]
        if name == "helper" and value and gitconfig.is_ours(value) \
                and url.startswith("https://") and url[8:] not in hosts:
            hosts.append(url[8:])
    return hosts


def unset_git(host: str) -> list[str]:
    """Remove credhelper's section for ``host``; returns what changed ([]: nothing was ours)."""
    section = "credential.https://%s" % host
    own = [(key, value) for key, value in gitconfig.config_entries("--global")
           if key.rpartition(".")[0] == section]
    if not any(key.endswith(".helper") and value and gitconfig.is_ours(value)
               for key, value in own):
        return []
    facts = written.git_entry(host)
    ours = {"helper"} | ({"usehttppath"} if facts.get("use_http_path") else set())
    kept = [(key, value) for key, value in own if key.rpartition(".")[2] not in ours]
    gitconfig.git("config", "--global", "--remove-section", section)
    changes = ["removed %s.helper (credhelper and the empty reset)" % section]
    if "usehttppath" in ours:
        changes.append("removed %s.useHttpPath" % section)
    for helper in facts.get("helpers", []):
        gitconfig.git("config", "--global", "--add", section + ".helper", helper)
        changes.append("%s.helper = %s again" % (section, helper))
    for key, value in kept:
        gitconfig.git("config", "--global", "--add", key, "true" if value is None else value)
    path = gitconfig.global_file()
    removed = written.git_created_file() and _empty(path)
    if removed:
        os.remove(path)
        changes.append("removed the file (credhelper had created it)")
    written.forget_git(host, removed)
    return changes


def _empty(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return not handle.read().strip()
    except FileNotFoundError:
        return False


def docker_registries(host: str | None = None) -> list[str]:
    """The registries whose credHelpers entry names credhelper (those credhelper noted for
    ``host`` only, when given)."""
    mine = [registry for registry, helper in docker.helpers().items()
            if helper == docker.HELPER_NAME]
    if host is None:
        return mine
    noted = written.docker_facts().get("registries", {})
    return [r for r in mine if isinstance(noted.get(r), dict) and noted[r].get("host") == host]


def unset_docker(registries: Iterable[str]) -> list[str]:
    """Take credhelper's credHelpers entries for ``registries`` out; returns what changed."""
    path = docker.config_path()
    data, raw = docker.load_raw(path)
    entries = data.get("credHelpers")
    if not isinstance(entries, dict):
        return []
    facts = written.docker_facts()
    noted = facts.get("registries", {})
    changes, done = [], []
    for registry in registries:
        if entries.get(registry) != docker.HELPER_NAME:
            continue
        before = (noted.get(registry) or {}).get("before")
        if before:
            entries[registry] = before
            changes.append("credHelpers[%s] = %s again" % (registry, before))
        else:
            del entries[registry]
            changes.append("removed credHelpers[%s]" % registry)
        done.append(registry)
    if not changes:
        return []
    if not entries:
        del data["credHelpers"]
    if not data and facts.get("created_file"):
        os.remove(path)
        changes.append("removed the file (credhelper had created it)")
    else:
        docker.write(path, data, raw)
    written.forget_docker(done)
    return changes


def report(path: str, changes: list[str]) -> None:
    """One line per file changed; nothing when nothing was."""
    if changes:
        print("%s: %s" % (shown(path), "; ".join(changes)))
