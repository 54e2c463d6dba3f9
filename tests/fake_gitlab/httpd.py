"""The HTTP/1.1 listener: threads, optional TLS, keep-alive, request logging.

One ``Listener`` per port.  The TLS handshake happens in the connection's own
thread (not in accept()), so a client that connects and stalls cannot block
other clients.  Every response either carries Content-Length, is sent with
chunked transfer encoding (streamed CGI output), or closes the connection:
that keeps persistent connections from git's libcurl in sync.

Nothing is written to stderr: http.server's own logging goes to the
``tests.fake_gitlab`` logger at DEBUG, with the query string
left out (it may hold tokens).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .faults import AFTER_COMMIT, CANNED
from .records import RequestRecord
from .web import BodyError, Request, RequestBody, Response

__all__ = ["Listener"]

logger = logging.getLogger("tests.fake_gitlab")

_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}
HANDSHAKE_TIMEOUT = 10.0
DRAIN_LIMIT = 256 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections end after this many seconds; it also bounds
    # how long a stalled client can hold a thread.
    timeout = 60

    def version_string(self) -> str:
        return "nginx"  # GitLab answers through nginx

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib name)
        logger.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code="-", size="-") -> None:
        path = getattr(self, "path", "").split("?", 1)[0]  # no query: may hold tokens
        logger.debug("%s %s %s %s", self.server.scheme, getattr(self, "command", "-"), path, code)

    def _dispatch(self) -> None:
        server = self.server
        app = server.app
        headers = self.headers
        chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        length_header = headers.get("Content-Length")
        try:
            length = None if chunked else int(length_header or 0)
            if length is not None and length < 0:
                raise ValueError
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        body = RequestBody(self.rfile, length, chunked)
        request = Request(self.command, self.path, headers, body, server.scheme,
                          self.client_address, app)
        record = RequestRecord.from_request(request)
        app.requests.append(record)
        faults = getattr(app, "faults", None)
        fault = faults.take(self.command, request.path) if faults is not None else None
        if fault is not None and fault.kind == "commit_late":
            # GitLab (Workhorse, Puma) has the whole request before it handles it, so a
            # client that dies during the hold cannot take its body back
            import io

            # (``hit`` is set only then: a client killed before its body went out never
            # reached GitLab's handler)
            try:
                data = body.read()
            except (OSError, BodyError):
                self._drop()
                return
            body = RequestBody(io.BytesIO(data), len(data), False)
            request.body = body
            fault.hit.set()
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "drop":
                self._drop()
                return
            if fault.kind in ("timeout", "commit_late") and not (
                    fault.hold() and (fault.handle or fault.kind == "commit_late")):
                self._drop()  # never handled (or the server is stopping)
                return
            if fault.kind in CANNED:
                response = fault.response()
                record.status = response.status
                self._send(response, body)
                return
        try:
            response = app.router.dispatch(request)
        except BodyError:
            logger.debug("bad request body", exc_info=True)
            response = Response.text(400, "400 Bad Request")
            self.close_connection = True
        except Exception:
            logger.exception("fake GitLab handler failed for %s %s", self.command, request.path)
            response = Response.text(500, "500 Internal Server Error")
        if fault is not None and fault.kind in AFTER_COMMIT:
            fault.committed.set()
            response = self._after_commit(fault, response, body)
            if response is None:
                return
        record.status = response.status
        self._send(response, body)

    def _after_commit(self, fault, response: Response, body: RequestBody) -> Response | None:
        """What a fault that handled the request sends instead (None: it answered itself)."""
        if fault.kind == "drop_after_commit" or (fault.kind == "pause_after_commit" and not fault.hold()):
            close = getattr(response.body, "close", None)
            if close is not None:
                close()  # a streamed (CGI) body: stop its producer
            self._drop()
            return None
        if fault.kind == "commit_then_status":
            return fault.response()
        if fault.kind == "commit_then_garbage":
            response = fault.response()
            if fault.content_length is None:
                return response
            self._send_raw(response, fault.content_length, body)
            return None
        if fault.kind == "drip":
            self._send_raw(response, None, body, fault=fault)
            return None
        return response

    def _send_raw(self, response: Response, content_length: int | None, request_body: RequestBody,
                  fault=None) -> None:
        """Send *response* as built bytes, then close: with a Content-Length of our choosing
        (a truncated answer), or dripped a byte at a time (``fault.interval``)."""
        self.close_connection = True
        if not request_body.complete:
            request_body.drain(DRAIN_LIMIT)
        payload = response.body if isinstance(response.body, (bytes, bytearray)) else b"".join(response.body)
        length = len(payload) if content_length is None else content_length
        lines = [f"HTTP/1.1 {response.status} {response.reason or _reason(response.status)}",
                 f"Server: {self.version_string()}", f"Date: {self.date_time_string()}"]
        lines += [f"{k}: {v}" for k, v in response.headers if k.lower() not in _HOP_BY_HOP]
        lines += [f"Content-Length: {length}", "Connection: close"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        try:
            if fault is None:
                self.wfile.write(head + payload)
                return
            if not fault.whole:
                self.wfile.write(head)
            for byte in (head + payload if fault.whole else payload):
                if not fault.pause(fault.interval):
                    return
                self.wfile.write(bytes((byte,)))
                self.wfile.flush()
        except OSError:
            logger.debug("client went away during a raw answer", exc_info=True)

    def send_header(self, keyword: str, value: str) -> None:
        """As http.server does, but a value latin-1 cannot encode goes out as UTF-8 (fault
        headers such as ``Retry-After: ١٢٣``)."""
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            if not hasattr(self, "_headers_buffer"):
                self._headers_buffer = []
            self._headers_buffer.append(f"{keyword}: {value}\r\n".encode())
            return
        super().send_header(keyword, value)

    def _drop(self) -> None:
        """End the connection without sending anything (test faults)."""
        self.close_connection = True
        try:
            # RST rather than FIN: the client sees the connection die at once.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _send(self, response: Response, request_body: RequestBody) -> None:
        head_only = self.command == "HEAD"
        payload = response.body
        headers = [(k, v) for k, v in response.headers if k.lower() not in _HOP_BY_HOP]
        if isinstance(payload, (bytes, bytearray)):
            # Unread request body (e.g. a 401 to a big POST): read it away, so
            # the client gets to see the response and the connection can be
            # reused.  Past the limit the connection is closed instead.
            if not request_body.complete and not request_body.drain(DRAIN_LIMIT):
                self.close_connection = True
            self.send_response(response.status, response.reason)
            for key, value in headers:
                self.send_header(key, value)
            if response.status == 204 or response.status == 304:
                payload = b""  # no body, and no Content-Length (RFC 9110)
            else:
                self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head_only:
                self.wfile.write(payload)
            return

        # Streamed body (CGI output): chunked on HTTP/1.1, else until close.
        chunked = self.request_version == "HTTP/1.1" and not head_only
        self.send_response(response.status, response.reason)
        for key, value in headers:
            self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            if not head_only:
                for part in payload:
                    if not part:
                        continue
                    if chunked:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    else:
                        self.wfile.write(part)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(payload, "close", None)
            if close is not None:
                close()
        if not request_body.complete:
            self.close_connection = True


def _reason(status: int) -> str:
    return BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, app, scheme: str, ssl_context: ssl.SSLContext | None):
        self.app = app
        self.scheme = scheme
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # sockets accepted, and TLS handshakes completed on them: how many connections
        # clients really opened (a client that reuses one keeps these still)
        self.accepted = 0
        self.handshakes = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), which may wait on
        # DNS; the fake server does not need server_name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = host
        self.server_port = port

    def finish_request(self, request, client_address) -> None:
        conn = request
        self._track(conn, True)
        self._count("accepted")
        # GitLab's nginx sets TCP_NODELAY (nginx's default); without it a response sent in two
        # writes waits on the client's delayed ACK (about 40 ms), depending on timing alone
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.ssl_context is not None:
                conn.settimeout(HANDSHAKE_TIMEOUT)
                try:
                    tls = self.ssl_context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    # A client that does not trust the CA, or speaks plain
                    # HTTP to the TLS port: nothing to answer.
                    logger.debug("TLS handshake failed from %s", client_address[0], exc_info=True)
                    return
                self._count("handshakes")
                self._track(conn, False)
                conn = tls
                self._track(conn, True)
            _Handler(conn, client_address, self)
        finally:
            self._track(conn, False)
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def _count(self, name: str) -> None:
        with self._connections_lock:
            setattr(self, name, getattr(self, name) + 1)

    def _track(self, conn, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Cut every open connection (idle keep-alive ones included)."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        # Client disconnects and similar: not worth stderr noise.
        logger.debug("error while serving %s", client_address[0], exc_info=True)


class Listener:
    """One listening socket on 127.0.0.1 serving *app*, in a background thread."""

    def __init__(self, app, *, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1",
                 port: int = 0):
        self.scheme = "https" if ssl_context is not None else "http"
        self._server = _Server((host, port), app, self.scheme, ssl_context)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def accepted(self) -> int:
        """Connections accepted so far (TCP)."""
        return self._server.accepted

    @property
    def handshakes(self) -> int:
        """TLS handshakes completed so far (0 on plain http)."""
        return self._server.handshakes

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"fake-gitlab-{self.scheme}-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
