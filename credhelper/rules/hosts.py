"""Host names and paths, normalised so that matching is exact and safe.

A credential belongs to one host *with its port*.  Matching is by equality on the normalised
form, never by prefix or suffix, so ``gitlab.example.com.evil.test`` or another port never
match ``gitlab.example.com``.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput

DEFAULT_PORTS = {"https": "443", "http": "80"}


def normalise_host(host: str, protocol: str = "https") -> str:
    """``GitLab.Example.COM.:443`` -> ``gitlab.example.com``; ``[::1]:8443`` kept as is."""
    host = host.strip().lower()
    if not host or any(c in host for c in "/\\@ \t?#") or not host.isprintable():
        raise InvalidInput("invalid host name: %r" % host[:100])
    name, port = _split_port(host)
    name = name.rstrip(".") if not name.startswith("[") else name
    if not name:
        raise InvalidInput("invalid host name: %r" % host[:100])
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInput("invalid port in host: %r" % host[:100])
        port = str(int(port))
        if port == DEFAULT_PORTS.get(protocol):
            port = None
    return name if port is None else "%s:%s" % (name, port)


def _split_port(host: str) -> tuple[str, str | None]:
    if host.startswith("["):  # IPv6 literal
        end = host.find("]")
        if end < 0:
            raise InvalidInput("invalid host name: %r" % host[:100])
        rest = host[end + 1:]
        if rest and not rest.startswith(":"):
            raise InvalidInput("invalid host name: %r" % host[:100])
        return host[:end + 1], (rest[1:] or None) if rest else None
    if host.count(":") == 1:
        name, port = host.split(":")
        return name, port
    if ":" in host:
        raise InvalidInput("IPv6 addresses need brackets: %r" % host[:100])
    return host, None


def normalise_path(path: str | None) -> str | None:
    """``/Group/sub/project.git/`` -> ``group/sub/project``; empty -> None."""
    if path is None:
        return None
    parts = [p for p in path.strip().lower().split("/") if p]  # GitLab routes ignore case
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
