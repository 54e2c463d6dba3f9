"""Host names and paths, normalised so that matching is exact and safe.

A credential belongs to one host *with its port*.  Matching is by equality on the normalised
form, never by prefix or suffix, so ``gitlab.example.com.evil.test`` or another port never
match ``gitlab.example.com``.  ``normalise_host`` is strict: what a client could read as
another host is refused, not guessed (the rules are in rules/urls.py, which parses URLs).
On git's ``get`` path: hand-written ASCII checks only, and a short module to compile.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput

DEFAULT_PORTS = {"https": "443", "http": "80"}
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._"   # after lower()
BLANKS = " \t"                                           # the only characters stripped
MAX_HOST = 300
MAX_LABEL = 63


def normalise_host(host: str, protocol: str = "https") -> str:
    """``GitLab.Example.COM.:443`` -> ``gitlab.example.com``; ``[::1]:8443`` kept as is;
    anything ambiguous (rules/urls.py) raises InvalidInput."""
    text = host.strip(BLANKS).lower()
    if not text or len(text) > MAX_HOST or not text.isascii() or not text.isprintable():
        raise bad_host(host)
    name, port = _split_port(text, host)
    if name.startswith("["):
        from credhelper.rules.urls import ipv6_literal  # rare: an IPv6 address

        name = ipv6_literal(name, host)
    else:
        name = _name(name, host)
    if port is None or port == DEFAULT_PORTS.get(protocol):
        return name
    return name + ":" + port


def bad_host(host: str) -> InvalidInput:
    return InvalidInput("invalid host name: %r" % host[:100])


def _split_port(text: str, host: str) -> tuple[str, str | None]:
    """(name, port or None); the port is checked here."""
    if text.startswith("["):  # IPv6 literal
        end = text.find("]")
        if end < 0:
            raise bad_host(host)
        name, rest = text[:end + 1], text[end + 1:]
        if not rest:
            return name, None
        if not rest.startswith(":"):
            raise bad_host(host)
        return name, _port(rest[1:], host)
    colons = text.count(":")
    if not colons:
        return text, None
    if colons > 1:
        raise InvalidInput("IPv6 addresses need brackets: %r" % host[:100])
    name, _, port = text.partition(":")
    return name, _port(port, host)


def _port(port: str, host: str) -> str:
    # isascii: str.isdigit() also accepts "²" and "٣"; a leading zero is ambiguous
    if not port.isascii() or not port.isdigit() or port[0] == "0" or int(port) > 65535:
        raise InvalidInput("invalid port in host: %r" % host[:100])
    return port


def _name(name: str, host: str) -> str:
    if name.endswith("."):
        name = name[:-1]          # the root label: the same DNS name
    if not name or name.strip(NAME_CHARS) or name[0] == "." or name[-1] == "." or ".." in name:
        raise bad_host(host)
    if len(name) > MAX_LABEL and max(len(label) for label in name.split(".")) > MAX_LABEL:
        # no DNS name (RFC 1035): urllib3 would refuse to connect with an error of its own
        raise InvalidInput("invalid host name: a name's parts are at most %d characters: %r"
                           % (MAX_LABEL, host[:100]))
    last = name.rpartition(".")[2]
    if last.isdigit() or last.startswith("0x"):   # inet_aton reads it as an address
        from credhelper.rules.urls import check_dotted_quad  # rare: a numeric host

        check_dotted_quad(name, host)
    return name


def normalise_path(path: str | None) -> str | None:
    """``/Group/sub/project.git/`` -> ``group/sub/project``; empty -> None."""
    if path is None:
        return None
    parts = [p for p in path.strip(BLANKS).lower().split("/") if p]  # GitLab routes ignore case
    if parts and parts[-1].endswith(".git"):
        parts[-1] = parts[-1][:-4]
    if any(p in (".", "..") for p in parts):
        raise InvalidInput("invalid path: %r" % path[:200])
    return "/".join(parts) or None


def path_within(path: str | None, prefix: str | None) -> bool:
    """True when ``path`` is ``prefix`` or below it, on segment boundaries."""
    if prefix is None:
        return True
    if path is None:
        return False
    return path == prefix or path.startswith(prefix + "/")
