"""`credhelper login HOST --pat`: a personal access token made by the person on GitLab's own
page, with the name and the least-privilege scopes filled in, pasted at a no-echo prompt and
stored as `credhelper add` stores it (cli/add.py).

The scopes asked for are git read and write, the container registry's read and write, and
``self_rotate`` so the token renews itself (docs/gitlab.md#rotation); never ``api`` unless
``--scopes`` asks.  A pasted token that cannot rotate itself, or expires soon, is named at
once: it would otherwise stop working some day without a word before.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service

PAT_SCOPES = ("read_repository", "write_repository", "read_registry", "write_registry",
              "self_rotate")


def token_page(host: str, name: str, scopes: list[str]) -> str:
    """GitLab's "Add a personal access token" page with the name and scopes pre-filled."""
    from urllib.parse import urlencode

    return "https://%s/-/user_settings/personal_access_tokens?%s" % (
        host, urlencode({"name": name, "scopes": ",".join(scopes)}, safe=","))


def token_name() -> str:
    """``credhelper on MACHINE``: which machine holds the token, on GitLab's token list."""
    import re
    import socket

    machine = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0])[:40]
    return "credhelper on %s" % (machine or "this machine")


def guided_pat(service: Service, host: str, scopes_text: str | None, store: str | None,
               no_setup: bool = False) -> int:
    from credhelper.cli.add import build_record, store_checked
    from credhelper.cli.login import oauth_scopes, tell

    scopes = oauth_scopes(scopes_text) if scopes_text else list(PAT_SCOPES)
    tell("Create a personal access token on this page (the name and scopes are filled in; "
         "choose its expiry), then paste it here:\n  %s" % token_page(host, token_name(), scopes))
    token = _read_token(host)
    record = build_record(host, token, _pat_kind(token), today=service._today())
    record = store_checked(service, record, token, store, no_setup=no_setup)
    for warning in pat_warnings(service, record):
        service.warn(warning)
    return 0


def _read_token(host: str) -> str:
    """The token from the no-echo prompt (or stdin); Ctrl-D or Ctrl-C there cancels the
    login (cli/common.prompted)."""
    from credhelper import accounts
    from credhelper.cli.common import read_secret

    (token,) = read_secret("Token for %s: " % host)
    return accounts.check_token(token)


def _pat_kind(token: str) -> str:
    """A personal access token: a custom prefix is taken as one, another kind's is refused."""
    from credhelper.errors import InvalidInput
    from credhelper.rules.model import KIND_NAMES, PAT, kind_from_prefix

    kind = kind_from_prefix(token) or PAT
    if kind != PAT:
        raise InvalidInput("that is a %s, not a personal access token; nothing was stored"
                           % KIND_NAMES.get(kind, "token"))
    return PAT


def pat_warnings(service: Service, record: TokenRecord) -> list[str]:
    """What is wrong with the token as the server described it: it cannot rotate itself,
    it expires within the policy's warn_before_days."""
    from credhelper.rules import freshness

    if record.checked_at is None:
        return []                 # the server could not be asked: add's own warning said so
    left = freshness.days_left(record, service.clock())
    when = "on %s (%s)" % (record.expires_at, "today" if left == 0 else "in %d days" % left) \
        if left is not None else "when revoked"
    if not freshness.SELF_ROTATE_SCOPES.intersection(record.scopes or ()):
        return ["the token %s has neither self_rotate nor api scope, so it cannot rotate "
                "itself: it stops working %s; for one that renews itself, create it with "
                "self_rotate and run credhelper login %s --pat again"
                % (record.hint, when, record.host)]
    if left is not None and left <= service.config().policy(record.host).warn_before_days:
        return ["the token %s expires %s; it rotates itself at the next git command before "
                "then" % (record.hint, when)]
    return []
