"""Whether a credential a client hands back is news: git's ``store`` after every successful
command, ``docker login`` with the token credhelper serves.  Shared by ``Service.remember``
and the ``get``/``store`` fast path (``fast_service.py``), so both decide by the same rules; it
asks the service for records, secrets and settings and imports nothing heavy.
"""

from __future__ import annotations

from credhelper.rules import resolver
from credhelper.rules.model import GIT_STORE, REGISTRY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from credhelper.rules.model import Request, TokenRecord


def is_news(service: Any, request: Request, username: str | None, secret: str | None,
            origin: str, records: Callable[[], list[TokenRecord]]) -> bool:
    """Should this credential be kept?  Not when it cannot be (``storable``), travels over a
    transport we do not serve, is git's for a host credhelper does not manage, or is the
    very one we serve (``records()`` is asked only once the cheap checks pass)."""
    if not storable(username, secret) or not resolver.transport_allowed(
            request.protocol, service.allow_http(request)):
        return False
    assert username is not None and secret is not None
    known = records()
    if origin == GIT_STORE and not service.manages(request.host, known):
        return False
    return not already_served(service, request, known, username, secret)


def storable(username: str | None, secret: str | None) -> bool:
    """May a client's credential be kept?  Refuses CR, LF, NUL and odd usernames outright."""
    if not username or not secret or secret.startswith("glcbt-"):
        return False  # job tokens die with their job: storing one would only serve a dead token
    if any(c in value for value in (username, secret) for c in "\r\n\0") or not (
            username.isprintable()):   # `list` and `status` show it
        from credhelper.errors import ProtocolError

        raise ProtocolError("refusing to store a credential containing CR, LF or NUL, or a "
                            "username with control characters")
    return True


def already_served(service: Any, request: Request, records: list[TokenRecord],
                   username: str, secret: str) -> bool:
    """Is a client storing what we just gave it (git after a fetch, docker login with
    the token we serve)?"""
    if request.service == REGISTRY:
        from credhelper.registry_service import lookup_registry

        served = lookup_registry(service, request)
        if served is not None and (served.username, served.secret) == (username, secret):
            return True
    same_login = [r for r in resolver.matching(records, request, service.allow_http(request))
                  if r.login_name(username) == username]
    return any(service.secret(r, quiet=True) == secret for r in same_login)
