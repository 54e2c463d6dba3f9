"""The log of every request the fake GitLab received.

Tests use it to prove where credentials went: e.g. that a token for
gitlab.example.com was never sent to gitlab.example.com.evil.test, or never
over plain http.  So each record keeps the credentials the client sent, in
memory only.  ``repr()`` and ``str()`` redact them, so a failing assertion
or a log line cannot print a token.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .auth import parse_basic_auth

__all__ = ["RequestRecord", "RequestLog"]

# Headers and query parameters through which GitLab accepts tokens.
_TOKEN_HEADERS = ("PRIVATE-TOKEN", "Deploy-Token", "Job-Token", "DPoP")
_TOKEN_PARAMS = ("private_token", "access_token", "job_token")


@dataclass(eq=False)
class RequestRecord:
    scheme: str  # "https" or "http"
    host: str  # the Host header as sent (may include :port)
    method: str
    path: str  # decoded path, without query
    query: str = ""
    username: str | None = None  # Basic username
    password: str | None = field(default=None, repr=False)  # Basic password (secret)
    auth_scheme: str | None = None  # "Basic", "Bearer", ... from Authorization
    # Every credential value seen in the request: Basic password, Bearer
    # token, token headers, token query parameters.
    secrets: frozenset[str] = field(default_factory=frozenset, repr=False)
    chunked: bool = False  # request body sent with Transfer-Encoding: chunked
    content_length: int | None = None
    user_agent: str | None = None
    status: int | None = None  # filled in once the response is chosen
    fault: str | None = None  # the kind of test fault applied to this request, if any

    @property
    def hostname(self) -> str:
        """Host without the port (brackets kept off IPv6 literals)."""
        host = self.host
        if host.startswith("["):
            return host[1:].split("]", 1)[0]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    def carries(self, secret: str) -> bool:
        """Did this request carry *secret* in any credential position?"""
        return secret in self.secrets

    def __repr__(self) -> str:
        pw = "<redacted>" if self.password is not None else None
        return (f"RequestRecord({self.method} {self.scheme}://{self.host}{self.path} "
                f"status={self.status} fault={self.fault} username={self.username!r} password={pw} "
                f"auth_scheme={self.auth_scheme!r} secrets={len(self.secrets)})")

    __str__ = __repr__

    @classmethod
    def from_request(cls, request) -> "RequestRecord":
        found: set[str] = set()
        username = password = auth_scheme = None
        authorization = request.authorization
        if authorization:
            auth_scheme, _, value = authorization.strip().partition(" ")
            basic = parse_basic_auth(authorization)
            if basic is not None:
                username, password = basic
                if password:
                    found.add(password)
            elif auth_scheme.lower() == "basic":
                # Basic without a colon: still keep what was sent.
                try:
                    raw = base64.b64decode(value.strip()).decode("utf-8", "replace")
                except ValueError:
                    raw = value.strip()
                if raw:
                    found.add(raw)
            elif value.strip():
                found.add(value.strip())
        for name in _TOKEN_HEADERS:
            value = request.header(name)
            if value:
                found.add(value.strip())
        query = request.query
        for name in _TOKEN_PARAMS:
            for value in query.get(name, []):
                if value:
                    found.add(value)
        length = request.header("Content-Length")
        return cls(
            scheme=request.scheme,
            host=request.host,
            method=request.method,
            path=request.path,
            query=_redact_query(request.query_string),
            username=username,
            password=password,
            auth_scheme=auth_scheme,
            secrets=frozenset(found),
            chunked=request.body.chunked,
            content_length=int(length) if length and length.isdigit() else None,
            user_agent=request.header("User-Agent"),
        )


def _redact_query(query: str) -> str:
    """Keep the query for assertions, minus token parameters."""
    if not query:
        return ""
    parts = []
    for part in query.split("&"):
        name = part.split("=", 1)[0]
        parts.append(f"{name}=<redacted>" if name in _TOKEN_PARAMS else part)
    return "&".join(parts)


class RequestLog:
    """A thread-safe, append-only list of RequestRecord (clearable by tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index):
        with self._lock:
            return self._items[index]

    def filter(self, predicate: Callable[[RequestRecord], bool] | None = None, **fields) -> list[RequestRecord]:
        """Records matching all ``field=value`` pairs (and *predicate*)."""
        out = []
        for record in self.snapshot():
            if all(getattr(record, k) == v for k, v in fields.items()) and (
                    predicate is None or predicate(record)):
                out.append(record)
        return out

    def hosts(self) -> set[str]:
        return {r.hostname for r in self.snapshot()}

    def carrying(self, secret: str) -> list[RequestRecord]:
        """Every request that carried *secret* (to assert where a token went)."""
        return [r for r in self.snapshot() if r.carries(secret)]

    def __repr__(self) -> str:
        return f"RequestLog({len(self)} requests)"
