"""Which proxy a GitLab host's API calls go through: the one git uses for that host, so a
machine whose git reaches GitLab through a proxy gets its checks, rotations, logins and probes
through it too (README, "Configuration").

The first of these that is set decides, as git and its curl decide:

1. ``proxy`` in the host's table of config.toml; ``proxy = ""`` means a direct connection;
2. git's ``http.proxy`` for ``https://HOST/`` (``git config --get-urlmatch``: the most
   specific URL wins); an empty one means a direct connection, as in git;
3. curl's variables: ``https_proxy``, ``HTTPS_PROXY``, ``all_proxy``, ``ALL_PROXY``.

For 2 and 3, ``no_proxy`` (or ``NO_PROXY``) naming the host, a domain above it or ``*``
means a direct connection, as in curl.  A proxy sees the host and port of the tunnel it opens
(CONNECT), never a token: the calls are TLS end to end inside it, verified by the host's
trust (local/trust.py).  Only ``http://`` proxies are used; any other kind is refused with
one line, and nothing is sent.  The proxy's own password (``http://user:pass@proxy``) goes to
the proxy only and is never shown: words name the proxy by scheme, host and port.
"""

from __future__ import annotations

import os

from credhelper.errors import ConfigError

CURL_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class Proxy:
    """A proxy to use: its URL (with its credentials, for the connection only) and the words
    that name it (without them)."""

    __slots__ = ("url", "words")

    def __init__(self, url: str, words: str) -> None:
        self.url = url
        self.words = words


def proxy_for(host: str, configured: str | None) -> Proxy | None:
    """The proxy for ``host``'s API calls, None for a direct connection; ConfigError for one
    that cannot be used.  ``configured``: the host's ``proxy`` setting, if any."""
    if configured is not None:
        return checked(configured, "proxy in config.toml", host) if configured else None
    from credhelper.local.trust import git_config_value

    value = git_config_value(host, "http.proxy")
    source = "git's http.proxy"
    if value == "":
        return None                       # as in git: an empty proxy turns the variables off
    if value is None:
        source, value = next(((name, os.environ[name]) for name in CURL_VARIABLES
                              if os.environ.get(name)), ("", ""))
    if not value or bypassed(host, os.environ.get("no_proxy") or os.environ.get("NO_PROXY")):
        return None
    return checked(value, source if source.startswith("git") else "from " + source, host)


def checked(value: str, source: str, host: str) -> Proxy:
    """``value`` as a Proxy, or ConfigError saying what to set instead.  Read with the
    project's one URL parser (rules/urls.py); the words keep scheme, host and port only."""
    from credhelper.errors import InvalidInput
    from credhelper.rules.urls import parse_url

    url = value.strip() if "://" in value else "http://" + value.strip()   # curl's default
    try:
        scheme, _, address, path = parse_url(url)
        shown = "%s://%s" % (scheme, address)
    except InvalidInput:
        scheme, address, path, shown = "", "", "", "that is not a URL"
    if scheme != "http" or not address or path not in ("", "/") or "?" in url or "#" in url:
        raise ConfigError(
            'not calling the API of %s through the proxy %s (%s): credhelper uses http:// '
            'proxies only; set proxy = "http://HOST:PORT" (or "" for none) under [hosts."%s"] '
            "in its config.toml" % (host, shown, source, host))
    return Proxy(url, "the proxy %s (%s)" % (shown, source))


def bypassed(host: str, no_proxy: str | None) -> bool:
    """Does curl's ``no_proxy`` list name ``host`` (``HOST[:PORT]``): ``*``, the name
    itself, or a domain above it (with or without its leading dot)?"""
    if not no_proxy:
        return False
    name = _name(host)
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = _name(entry.strip()).lstrip(".")
        if entry == "*" or (entry and (name == entry or name.endswith("." + entry))):
            return True
    return False


def _name(host: str) -> str:
    """The lower-case name of ``HOST[:PORT]`` (an IPv6 literal keeps its brackets off)."""
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    return host.rpartition(":")[0].lower() if host.count(":") == 1 else host.lower()
