"""`credhelper doctor`: what is configured, where secrets go, and whether git really gets
credhelper's token.  Returns report lines and a list of problems; the CLI prints them."""

import os
import shutil
import time

from credhelper import __version__
from credhelper.clientconfig import git as gitconfig
from credhelper.errors import CredhelperError
from credhelper.local import config, paths
from credhelper.rules import freshness
from credhelper.rules.model import ADDED
from credhelper.service import Service, quiet_lookup


def run(service=None):
    service = service or Service()
    lines, problems = ["credhelper %s" % __version__], []
    try:
        settings = service.config()
        lines.append("config file: %s%s" % (settings.path, "" if os.path.exists(settings.path)
                                            else " (absent: defaults)"))
    except CredhelperError as error:
        problems.append(str(error))
        settings = config.Config()
    data_dir = service.tokens.directory
    if os.path.isdir(data_dir):
        mode = os.stat(data_dir).st_mode & 0o777
        lines.append("data dir: %s (mode %04o)" % (data_dir, mode))
        if mode & 0o077:
            problems.append("%s is readable by others (chmod 700 it)" % data_dir)
    else:
        lines.append("data dir: %s (not created yet)" % data_dir)
    secrets_file = os.path.join(data_dir, "secrets.json")
    if os.path.exists(secrets_file) and os.stat(secrets_file).st_mode & 0o077:
        problems.append("%s is readable by others (chmod 600 it)" % secrets_file)
    lines.append("state dir: %s" % paths.state_dir())
    try:
        store, backend = service.default_store()
        lines.append("store for new tokens: %s%s (config: store = %s)"
                     % (store, " (%s)" % backend if backend else "", settings.store))
    except CredhelperError as error:
        problems.append(str(error))
    records = [r for r in service.tokens.load()]
    by_store = {}
    for record in records:
        by_store[record.store] = by_store.get(record.store, 0) + 1
    lines.append("tokens: %d%s" % (len(records), "" if not records else " (%s)" % ", ".join(
        "%d in %s" % (count, name) for name, count in sorted(by_store.items()))))
    now = time.time()
    for record in records:
        reason = freshness.unusable_reason(record, now)
        if reason and record.origin == ADDED:
            problems.append("%s %s for %s %s" % (record.kind, record.hint, record.host, reason))
        elif service.secret(record, quiet=True) is None:
            problems.append("%s %s for %s: its secret is missing from the %s store"
                            % (record.kind, record.hint, record.host, record.store))
    lines.extend(_git_report(service, records, problems))
    lines.extend(_docker_report(service, problems))
    return lines, problems


def _docker_report(service, problems):
    from credhelper.clientconfig import docker as dockerconfig

    try:
        entries = dockerconfig.helpers()
    except CredhelperError as error:
        problems.append(str(error))
        return []
    ours = sorted(r for r, helper in entries.items() if helper == dockerconfig.HELPER_NAME)
    lines = ["docker config: %s; credHelpers for credhelper: %s"
             % (dockerconfig.config_path(), ", ".join(ours) or "none")]
    from credhelper.registry_service import list_registries

    served = list_registries(service)
    missing = sorted(set(served) - set(ours))
    if missing:
        lines.append("  registries served but not set up in docker: %s (credhelper setup "
                     "docker)" % ", ".join(missing))
    if ours and not shutil.which("docker-credential-gitlab"):
        problems.append("docker is set up to use docker-credential-gitlab, which is not on PATH")
    return lines


def _git_report(service, records, problems):
    lines = []
    version = gitconfig.git("--version", check=False).stdout.strip()
    lines.append("git: %s" % (version or "not found"))
    on_path = shutil.which("git-credential-gitlab")
    lines.append("git-credential-gitlab on PATH: %s" % (on_path or "no"))
    for host in sorted({r.host for r in records if r.origin == ADDED}):
        helpers = gitconfig.helpers_for(host)
        if not helpers:
            problems.append("git is not set up for %s: run credhelper setup git %s" % (host, host))
            continue
        ours = quiet_lookup(service, host)
        got = gitconfig.fill(host)
        if ours is None:
            verdict = "credhelper has no usable token"
        elif got is None:
            verdict = "git gets nothing (is the helper on PATH?)"
            problems.append("git finds no credential for %s" % host)
        elif got[1] == ours.secret:
            verdict = "git gets credhelper's token"
        else:
            verdict = "another helper answers first"
            problems.append("for %s git uses another helper's credential; run credhelper "
                            "setup git %s --reset-other-helpers" % (host, host))
        lines.append("  %s: helpers %s; %s" % (host, helpers, verdict))
    return lines
