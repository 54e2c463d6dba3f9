"""An HTTPS server that only listens: it keeps every request it gets, byte for byte, and answers
404.  It plays the attacker's registry that a hostile repository's config points a client at,
so a test can assert that nothing secret reached it (no Authorization header, and the token's
bytes nowhere in what arrived)."""

from __future__ import annotations

import http.server
import ssl
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        head = ("%s\r\n%s" % (self.requestline, self.headers.as_string())).encode()
        self.server.received.append((self.path, dict(self.headers.items()), head + body))
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _record

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    received: list[tuple[str, dict[str, str], bytes]]


class RecordingHTTPSServer:
    """``with RecordingHTTPSServer(ca) as attacker:`` on 127.0.0.1, a certificate from the test
    CA (it covers localhost and 127.0.0.1); ``attacker.received`` holds (path, headers, raw)."""

    def __init__(self, ca) -> None:
        cert, key = ca.issue(["attacker.test"])
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.received = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def received(self) -> list[tuple[str, dict[str, str], bytes]]:
        return list(self._server.received)

    def __enter__(self) -> RecordingHTTPSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
