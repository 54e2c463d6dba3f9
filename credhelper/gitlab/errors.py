"""What can go wrong when asking GitLab about a token, as the lifecycle needs to tell it apart.

None of these messages ever contains the token: they are built from status codes and the
server's own error descriptions only.
"""

from __future__ import annotations

from credhelper.errors import CredhelperError


class ApiError(CredhelperError):
    """Base: the server could not or would not answer as hoped."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TokenRejected(ApiError):
    """401: the token does not work.  ``reason`` is "expired", "revoked" or "unknown"."""

    def __init__(self, reason: str, message: str, status: int = 401) -> None:
        super().__init__(message, status)
        self.reason = reason


class InsufficientScope(ApiError):
    """403: the token works but lacks the scope (e.g. rotation needs api or self_rotate)."""


class Refused(ApiError):
    """400/405/422: the server understood and said no (a date it refuses, not a PAT...)."""


class DpopRequired(ApiError):
    """401 dpop_error: the token is DPoP-bound and the request had no valid proof."""


class Unavailable(ApiError):
    """No usable answer: timeout, connection error, 5xx, 429, or a body that is not JSON.

    ``retry_after`` is the server's Retry-After in seconds, when it gave one.  ``ambiguous`` is
    True when the request may have been carried out anyway (timeout, dropped connection).
    """

    def __init__(self, message: str, status: int | None = None, retry_after: int | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after
        self.ambiguous = ambiguous
