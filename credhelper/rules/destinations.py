"""Where a token may be sent: the API origin of a record is bound to the record's host.

A token for ``HOST`` (with its port) goes to ``https://HOST`` and nowhere else: its API calls,
their DPoP proofs and an OAuth refresh all use that one origin (docs/gitlab.md#dpop).  Plain
http needs ``allow_http`` for the host; another origin (an API behind another name, a test
server on localhost) needs ``allow_api_origin`` naming exactly that origin for that host.  A
URL never carries userinfo, a query or a fragment: the first hides the real host
(``https://HOST@evil``), the others have no place in an API base URL.

The reasons given never echo the URL itself: userinfo may be a password.
"""

from __future__ import annotations

from credhelper.errors import InvalidInput
from credhelper.rules.hosts import normalise_host


def origin(url: str, allow_http: bool = False) -> tuple[str, str, str]:
    """(scheme, normalised host, path) of an http(s) URL, or InvalidInput saying why not."""
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidInput("has spaces or control characters")
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in ("https", "http"):
        raise InvalidInput("must start with https://")
    if scheme == "http" and not allow_http:
        raise InvalidInput("is plain http (set allow_http = true for the host to allow it)")
    if "?" in rest or "#" in rest:
        raise InvalidInput("must not have a query or fragment")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise InvalidInput("must not have userinfo (NAME@) before the host")
    try:
        host = normalise_host(authority, scheme)
    except InvalidInput:
        raise InvalidInput("has no valid host name") from None
    path = slash + path
    if any(part in (".", "..") for part in path.split("/")):
        raise InvalidInput("must not have . or .. in its path")
    return scheme, host, path


def check_allowed_origin(text: str, allow_http: bool) -> str:
    """``allow_api_origin`` as ``scheme://host[:port]`` (no path), normalised."""
    scheme, host, path = origin(text, allow_http)
    if path.strip("/"):
        raise InvalidInput("must be an origin only, e.g. https://api.example.com")
    return "%s://%s" % (scheme, host)


def check_api_url(host: str, url: str, allow_http: bool = False,
                  allowed_origin: str | None = None) -> str:
    """``url`` normalised (no trailing slash) when a token for ``host`` may go there."""
    scheme, target, path = origin(url, allow_http)
    found = "%s://%s" % (scheme, target)
    if target != host and found != allowed_origin:
        raise InvalidInput("is not on %s (allow another origin with allow_api_origin for "
                           "the host)" % host)
    return (found + path).rstrip("/")


def endpoints(host: str, api_url: str | None, allow_http: bool = False,
              allowed_origin: str | None = None) -> tuple[str, str]:
    """(base URL, API URL) for a token of ``host``: OAuth and the registry's token service
    live at the base URL, beside ``/api/v4``."""
    if not api_url:
        return "https://" + host, "https://%s/api/v4" % host
    api = check_api_url(host, api_url, allow_http, allowed_origin)
    base = api[:-len("/api/v4")] if api.endswith("/api/v4") else "https://" + host
    return base, api
