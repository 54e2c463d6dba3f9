"""`credhelper logout HOST [--username U] [--path P] [--revoke|--keep]`: revoke the tokens on
the server if asked, forget them (as `credhelper remove` does), and once the host has no
token left take credhelper out of git's and docker's configuration for it
(clientconfig/undo.py), so that they are as they were before `login`.

Revoking is asked at a terminal with no for default, as for a replaced token (cli/replaced.py):
`glab auth logout` revokes nothing, and a pasted token may be used elsewhere too.  Without a
terminal and without ``--revoke``/``--keep`` the token is kept on the server, and one line says
so.  A token that only credhelper held and that is not revoked is an orphan: it still works
until it expires, so the line names it.  A token that could not be revoked is not forgotten:
the person tries again, or says ``--keep``.
"""

from __future__ import annotations

import sys

from credhelper.cli.replaced import KEEP, REVOKE, at_a_terminal
from credhelper.errors import CredhelperError
from credhelper.rules.model import EXPIRED, KIND_NAMES, OAUTH, PAT, REVOKED
from credhelper.rules.redact import scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service


# where a person revokes what the API cannot (a PAT whose secret is gone: its own page)
_SETTINGS = {"oauth": "Applications settings (Authorized applications)",
             "deploy": "project or group settings (Repository, Deploy tokens)",
             "job": "pipeline settings (a job token ends when its job does)"}


def register(commands: Commands) -> None:
    logout = commands.add_parser("logout", help="revoke (if asked) and forget a host's tokens; "
                                 "take credhelper out of git and docker for it")
    logout.add_argument("host", metavar="HOST")
    logout.add_argument("--username", help="only this account's tokens")
    logout.add_argument("--path", metavar="PREFIX", help="only the token for this path")
    add_revoke_choice(logout, "the tokens")
    logout.set_defaults(handler=run)


def add_revoke_choice(parser: argparse.ArgumentParser, what: str) -> None:
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--revoke", dest="choice", action="store_const", const=REVOKE,
                        help="revoke %s on the server (default: ask at a terminal, else keep)"
                        % what)
    choice.add_argument("--keep", dest="choice", action="store_const", const=KEEP,
                        help="leave %s working on the server, without asking" % what)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.cli.remove import _no_match
    from credhelper.service import Service

    service = Service()
    host, path = accounts.host_and_path(args.host, args.path)
    records = service.tokens.load()
    chosen = accounts.select(records, host, path, username=args.username,
                             every=path is None)
    if not chosen:
        if any(r.host == host for r in records) or not unset_clients(host, []):
            raise _no_match(records, host)
        return 0                # tokens removed earlier: only the setup was left to undo
    registries = served_registries(service, host)      # before the tokens are forgotten
    failed = leave(service, chosen, args.choice)
    if not any(r.host == host for r in service.tokens.load()):
        unset_clients(host, registries)
    else:
        print("git and docker stay set up for %s: it has other tokens" % host)
    if failed:
        raise CredhelperError("could not revoke %s, so it was kept here: run logout again, or "
                              "with --keep" % ", ".join(failed))
    return 0


def leave(service: Service, chosen: list[TokenRecord], choice: str | None) -> list[str]:
    """Revoke (as chosen), then forget, each token; returns the ones that could not be
    revoked (those are not forgotten)."""
    from credhelper.cli.remove import forget

    interactive = at_a_terminal()
    failed, gone = [], []
    for record in chosen:
        reason = settle(service, record, choice, interactive)
        if reason is None:
            gone.append(record)
        else:
            failed.append("%s (%s)" % (record.hint or "?", reason))
    forget(service, gone)
    return failed


def settle(service: Service, record: TokenRecord, choice: str | None, interactive: bool
           ) -> str | None:
    """Revoke ``record`` or say that it still works; why revoking failed, or None."""
    from credhelper.cli.replaced import revoke_with

    named = label(record)
    if record.state in (REVOKED, EXPIRED):
        return None                                 # nothing left to revoke
    secret = service.secret(record, quiet=True)
    if not (record.kind == PAT or record.kind == OAUTH and record.client_id) or secret is None:
        print("The %s is not revoked from here: revoke it in GitLab's %s once nothing uses "
              "it" % (named, _SETTINGS.get(record.kind, "access token settings")))
        return None
    if choice == REVOKE or (choice is None and interactive and ask(named, record.host)):
        reason = revoke_with(service, record, secret)
        if reason is None:
            print("Revoked the %s on %s" % (named, record.host))
        return reason
    why = "--keep" if choice == KEEP else "not asked: no terminal; --revoke revokes it" \
        if not interactive else "your answer"
    print("Kept on the server (%s): the %s still works there, and nothing here holds it any "
          "more; revoke it in GitLab's access token settings once nothing uses it" % (why, named))
    return None


def label(record: TokenRecord) -> str:
    """``access token glpat-...abcd``, as the person saw it at `add` (sanitised)."""
    return scrub("%s %s" % (KIND_NAMES[record.kind], record.hint or "?"))


def ask(named: str, host: str) -> bool:
    """Ask on stderr, read on stdin; anything but yes (Enter, EOF) is no."""
    sys.stderr.write("Revoke the %s on %s? [y/N] " % (named, host))
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def served_registries(service: Service, host: str) -> list[str]:
    """The registries served with ``host``'s tokens (known ones: no network asked)."""
    from credhelper.rules import container_registries as registries

    served = registries.served_registries(service.tokens.load(), service.config())
    return [r for r, (owner, _) in served.items() if owner == host]


def unset_clients(host: str, registries: list[str]) -> bool:
    """credhelper's git section for ``host`` and docker entries for its registries, gone;
    was there anything to take out?"""
    from credhelper.clientconfig import docker, undo
    from credhelper.clientconfig import git as gitconfig

    git_changes = undo.unset_git(host)
    undo.report(gitconfig.global_file(), git_changes)
    wanted = sorted(set(registries) | set(undo.docker_registries(host)))
    docker_changes = undo.unset_docker(wanted)
    undo.report(docker.config_path(), docker_changes)
    return bool(git_changes or docker_changes)
