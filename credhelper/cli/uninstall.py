"""`credhelper uninstall [--revoke|--keep] [--forget-tokens]`: take credhelper out of every
client's configuration it wrote, so that no client runs a helper that is about to go (git
would print "'credential-gitlab' is not a git command" at every fetch):

- git: every ``credential.https://HOST`` section naming credhelper's helper, with its empty
  reset and a ``useHttpPath`` credhelper set (clientconfig/undo.py);
- docker: every ``credHelpers`` entry naming ``gitlab``;
- npm: the ``_authToken`` lines `credhelper npmrc` wrote with credhelper's tokens.

The tokens: each is offered for revocation at a terminal (no by default); one revoked is
forgotten.  The others stay in credhelper's store, so that nothing is lost silently (a
re-install finds them), unless ``--forget-tokens``: then a token not revoked is forgotten and
becomes an orphan that still works on the server, which its line says.  `./install.sh
--uninstall` runs this, then removes what install.sh itself put in place.
"""

from __future__ import annotations

from credhelper.cli.replaced import KEEP, REVOKE, at_a_terminal

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service


def register(commands: Commands) -> None:
    from credhelper.cli.logout import add_revoke_choice

    uninstall = commands.add_parser("uninstall", help="remove every git, docker and npm entry "
                                    "credhelper wrote; offer to revoke its tokens")
    add_revoke_choice(uninstall, "every token credhelper holds")
    uninstall.add_argument("--forget-tokens", action="store_true",
                           help="forget the tokens not revoked too (default: they stay in "
                           "credhelper's store)")
    uninstall.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.errors import CredhelperError
    from credhelper.rules.model import ADDED
    from credhelper.service import Service

    service = Service()
    records = [r for r in service.tokens.load() if r.origin == ADDED]
    secrets = {secret for r in records if (secret := service.secret(r, quiet=True))}
    unset_every_client()
    from credhelper.cli.npmrc import forget_tokens

    forget_tokens(secrets)
    kept, failed = settle_tokens(service, records, args.choice, args.forget_tokens)
    if kept:
        print("Kept %d token(s) in credhelper's store (credhelper list shows them): "
              "credhelper uninstall --forget-tokens forgets them, --revoke revokes them first"
              % len(kept))
    if failed:
        raise CredhelperError("could not revoke %s, so it was kept here: run uninstall again, "
                              "or with --keep" % ", ".join(failed))
    return 0


def unset_every_client() -> None:
    """git's and docker's entries naming credhelper, gone; one line per file changed."""
    from credhelper.clientconfig import docker, undo
    from credhelper.clientconfig import git as gitconfig

    changes = [change for host in undo.git_hosts() for change in undo.unset_git(host)]
    undo.report(gitconfig.global_file(), changes)
    undo.report(docker.config_path(), undo.unset_docker(undo.docker_registries()))


def settle_tokens(service: Service, records: list[TokenRecord], choice: str | None,
                  forget_all: bool) -> tuple[list[TokenRecord], list[str]]:
    """Revoke (as chosen) and forget; returns the tokens kept in the store and the ones that
    could not be revoked."""
    from credhelper.cli.logout import settle
    from credhelper.cli.remove import forget

    interactive = at_a_terminal()
    kept, failed, gone = [], [], []
    for record in records:
        wanted = choice == REVOKE or (choice is None and interactive and _ask(record))
        if not (wanted or forget_all):
            kept.append(record)
            continue
        reason = settle(service, record, REVOKE if wanted else KEEP, interactive)
        if reason is None:
            gone.append(record)
        else:
            failed.append("%s (%s)" % (record.hint or "?", reason))
    forget(service, gone)
    return kept, failed


def _ask(record: TokenRecord) -> bool:
    """The question for a token that can be revoked from here (a live access token)."""
    from credhelper.cli.logout import ask, label
    from credhelper.rules.model import EXPIRED, PAT, REVOKED

    return record.kind == PAT and record.state not in (REVOKED, EXPIRED) \
        and ask(label(record), record.host)
