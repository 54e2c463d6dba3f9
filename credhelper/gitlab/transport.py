"""One bounded HTTP exchange over requests: it knows whether the request was sent, it cannot
outlast its deadline, and it reads at most ``wire.MAX_BODY`` bytes of the decoded answer.

``Exchange.sent`` is set by the connection itself, just before the first byte of the request
goes to the socket (after DNS, the TCP connect and the TLS handshake): a failure while it is
False means the server never saw the request.  At the deadline a watchdog shuts the socket
down, so neither a server that drips its headers nor one that drips its body holds the call.
"""

from __future__ import annotations

import socket
import threading
import time
from http.client import HTTPException

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, NameResolutionError, NewConnectionError

from credhelper.gitlab.wire import MAX_BODY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.local.trust import Trust

CHUNK = 8 * 1024                 # decoded bytes per read: bounds a gzip bomb's expansion
_current = threading.local()     # the Exchange of this thread's call in flight


class Failed(Exception):
    """The exchange broke; ``kind`` is "resolve", "connect", "connect-timeout", "tls",
    "timeout", "dropped", "too-big" or "failed".  ``status`` is set when the head arrived;
    ``hint`` (TLS) says which CAs were trusted and what to set where."""

    def __init__(self, kind: str, detail: str = "", status: int | None = None,
                 headers: Any = None, hint: str = "") -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.headers = headers or {}
        self.hint = hint


class _UnusableTrust(requests.exceptions.SSLError):
    """The CA file a setting names cannot be used: a TLS failure before any connection."""


class Exchange:
    """One call's deadline, whether its request went out, and the watchdog that ends it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sent = False
        self.expired = False
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._cut)
        self._timer.daemon = True

    def __enter__(self) -> Exchange:
        _current.exchange = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _current.exchange = None

    def sending(self, connection: HTTPConnection) -> None:
        # the socket itself: http.client forgets it on the connection once an answer that
        # closes the connection begins, while the answer is still being read from it
        self._sock = connection.sock
        self.sent = True
        if self.expired:             # the watchdog fired during the handshake
            self._cut()

    def _cut(self) -> None:
        self.expired = True
        sock = self._sock
        if sock is not None:
            try:     # the plain socket's shutdown: the reader's TLS layer sees the end
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _Marking:
    """A urllib3 connection that tells this thread's Exchange when it starts to send."""

    sock: socket.socket | None

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()           # type: ignore[attr-defined]
        exchange = getattr(_current, "exchange", None)
        if exchange is not None and not exchange.sent:
            exchange.sending(self)
        super().send(data)           # type: ignore[misc]


class _HTTPConnection(_Marking, HTTPConnection):
    pass


