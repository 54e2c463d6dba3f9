"""What several admin commands share about their arguments: the HOST argument, a token
pasted by a person, and choosing registered tokens by host, path, kind and username.

What one command alone needs lives in that command's module (building and validating a
record: cli/add.py; revoking: cli/remove.py; the status rows: cli/status.py; the token
`dpop-gen` signs for: cli/dpop_gen.py).  Storing and forgetting are ``Service.register`` and
``Service.forget``.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput
from credhelper.rules.hosts import normalise_host, normalise_path
from credhelper.rules.model import CI_ENV

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from credhelper.rules.model import TokenRecord

MAX_TOKEN_LENGTH = 4096


def host_argument(text: str) -> str:
    """``gitlab.example.com``, ``gitlab.example.com:8443`` or ``https://gitlab.example.com/``."""
    protocol = "https"
    if "://" in text:
        protocol, _, text = text.partition("://")
        text = text.split("/", 1)[0]
    if looks_like_token(text):
        # checked before normalise_host, whose errors quote the host
        raise InvalidInput("HOST looks like a token, not a host name (a token goes on stdin, "
                           "never on the command line: revoke this one if others can see "
                           "your shell history)")
    host: str = normalise_host(text, protocol.lower())
    return host


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
            and _given(r.kind, kind) and _given(r.username, username)]


def _given(value: str | None, wanted: str | None) -> bool:
    """Is ``value`` the one asked for (anything is, when nothing is asked for)?"""
    return not wanted or value == wanted
