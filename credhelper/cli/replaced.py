"""What `credhelper add` does about the tokens a new one replaces (issue 12; README,
"Several accounts"): a token of unknown owner never replaces another, and the same account's
old token is offered for revocation on the server.

Registering deletes the replaced secrets, so ``held`` reads them first; they are revoked
only once the new token is stored, so a failure on the way never leaves the user without a
working token.  The question goes to the terminal (stderr), never to stdout.
"""

from __future__ import annotations

import sys

from credhelper.errors import CredhelperError, InvalidInput
from credhelper.rules.model import ADDED, EXPIRED, KIND_NAMES, PAT, REVOKED, UNKNOWN
from credhelper.rules.redact import scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service

# --revoke-replaced / --keep-replaced / neither (ask at a terminal, else say)
REVOKE, KEEP, ASK = "revoke", "keep", "ask"


def _replaced(service: Service, record: TokenRecord, token: str) -> list[TokenRecord]:
    """The records adding ``record`` would replace (its slot), never the same token."""
    return [r for r in service.tokens.load()
            if r.slot() == record.slot() and service.secret(r, quiet=True) != token]


def refuse_unknown_owner(service: Service, record: TokenRecord, token: str) -> None:
    """A token whose owner is unknown (not checked, or the server could not be asked, and no
    ``--username``) may be any account's, and so may the unknown owner's token already
    there: neither replaces the other.  The user names the accounts, lets the server tell
    them, or removes the old one."""
    if record.origin != ADDED or record.owner() is not None:
        return
    others = _replaced(service, record, token)
    if not others:
        return
    where = record.host + (" --path " + record.path if record.path else "")
    raise InvalidInput(
        "not added: %s already has the %s %s of unknown owner, and this one's owner is "
        "unknown too (not checked with the server), so it may be another account's: name "
        "each token's account with --username, or remove the old one first (credhelper "
        "remove %s)" % (where, KIND_NAMES[others[0].kind], others[0].hint or "?", where))


def held(service: Service, record: TokenRecord, token: str
         ) -> list[tuple[TokenRecord, str]]:
    """The access tokens ``record`` replaces, with their secrets (read before registering
    deletes them), to revoke once the new token is stored."""
    found = []
    for old in _replaced(service, record, token):
        secret = service.secret(old, quiet=True)
        if old.kind == PAT and secret and old.state not in (REVOKED, EXPIRED, UNKNOWN):
            found.append((old, secret))
    return found


def settle(service: Service, replaced: list[tuple[TokenRecord, str]], choice: str) -> None:
    """Revoke the replaced tokens, or say they still work: ``choice`` is REVOKE, KEEP or ASK
    (a question at a terminal, else the one line naming --revoke-replaced)."""
    interactive = at_a_terminal()
    failed = [failure for old, secret in replaced
              if (failure := _settle_one(service, old, secret, choice, interactive))]
    if failed:
        raise CredhelperError("the new token was added, but could not revoke the replaced "
                              "token %s; revoke it in GitLab's access token settings"
                              % ", ".join(failed))


def _settle_one(service: Service, old: TokenRecord, secret: str, choice: str,
                interactive: bool) -> str | None:
    """One replaced token: revoked, kept or told about; returns why revoking it failed."""
    label = _label(old)
    if choice == KEEP:
        print(scrub("The replaced token %s still works on the server (--keep-replaced)"
                    % label))
        return None
    if choice == REVOKE or (interactive and _ask(label)):
        reason = revoke_with(service, old, secret)
        if reason is not None:
            return "%s (%s)" % (label, reason)
        print(scrub("Revoked the replaced token %s on the server" % label))
        return None
    if interactive:             # asked, and the answer was no
        print(scrub("The replaced token %s still works on the server; revoke it in GitLab's "
                    "access token settings once nothing uses it" % label))
    else:
        print(scrub("The replaced token %s still works on the server: revoke it in GitLab's "
                    "access token settings (add --revoke-replaced revokes the token it "
                    "replaces)" % label))
    return None


def _label(old: TokenRecord) -> str:
    """The old token's hint and, when the server named it, its name (the server's text:
    callers scrub it)."""
    return (old.hint or "?") + (" (%s)" % old.token_name if old.token_name else "")


def at_a_terminal() -> bool:
    """A person at a terminal can answer: stdin and stderr are both one."""
    try:
        return bool(sys.stdin and sys.stdin.isatty() and sys.stderr.isatty())
    except ValueError:              # a closed stream
        return False


def _ask(label: str) -> bool:
    """Ask on stderr, read the answer on stdin; anything but yes (Enter, EOF) is no."""
    sys.stderr.write(scrub("Revoke the replaced token %s on the server? [y/N] " % label))
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def revoke_with(service: Service, old: TokenRecord, secret: str) -> str | None:
    """Revoke ``old`` with its held secret; None when done (or already dead on the server),
    else why not."""
    from credhelper.gitlab.errors import ApiError, TokenRejected

    try:
        service.keeper().revoke(old, service.context(), secret)
    except TokenRejected:
        pass                        # expired, revoked or unknown already: nothing to revoke
    except ApiError as error:
        return str(error)
    return None