class _HTTPSConnection(_Marking, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class MarkingAdapter(HTTPAdapter):
    """Marks the moment of sending; with a ``Trust``, verifies TLS with its context alone
    (requests would add certifi's bundle, or the one ``verify`` names, otherwise)."""

    def __init__(self, trust: Trust | None = None) -> None:
        self.trust = trust           # before HTTPAdapter's __init__ builds the pool manager
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None
                                             ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        if self.trust is not None and host_params.get("scheme") == "https":
            from credhelper.local.trust import UnusableTrust

            try:             # built here: only when a connection is about to be made
                context = self.trust.context()
            except UnusableTrust as unusable:
                raise _UnusableTrust(str(unusable)) from None
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs.update(ssl_context=context, cert_reqs="CERT_REQUIRED")
        return host_params, pool_kwargs

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """A tunnel's connections mark their sending too: without it a request that reached
        GitLab through the proxy would count as never sent, and could be sent again."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        if self.trust is None:
            super().cert_verify(conn, url, verify, cert)
            return
        # never verification off, and no CA file for urllib3 to load into the shared context
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = conn.ca_cert_dir = None


def prepare(session: requests.Session, trust: Trust | None = None) -> None:
    """Mount the marking adapter; with a ``Trust``, its proxy too (ConfigError for one that
    cannot be used: nothing is sent then)."""
    adapter = MarkingAdapter(trust)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    proxy = trust.proxy() if trust is not None else None
    if proxy is not None:
        session.proxies = {"http": proxy.url, "https": proxy.url}


def exchange(session: requests.Session, exchange: Exchange, method: str, url: str,
             timeout: tuple[float, float], **options: Any) -> requests.Response:
    """The response with its body read (``response.content``), or ``Failed``."""
    try:
        response = session.request(method, url, timeout=timeout, stream=True,
                                   allow_redirects=False, **options)
    except requests.exceptions.RequestException as error:
        failed = _failed(error, exchange)
        if isinstance(error, requests.exceptions.ProxyError) and failed.kind != "timeout":
            failed = Failed("proxy", _proxy_words(session, url))
        if failed.kind == "tls":
            failed.hint = _trust_advice(session, url)
        raise failed from None
    try:
        response._content = _read(response, exchange)
        response._content_consumed = True     # read to the end: the connection may be reused
    except Failed as failed:
        failed.status, failed.headers = response.status_code, response.headers
        raise
    finally:
        response.close()
    return response


def _read(response: requests.Response, exchange: Exchange) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            if time.monotonic() >= exchange.deadline:
                raise Failed("timeout")
            chunk = response.raw.read(CHUNK, decode_content=True)
            if not chunk:
                return b"".join(parts)
            size += len(chunk)
            if size > MAX_BODY:
                raise Failed("too-big")
            parts.append(chunk)
    except (HTTPError, HTTPException, OSError, ValueError) as error:
        raise Failed("timeout" if exchange.expired else "dropped", _short(error)) from None


def _failed(error: requests.exceptions.RequestException, exchange: Exchange) -> Failed:
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return Failed("connect-timeout")
    if exchange.expired or isinstance(error, requests.exceptions.Timeout):
        return Failed("timeout")
    if isinstance(error, requests.exceptions.SSLError):
        return Failed("tls", _tls_words(error))
    if isinstance(reason, NameResolutionError) or _unresolved(error):
        return Failed("resolve")
    if isinstance(reason, NewConnectionError):
        return Failed("connect", _short(error))
    if isinstance(error, requests.exceptions.ConnectionError):
        return Failed("dropped", _short(error))
    return Failed("failed", _short(error))


def _unresolved(error: BaseException) -> bool:
    """A name that did not resolve, however deep urllib3 and requests wrapped the resolver's
    error (a ProtocolError, a ProxyError, a ConnectionError of a ConnectionError): it must be
    said as such, never as a dropped connection."""
    pending: list[object] = [error]
    for _ in range(20):
        if not pending:
            return False
        found = pending.pop()
        if isinstance(found, (NameResolutionError, socket.gaierror)):
            return True
        if isinstance(found, BaseException):
            pending += [*found.args, getattr(found, "reason", None), found.__cause__,
                        found.__context__]
    return False


def _tls_words(error: BaseException) -> str:
    """The TLS library's own reason (``certificate verify failed: unable to get local issuer
    certificate``), not the nest of wrappers requests and urllib3 put around it."""
    import ssl

    if isinstance(error, _UnusableTrust):
        return str(error)
    pending: list[object] = [error]
    for _ in range(20):          # requests wraps urllib3's error, which wraps ssl's
        if not pending:
            break
        found = pending.pop()
        if isinstance(found, ssl.SSLCertVerificationError):
            return "certificate verify failed: %s" % (found.verify_message or found.reason)
        if isinstance(found, ssl.SSLError):
            return str(found.reason or found.strerror or "handshake failed")
        if isinstance(found, BaseException):
            pending += [*found.args, getattr(found, "reason", None), found.__cause__]
    return _short(error)


def _proxy_words(session: requests.Session, url: str) -> str:
    """The proxy the call went to, named without its password."""
    trust = _trust_of(session, url)
    proxy = trust.proxy() if trust is not None else None
    return proxy.words if proxy is not None else "the proxy"


def _trust_advice(session: requests.Session, url: str) -> str:
    trust = _trust_of(session, url)
    return trust.advice() if trust is not None else ""


def _trust_of(session: requests.Session, url: str) -> Trust | None:
    return getattr(session.get_adapter(url), "trust", None)


def _short(error: BaseException) -> str:
    text = str(error)
    # requests' messages embed the URL and pool internals; keep the gist, never headers
    for marker in ("Caused by ", "(Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return " ".join(text.split())[:160]
