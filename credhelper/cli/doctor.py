"""`credhelper doctor`: what is configured, where secrets go, and whether git really gets
credhelper's token.  ``report`` returns report lines and a list of problems; ``run``
prints them.

It only looks: no token is sent to a server, checked, rotated or refreshed and no file is
written, by doctor or by the helper git runs for it (CREDHELPER_READ_ONLY).  git is asked
from a fresh empty directory with GIT_DIR and friends unset, so the repository doctor runs
in cannot change the answer; the user's global and system config count, as for a clone.
From the helper list git builds for each host it flags every other helper (git hands each
one our token to store: a storage helper keeps a copy) and path tokens git cannot choose
without useHttpPath; each token's state is the one its last check with the server left in
the index.  Each host's API origin is reached over TLS, with no token, as its checks would
be (cli/doctor_tls.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time

from credhelper import __version__
from credhelper.cli.doctor_tls import tls_report
from credhelper.errors import CredhelperError
from credhelper.rules import freshness
from credhelper.rules.model import ADDED, Request
from credhelper.rules.redact import scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from credhelper.cli.common import Commands
    from credhelper.clientconfig.git import Entry
    from credhelper.local.config import Config
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service

# what makes git look at a repository other than the one found from the cwd
_REPOSITORY_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE",
                         "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                         "GIT_NAMESPACE", "GIT_PREFIX")


def register(commands: Commands) -> None:
    doctor = commands.add_parser("doctor", help="check the installation and configuration")
    doctor.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    lines, problems = report()
    for line in lines:
        print(scrub(line))   # records hold what servers and clients said
    for problem in problems:
        print("problem: %s" % scrub(problem))
    print("ok" if not problems else "%d problem(s)" % len(problems))
    return 1 if problems else 0


def report(service: Service | None = None) -> tuple[list[str], list[str]]:
    from credhelper.local import paths
    from credhelper.service import Service

    service = service or Service()
    lines: list[str] = ["credhelper %s" % __version__]
    problems: list[str] = unsafe_files(service)
    if problems:           # nothing in them can be trusted: reading on would only mislead
        lines.append("not reading further: files others can write (see problems)")
        return lines, problems
    settings = _config_report(service, lines, problems)
    _data_dir_report(service.tokens.directory, lines, problems)
    lines.append("state dir: %s" % paths.state_dir())
    try:
        store, backend = service.default_store()
        lines.append("store for new tokens: %s%s (config: store = %s)"
                     % (store, " (%s)" % backend if backend else "", settings.store))
    except CredhelperError as error:
        problems.append(str(error))
    records = list(service.tokens.load())
    _tokens_report(service, records, lines, problems)
    with _neutral_git():     # git's sslCAInfo as git reads it outside any repository
        lines.extend(_git_report(service, records, problems))
        tls_report(service, records, lines, problems)
    lines.extend(_docker_report(service, problems))
    return lines, problems


def unsafe_files(service: Service) -> list[str]:
    """Why each config, data or state file or directory others can write is refused
    (local/files.py), as problems."""
    from credhelper.local import files, paths

    data = service.tokens.directory
    config = os.path.abspath(paths.config_file())
    found = []
    for path in (os.path.dirname(config), config, data, paths.state_dir(),
                 *(os.path.join(data, name) for name in ("tokens.json", "secrets.json",
                                                         "rescued.json", "tokens.index",
                                                         "secrets.index"))):
        try:
            reason = files.unsafe_reason(os.stat(path), path)
        except OSError:
            continue                      # absent: nothing to trust yet
        if reason:
            found.append(reason)
    return found


@contextlib.contextmanager
def _neutral_git() -> Iterator[None]:
    """Run git from a fresh empty directory, without the variables that name a repository,
    and tell our helper not to act on what it finds (CREDHELPER_READ_ONLY)."""
    import tempfile

    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="credhelper-doctor-") as neutral:
        try:
            os.chdir(neutral)
            for name in _REPOSITORY_VARIABLES:
                os.environ.pop(name, None)
            os.environ["GIT_CEILING_DIRECTORIES"] = os.path.dirname(neutral)
            os.environ["CREDHELPER_READ_ONLY"] = "1"
            yield
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)


def _config_report(service: Service, lines: list[str], problems: list[str]) -> Config:
    from credhelper.local import config

    try:
        settings = service.config()
        present = settings.path is not None and os.path.exists(settings.path)
        lines.append("config file: %s%s" % (settings.path,
                                            "" if present else " (absent: defaults)"))
    except CredhelperError as error:
        problems.append(str(error))
        settings = config.Config()
    return settings


def _data_dir_report(data_dir: str, lines: list[str], problems: list[str]) -> None:
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


def _tokens_report(service: Service, records: list[TokenRecord], lines: list[str],
                   problems: list[str]) -> None:
    by_store: dict[str, int] = {}
    for record in records:
        by_store[record.store] = by_store.get(record.store, 0) + 1
    lines.append("tokens: %d%s" % (len(records), "" if not records else " (%s)" % ", ".join(
        "%d in %s" % (count, name) for name, count in sorted(by_store.items()))))
    now = time.time()
    for record in records:
        lines.append("  " + token_state(record, now))
        reason = freshness.unusable_reason(record, now)
        if reason and record.origin == ADDED:
            problems.append("%s %s for %s %s" % (record.kind, record.hint, record.host, reason))
        elif service.secret(record, quiet=True) is None:
            problems.append("%s %s for %s: its secret is missing from the %s store"
                            % (record.kind, record.hint, record.host, record.store))


def _docker_report(service: Service, problems: list[str]) -> list[str]:
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


def token_state(record: TokenRecord, now: float) -> str:
    """One token as the index knows it from its last check with the server (doctor does not
    ask the server itself: it only looks)."""
    from credhelper.cli.common import path_note
    from credhelper.cli.status import next_action, state_name

    state = state_name(record, now)
    if record.checked_at is not None:
        checked = "checked %s" % time.strftime("%Y-%m-%d %H:%M UTC",
                                               time.gmtime(record.checked_at))
    elif freshness.can_use_api(record):
        checked, state = "never checked", "unchecked" if state == "ok" else state
    else:
        checked = "the API cannot check this kind"
    return "%s %s %s%s as %s: %s (%s); next: %s" % (
        record.host, record.kind, record.hint or "-", path_note(record.path),
        record.login_name(), state, checked, next_action(record, now))


def _daemon_state() -> str:
    from credhelper.daemon.place import live_pid

    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    pid = live_pid(runtime) if runtime.startswith("/") else None
    return "running, pid %d" % pid if pid else "not running"


def _git_report(service: Service, records: list[TokenRecord], problems: list[str]) -> list[str]:
    from credhelper.clientconfig import git as gitconfig

    lines = []
    version = gitconfig.git("--version", check=False).stdout.strip()
    lines.append("git: %s" % (version or "not found"))
    on_path = shutil.which("git-credential-gitlab")
    lines.append("git-credential-gitlab on PATH: %s" % (on_path or "no"))
    lines.append("warm daemon (README, Speed): %s" % _daemon_state())
    hosts = sorted({r.host for r in records if r.origin == ADDED})
    try:
        entries = gitconfig.config_entries() if hosts else []  # every file, as git reads them
    except CredhelperError as error:
        problems.append(str(error))
        return lines
    for host in hosts:
        helpers = gitconfig.effective_helpers(host, entries)
        if not any(gitconfig.is_ours(helper) for helper in helpers):
            problems.append("git is not set up for %s: run credhelper setup git %s" % (host, host))
            continue
        problems.extend(_helper_problems(host, helpers, entries, records))
        lines.append("  %s: helpers %s; %s" % (host, helpers, _git_verdict(service, host,
                                                                          problems)))
    return lines


def _helper_problems(host: str, helpers: list[str], entries: list[Entry],
                     records: list[TokenRecord]) -> list[str]:
    """Other helpers git hands our token to, and path tokens git cannot choose."""
    from credhelper.clientconfig import git as gitconfig

    found = []
    others = [helper for helper in helpers if not gitconfig.is_ours(helper)]
    if others:    # git sends `store` to every helper (docs/protocols.md)
        found.append("for %s git also runs %s and hands each credhelper's token to store: a "
                     "storage helper keeps a copy (store: in plaintext, in ~/.git-credentials); "
                     "run credhelper setup git %s" % (host, ", ".join(others), host))
    by_path = any(r.host == host and r.path and r.origin == ADDED for r in records)
    if by_path and not gitconfig.sends_path(host, entries):
        found.append("tokens for %s are told apart by path, but git does not send the path "
                     "(useHttpPath is off), so they are never chosen: run git config --global "
                     "credential.https://%s.useHttpPath true" % (host, host))
    return found


def _git_verdict(service: Service, host: str, problems: list[str]) -> str:
    """Does git get credhelper's token for ``host``?"""
    from credhelper.clientconfig import git as gitconfig
    ours = _quiet_lookup(service, host)
    got = gitconfig.fill(host)
    if ours is None:
        return "credhelper has no usable token"
    if got is None:
        problems.append("git finds no credential for %s" % host)
        return "git gets nothing (is the helper on PATH?)"
    if got[1] == ours:
        return "git gets credhelper's token"
    problems.append("for %s git uses another helper's credential; run credhelper "
                    "setup git %s --reset-other-helpers" % (host, host))
    return "another helper answers first"


def _quiet_lookup(service: Service, host: str) -> str | None:
    """The secret ``get`` would serve for ``https://HOST`` as the token stands now: no
    check, rotation or warning (the keeper is never asked; the report explains itself)."""
    from credhelper.rules import resolver

    for record in resolver.candidates(service.records(), Request("https", host),
                                      service.clock()):
        secret = service.secret(record, quiet=True)
        if secret:
            return secret
    return None
