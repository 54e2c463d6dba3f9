"""The one strict URL parser every adapter reads URLs with (the keyring backend, GOAUTH,
cargo index URLs, docker server URLs, git's ``url=``, ``CI_SERVER_URL``), and the rare parts
of ``hosts.normalise_host`` (IPv6 and numeric hosts), kept off git's ``get`` path.

The host credhelper answers for must be the host the client connects to.  Clients parse URLs
differently: urllib3 (so requests and pip) ends the authority at a backslash where urlsplit
does not; git takes the first ``@``, urllib3 the last; ``int()`` reads ``٤٤٣`` as port 443 and
``str.strip()`` drops U+2003.  So whatever two parsers could read differently is refused with
one line, never guessed (docs/protocols.md, "Hosts and URLs"):

- only printable ASCII, with no space and no backslash anywhere in a URL, and at most one
  ``@`` before the host;
- a non-ASCII host is refused: IDNA is not applied (register the ``xn--`` punycode form,
  which is plain ASCII, and use it in URLs);
- the host is ASCII letters, digits, ``-``, ``.`` and ``_`` (so no percent-encoding, and no
  IPv6 zone id), or an IPv6 literal in brackets, kept in its one compressed spelling;
- a port is ASCII digits 1-65535 without leading zeros (``:0443`` is ambiguous), never empty;
- a numeric host is a canonical dotted quad: ``127.1``, ``0x7f.0.0.1`` and ``010.0.0.1`` are
  read as other addresses by inet_aton;
- one trailing dot (the DNS root) is dropped from a host; only ASCII space and tab are
  stripped at the ends of a host, nothing at the ends of a URL.

tests/test_url_parser.py checks this against urllib3, requests and git.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput
from credhelper.rules.hosts import bad_host, normalise_host

SCHEME_START = "abcdefghijklmnopqrstuvwxyz"
SCHEME_CHARS = SCHEME_START + "0123456789+.-"
IPV6_CHARS = "0123456789abcdef:."


def parse_url(text: str) -> tuple[str, str | None, str, str]:
    """``SCHEME://[USERINFO@]HOST[:PORT][/PATH][?...][#...]`` -> (scheme, userinfo or None,
    host as ``normalise_host`` gives it for that scheme, path).  The path starts with ``/``
    (or is empty) and is still percent-encoded; query and fragment are dropped.  A URL that
    clients could read as another host raises InvalidInput."""
    scheme, rest = _scheme(text)
    end = _first(rest, "/?#")
    authority, path = rest[:end], rest[end:]
    if authority.count("@") > 1:
        raise _bad_url("it has more than one @ before its host")
    userinfo, at, host = authority.rpartition("@")
    try:
        host = normalise_host(host, scheme)
    except InvalidInput as error:
        raise _bad_url(str(error).partition(":")[0]) from None
    return scheme, userinfo if at else None, host, path[:_first(path, "?#")]


def url_parts(url: str) -> dict[str, str]:
    """A URL as git's credential attributes (``protocol``, ``host``, ``username``,
    ``password``, ``path``), percent-decoded as git does for ``url=``."""
    protocol, userinfo, host, path = parse_url(url)
    found = {"protocol": protocol, "host": host}
    if userinfo:
        username, colon, password = userinfo.partition(":")
        if username:
            found["username"] = _decoded(username)
        if colon and password:
            found["password"] = _decoded(password)
    if path.strip("/"):
        found["path"] = _decoded(path.lstrip("/"))
    return found


def _decoded(text: str) -> str:
    if "%" not in text:
        return text
    from urllib.parse import unquote

    return unquote(text)


def _scheme(text: str) -> tuple[str, str]:
    """(the scheme in lower case, the rest after ``://``) of a URL that is plain ASCII."""
    if not text.isascii() or not text.isprintable() or " " in text or "\\" in text:
        raise _bad_url("it has a backslash, a space, a control or non-ASCII character")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme or scheme[0] not in SCHEME_START or scheme.strip(SCHEME_CHARS):
        raise _bad_url("it does not start SCHEME://")
    return scheme, rest


def _bad_url(reason: str) -> InvalidInput:
    # the URL itself is not repeated: its user part may hold a password
    return InvalidInput("refusing the URL (%s; see docs/protocols.md, \"Hosts and URLs\")"
                        % reason)


def _first(text: str, ends: str) -> int:
    """Where the first of ``ends`` is in ``text`` (its length when none is)."""
    found = [i for i in map(text.find, ends) if i >= 0]
    return min(found) if found else len(text)


def ipv6_literal(name: str, host: str) -> str:
    """``[0:0::1]`` -> ``[::1]``: one spelling per address."""
    inner = name[1:-1]
    if not inner or inner.strip(IPV6_CHARS):
        raise bad_host(host)
    import ipaddress

    try:
        return "[%s]" % ipaddress.IPv6Address(inner).compressed
    except ValueError:
        raise bad_host(host) from None


def check_dotted_quad(name: str, host: str) -> None:
    """A numeric host must be four decimal numbers 0-255 without leading zeros."""
    parts = name.split(".")
    if len(parts) != 4 or not all(p.isdigit() and (p == "0" or p[0] != "0") and int(p) < 256
                                  for p in parts):
        raise InvalidInput("a numeric host must be a dotted quad like 192.0.2.1: %r"
                           % host[:100])
