"""What can go wrong when asking GitLab about a token, as the lifecycle needs to tell it apart.

None of these messages ever contains the token: they are built from status codes and the
server's own error descriptions only, and scrubbed when made (rules/redact.py: a server may
echo the token, or put terminal escapes in its words).
"""

from __future__ import annotations

from credhelper.errors import CredhelperError


class ApiError(CredhelperError):
    """Base: the server could not or would not answer as hoped."""

    def __init__(self, message: str, status: int | None = None) -> None:
        from credhelper.rules.redact import scrub

        super().__init__(scrub(message))
        self.status = status


class TokenRejected(ApiError):
    """401: the token does not work.  ``reason`` is "expired", "revoked" or "unknown"."""

    def __init__(self, reason: str, message: str, status: int = 401) -> None:
        super().__init__(message, status)
        self.reason = reason


class InsufficientScope(ApiError):
    """403: the token works but lacks the scope (e.g. rotation needs api or self_rotate)."""


class Refused(ApiError):
    """400/405/422: the server understood and said no (a date it refuses, not a PAT...).
    ``code`` is an OAuth error's name (``invalid_grant``, ``authorization_pending``...)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message, status)
        self.code = code


class DpopRequired(ApiError):
    """401 dpop_error: the token is DPoP-bound and the request had no valid proof."""


class Unavailable(ApiError):
    """No usable answer: the server was not reached, did not answer in time, failed (5xx,
    429), or answered with a body that is not a bounded JSON object.

    ``retry_after`` is the server's Retry-After in seconds (ASCII digits or an HTTP date,
    at most 3600), when it gave a valid one; ``status`` the HTTP status, when one arrived.

    ``ambiguous`` is True when the request MAY HAVE BEEN CARRIED OUT on the server.  It is
    set only for POST (rotate, OAuth refresh), and then for every failure after the first
    byte of the request was handed to the socket:

    - no answer within the call's deadline (read timeout, an answer dripped too slowly);
    - the connection dropped or reset after sending, a truncated answer;
    - a 5xx or 429 answer (GitLab may commit, then fail; a proxy may time out while the
      server carries on);
    - a 200 whose body is not a JSON object, too big (over 256 KiB decoded), too deep,
      with non-finite numbers or cut short.

    It is False, for POST too, when the request cannot have reached the server: no time
    left to start a call, the name does not resolve, the connection is refused, the
    connect times out, the TLS handshake fails.  For GET and DELETE it is always False
    (repeating them is harmless).  Every other ApiError (TokenRejected, InsufficientScope,
    Refused, DpopRequired) is definitive: the server answered and did not carry it out.
    """

    def __init__(self, message: str, status: int | None = None, retry_after: int | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class NoTimeLeft(Unavailable):
    """This request's network budget ran out before the call started: the server was never
    asked, so this is no sign that it is down, and it starts no backoff (outcomes.failed)."""

    def __init__(self) -> None:
        super().__init__("no time left to ask the server")
