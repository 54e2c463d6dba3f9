"""What several admin commands share about their arguments: the HOST argument, a token
pasted by a person, and choosing registered tokens by host, path, kind and username; and the
account a token belongs to (its owner, learnt at `add`, checked against ``--username``).

What one command alone needs lives in that command's module (building and validating a
record: cli/add.py; what a new token replaces: cli/replaced.py; revoking: cli/remove.py; the
status rows: cli/status.py; the token `dpop-gen` signs for: cli/dpop_gen.py).  Storing and
forgetting are ``Service.register`` and ``Service.forget``.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput
from credhelper.rules.hosts import normalise_host, normalise_path
from credhelper.rules.model import CI_ENV, OAUTH, PAT
from credhelper.rules.resolver import owned_by

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service

MAX_TOKEN_LENGTH = 4096
# what GitLab allows in a username (and what `add --username` takes: cli/add.py)
USERNAME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789_.+@-")


def host_argument(text: str) -> str:
    """``gitlab.example.com``, ``gitlab.example.com:8443`` or ``https://gitlab.example.com/``;
    a URL with a project path is refused (``host_and_path`` takes one), never cut short."""
    host, path = _host_and_url_path(text)
    if path:
        raise InvalidInput("HOST is a URL with a path (%s): give the host alone (and --path %s "
                           "where the command takes one)" % (path, path))
    return host


def host_and_path(text: str, path: str | None) -> tuple[str, str | None]:
    """HOST and ``--path``; a project's URL as HOST (``https://H/group/project.git``, or a
    page of it) gives its path, which must agree with ``--path`` when both are given."""
    host, url_path = _host_and_url_path(text)
    given = normalise_path(path)
    if url_path and given and url_path != given:
        raise InvalidInput("HOST names the path %s but --path says %s; give one of them"
                           % (url_path, given))
    return host, url_path or given


def _host_and_url_path(text: str) -> tuple[str, str | None]:
    protocol = "https"
    path = ""
    if "://" in text:
        protocol, _, text = text.partition("://")
        text, _, path = text.partition("/")
        # GitLab's routes put /-/ between a project's path and its pages (/-/tree/main)
        path = ("/" + path).split("?", 1)[0].split("#", 1)[0].split("/-/", 1)[0]
    if looks_like_token(text):
        # checked before normalise_host, whose errors quote the host
        raise InvalidInput("HOST looks like a token, not a host name (a token goes on stdin, "
                           "never on the command line: revoke this one if others can see "
                           "your shell history)")
    host: str = normalise_host(text, protocol.lower())
    return host, normalise_path(path)


def looks_like_token(text: str) -> bool:
    """A secret pasted where the host goes: a GitLab token prefix, or a long random-looking
    string without a dot (host names without one are short words: ``gitlab``,
    ``localhost:8443``; those with letters, digits and capitals mixed are not typed)."""
    from credhelper.rules.redact import KNOWN_PREFIXES

    name = text.strip()
    if name.count(":") == 1:
        name = name.split(":")[0]        # a port
    if name.lower().startswith(KNOWN_PREFIXES):
        return True
    if "." in name or name.startswith("[") or len(name) < 16:
        return False
    return "_" in name or _random_looking(name)


def _random_looking(name: str) -> bool:
    """Capitals, small letters and digits mixed, or a long hex string."""
    mixed = any(c.isupper() for c in name) and any(c.islower() for c in name) and \
        any(c.isdigit() for c in name)
    return mixed or (len(name) >= 32 and all(c in "0123456789abcdefABCDEF" for c in name))


def check_token(token: str) -> str:
    if not token:
        raise InvalidInput("no token given (pipe it on stdin or type it at the prompt)")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidInput("the token is longer than %d characters" % MAX_TOKEN_LENGTH)
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise InvalidInput("the token has spaces or control characters; paste it alone")
    return token


def select(records: Iterable[TokenRecord], host: str, path: str | None = None,
           kind: str | None = None, username: str | None = None,
           every: bool = False) -> list[TokenRecord]:
    """The user's tokens for ``host`` (never the CI job's): at ``path`` unless ``every``,
    of ``kind`` and ``username`` when given."""
    wanted_path = None if every else normalise_path(path)
    return [r for r in records
            if r.host == host and r.origin != CI_ENV and (every or r.path == wanted_path)
            and _given(r.kind, kind) and (not username or owned_by(r, username))]


def account_name(record: TokenRecord) -> str:
    """The name to pass as ``--username`` to pick ``record``'s account."""
    return record.username or record.owner_name or "(owner unknown)"


def login_and_account(record: TokenRecord) -> str:
    """The name the token logs in as, and whose account it is when the server said."""
    login = record.login_name()
    if record.owner_name and record.owner_name != login:
        return "%s (account %s)" % (login, record.owner_name)
    return login


def _given(value: str | None, wanted: str | None) -> bool:
    """Is ``value`` the one asked for (anything is, when nothing is asked for)?"""
    return not wanted or value == wanted


def learn_owner(service: Service, record: TokenRecord, token: str) -> TokenRecord:
    """``record`` with its owner's username, asked at `add` (never on the ``get`` path) for a
    PAT or OAuth token the server has vouched for.  GET /user needs api, read_api or
    read_user: a token with only repository scopes keeps just its owner's id."""
    if record.kind not in (PAT, OAUTH) or record.checked_at is None:
        return record
    from credhelper.gitlab.errors import ApiError

    keeper = service.keeper()
    try:
        info = keeper.clients(record, keeper.settings, service.context()).current_user(
            token, bearer=record.kind == OAUTH)
    except ApiError:
        return record
    name = info.get("username")
    if info.get("id") != record.user_id or not isinstance(name, str) or \
            not USERNAME_CHARACTERS.issuperset(name) or not 0 < len(name) <= 255:
        return record                # not the answer about this token's owner: ignored
    return record.replace(owner_name=name)


def check_username(record: TokenRecord, username: str | None) -> str | None:
    """``--username`` against the token's owner: one account's token is never registered
    under another's name.  Returns a warning when the owner could not be read."""
    if not username or record.kind not in (PAT, OAUTH) or record.checked_at is None:
        return None                  # nothing to check, or `add --no-check`
    if record.owner_name is None:
        return ("the token may not read its owner's name (scopes api, read_api or read_user "
                "do), so --username %s is not checked" % username)
    if record.owner_name.lower() != username.lower():
        raise InvalidInput("not added: the token belongs to %s, not to --username %s"
                           % (record.owner_name, username))
    return None
