"""Minimal request/response objects and the route table of the fake GitLab.

Handlers are plain functions ``handler(request, match) -> Response`` that
are registered on a ``Router`` with a method and a path regex.  Git over
HTTP registers itself this way (``git_http.install``); API, OAuth and
registry-token handlers can be added from their own modules the same way,
without touching the git code or the server.
"""

from __future__ import annotations

import json as _json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message
from typing import Callable, Iterable, Iterator, Pattern
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Request", "RequestBody", "Response", "Router", "BodyError"]

# Upper bounds for what a client may make the server buffer.
MAX_CHUNK_LINE = 4096
MAX_BUFFERED_BODY = 64 * 1024 * 1024


class BodyError(Exception):
    """The request body was malformed or the client went away mid-body."""


class RequestBody:
    """The request body as a stream, de-chunked when the client sent it chunked.

    git sends ``Transfer-Encoding: chunked`` for pushes larger than
    ``http.postBuffer``; CGI programs like ``git http-backend`` expect a plain
    byte stream, so the chunk framing is removed here.
    """

    def __init__(self, rfile, length: int | None, chunked: bool):
        self._rfile = rfile
        self._remaining = length or 0
        self._chunked = chunked
        self._chunk_left = 0
        self._done = not chunked and not length
        self.length = None if chunked else (length or 0)
        self.bytes_read = 0
        self._lock = threading.Lock()

    @property
    def chunked(self) -> bool:
        return self._chunked

    @property
    def complete(self) -> bool:
        """True once the whole body was read from the connection."""
        return self._done

    def _read_line(self) -> bytes:
        line = self._rfile.readline(MAX_CHUNK_LINE + 1)
        if not line:
            raise BodyError("connection closed in chunked body")
        if len(line) > MAX_CHUNK_LINE:
            raise BodyError("chunk line too long")
        return line

    def _read_exact(self, n: int) -> bytes:
        data = self._rfile.read(n)
        if len(data) != n:
            raise BodyError("connection closed in request body")
        return data

    def read_some(self, size: int = 65536) -> bytes:
        """Up to *size* bytes of body; b"" at the end."""
        with self._lock:
            if self._done:
                return b""
            if not self._chunked:
                data = self._rfile.read(min(size, self._remaining))
                if not data:
                    raise BodyError("connection closed in request body")
                self._remaining -= len(data)
                self._done = self._remaining == 0
                self.bytes_read += len(data)
                return data
            if self._chunk_left == 0:
                size_line = self._read_line().split(b";", 1)[0].strip()
                try:
                    self._chunk_left = int(size_line, 16)
                except ValueError:
                    raise BodyError("bad chunk size") from None
                if self._chunk_left < 0:
                    raise BodyError("bad chunk size")
                if self._chunk_left == 0:
                    # Last chunk: skip optional trailers up to the empty line.
                    while self._read_line() not in (b"\r\n", b"\n"):
                        pass
                    self._done = True
                    return b""
            data = self._read_exact(min(size, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                if self._read_line() not in (b"\r\n", b"\n"):
                    raise BodyError("missing CRLF after chunk")
            self.bytes_read += len(data)
            return data

    def iter_chunks(self, size: int = 65536) -> Iterator[bytes]:
        while True:
            data = self.read_some(size)
            if not data:  # only at the end of the body
                return
            yield data

    def read(self, limit: int = MAX_BUFFERED_BODY) -> bytes:
        """The whole body (refuses bodies above *limit* bytes)."""
        parts = []
        total = 0
        for data in self.iter_chunks():
            total += len(data)
            if total > limit:
                raise BodyError("request body too large")
            parts.append(data)
        return b"".join(parts)

    def drain(self, limit: int = 1 << 20) -> bool:
        """Discard an unread body so the connection can be reused.

        Returns False when more than *limit* bytes remain (or the body is
        broken): the caller must then close the connection instead.
        """
        try:
            seen = 0
            for data in self.iter_chunks():
                seen += len(data)
                if seen > limit:
                    return False
            return True
        except (BodyError, OSError):
            return False


@dataclass
class Request:
    method: str
    target: str  # request target as sent: path and query
    headers: Message  # http.client.HTTPMessage: case-insensitive .get()
    body: RequestBody
    scheme: str  # "https" or "http": which listener took the request
    client_address: tuple
    app: object = None  # the FakeGitLab serving this request

    @property
    def raw_path(self) -> str:
        return urlsplit(self.target).path

    @property
    def path(self) -> str:
        """Percent-decoded path, used for routing."""
        return unquote(self.raw_path)

    @property
    def query_string(self) -> str:
        return urlsplit(self.target).query

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    def query_first(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def host(self) -> str:
        """The Host header as sent (may include :port)."""
        return self.headers.get("Host", "") or ""

    @property
    def base_url(self) -> str:
        """scheme://host[:port] as the client addressed this server."""
        return f"{self.scheme}://{self.host}"

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")

    def __repr__(self) -> str:  # no headers: they may carry credentials
        return f"Request({self.method} {self.scheme}://{self.host}{self.raw_path})"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    # bytes (sent with Content-Length) or an iterable of bytes (streamed).
    body: bytes | Iterable[bytes] = b""
    reason: str | None = None

    @classmethod
    def text(cls, status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> "Response":
        return cls(status, [("Content-Type", "text/plain; charset=utf-8"), *headers], text.encode())

    @classmethod
    def json(cls, status: int, obj, headers: Iterable[tuple[str, str]] = ()) -> "Response":
        return cls(status, [("Content-Type", "application/json"), *headers],
                   _json.dumps(obj, separators=(",", ":")).encode())

    @classmethod
    def redirect(cls, location: str, status: int = 301) -> "Response":
        return cls(status, [("Location", location), ("Content-Type", "text/html; charset=utf-8")],
                   b'<html><body>You are being <a href="">redirected</a>.</body></html>')


Handler = Callable[[Request, "re.Match[str]"], Response]


@dataclass
class _Route:
    methods: frozenset[str]
    pattern: Pattern[str]
    handler: Handler
    name: str


class Router:
    """Method + path-regex route table; the first matching route wins.

    ``add("GET", r"/api/v4/user", handler)``: the regex must match the whole
    decoded path (no query string).  Method "*" matches any method.

    Every dispatch to a route is counted under the route's *name* (default:
    its regex): ``count(name)``.  Requests answered by a fault without being
    handled, and unrouted requests (404), are not counted here; the request
    log has them all.
    """

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, method: str | Iterable[str], pattern: str | Pattern[str], handler: Handler,
            *, first: bool = False, name: str | None = None) -> None:
        methods = frozenset([method] if isinstance(method, str) else method)
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        route = _Route(frozenset(m.upper() for m in methods), compiled, handler, name or compiled.pattern)
        with self._lock:
            if first:
                self._routes.insert(0, route)
            else:
                self._routes.append(route)

    def route(self, method: str | Iterable[str], pattern: str, *, first: bool = False,
              name: str | None = None):
        """Decorator form of add()."""
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler, first=first, name=name)
            return handler
        return register

    def count(self, name: str) -> int:
        """How many requests the route called *name* handled."""
        with self._lock:
            return self._counts[name]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def dispatch(self, request: Request) -> Response:
        path = request.path
        method = request.method.upper()
        with self._lock:
            routes = list(self._routes)
        for route in routes:
            if "*" not in route.methods and method not in route.methods:
                if not (method == "HEAD" and "GET" in route.methods):
                    continue
            match = route.pattern.fullmatch(path)
            if match:
                with self._lock:
                    self._counts[route.name] += 1
                return route.handler(request, match)
        return not_found(request)


def not_found(request: Request) -> Response:
    """GitLab's 404 for unknown routes: JSON under /api/, plain text elsewhere."""
    if request.path.startswith("/api/"):
        return Response.json(404, {"message": "404 Not Found"})
    return Response.text(404, "404 Not Found")
