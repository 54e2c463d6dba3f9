"""A registry-shaped HTTPS server that answers every request with a chosen status and headers
and records what it was sent: the stand-in for a registry that is not GitLab's (Harbor,
Artifactory, a local user's server on port 5050) or that only pretends to be.

    with ChallengeRegistry(cert_file, key_file, 401,
                           {"WWW-Authenticate": 'Basic realm="Harbor"'}) as hostile:
        ...                                   # clients connect to 127.0.0.1:hostile.port
        assert [r.path for r in hostile.requests] == ["/v2/"]

It listens on 127.0.0.1 on a port the kernel picks; tests reach it under other names through
their own resolver (tests/test_registry_conventions.py).
"""

from __future__ import annotations

import http.server
import ssl
import threading
from dataclasses import dataclass, field


@dataclass
class Seen:
    """One request as it arrived: method, path and every header (names in lower case)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class ChallengeRegistry:
    def __init__(self, cert_file: str, key_file: str, status: int = 401,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.requests: list[Seen] = []
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:   # noqa: N802 (http.server's name)
                registry.requests.append(Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = b'{"errors":[{"code":"UNAUTHORIZED"}]}'
                self.send_response(registry.status)
                for name, value in registry.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_POST = do_GET    # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ChallengeRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()
