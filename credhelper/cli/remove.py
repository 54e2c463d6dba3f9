"""`credhelper remove HOST`: forget tokens (index entry and secret), revoking them on the
server first if asked."""

from __future__ import annotations

from credhelper.cli.common import path_note
from credhelper.errors import CredhelperError
from credhelper.rules.model import ADDED, KIND_NAMES, PAT

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service


def register(commands: Commands) -> None:
    remove = commands.add_parser("remove", help="forget a token (secret and metadata)")
    remove.add_argument("host", metavar="HOST")
    remove.add_argument("--path", metavar="PREFIX")
    remove.add_argument("--kind", choices=("pat", "deploy", "oauth", "job"))
    remove.add_argument("--username")
    remove.add_argument("--all", action="store_true", help="every token of HOST, any path")
    remove.add_argument("--revoke", action="store_true",
                        help="revoke the token on the server first (personal access tokens)")
    remove.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.service import Service

    service = Service()
    host = accounts.host_argument(args.host)
    chosen = accounts.select(service.tokens.load(), host, args.path, args.kind, args.username,
                             every=args.all)
    if not chosen:
        raise _no_match(service.tokens.load(), host)
    if args.revoke:
        for record in chosen:
            revoke(service, record)
    forget(service, chosen)
    if not any(r.host == host and r.origin == ADDED for r in service.tokens.load()):
        _tell_git_still_asks(host)
    return 0


def _tell_git_still_asks(host: str) -> None:
    """The last token of ``host`` is gone but `setup git` left credhelper as its only helper:
    git would prompt from now on, and `logout` is what undoes the setup."""
    import sys

    from credhelper.clientconfig import git
    from credhelper.rules.redact import scrub

    try:
        helpers = git.helpers_for(host)
    except CredhelperError:
        return                          # no git: nothing asks
    if "" in helpers and any(git.is_ours(helper) for helper in helpers):
        print(scrub("credhelper: no token is left for %s, and git asks only credhelper for it "
                    "(so git will prompt); add one, or give it back to your other helpers: "
                    "credhelper logout %s" % (host, host)), file=sys.stderr)


def forget(service: Service, chosen: list[TokenRecord]) -> None:
    """Forget the tokens (secret and metadata) and npm's copies of them; one line each."""
    from credhelper.cli.npmrc import forget_tokens
    from credhelper.rules.redact import scrub

    secrets = {secret for record in chosen if (secret := service.secret(record, quiet=True))}
    service.forget(chosen)
    forget_tokens(secrets)           # npm's copy in ~/.npmrc (README, "Package managers")
    for record in chosen:
        print(scrub("Removed %s %s for %s%s" % (KIND_NAMES[record.kind], record.hint,
                                               record.host, path_note(record.path))))


def _no_match(records: list[TokenRecord], host: str) -> CredhelperError:
    """The error for a selection that matched nothing, naming what ``host`` does have."""
    others = [r for r in records if r.host == host]
    hint = "; registered there: %s" % ", ".join(
        "--path %s" % r.path if r.path else "(no path)" for r in others) if others else ""
    return CredhelperError("no matching token for %s%s" % (host, hint))


def revoke(service: Service, record: TokenRecord) -> None:
    """Revoke a PAT on the server before it is forgotten; an already dead one is fine."""
    from credhelper.gitlab.errors import TokenRejected

    if record.kind != PAT:
        raise CredhelperError("only access tokens can be revoked through the API; revoke the "
                              "%s in GitLab's settings" % record.kind)
    try:
        service.keeper().revoke(record, service.context())
    except TokenRejected:
        pass   # expired, revoked or unknown already: nothing left to revoke
