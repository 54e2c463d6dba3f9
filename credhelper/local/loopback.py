"""The browser sign-in's way back: a listener on 127.0.0.1 with a random port that answers
exactly one request and closes (RFC 8252 7.3: a loopback redirect URI may use any port,
GitLab matches it to ``http://127.0.0.1/callback`` registered for the application).

Bound to the loopback address only, never to every interface; the ``state`` the browser
brings back proves that the request answers this very sign-in (gitlab/oauth_flows.py).  The
browser is opened on a thread of its own: some wait until the browser exits (a text browser
in the terminal), while the listener must answer the request that browser makes.
"""

from __future__ import annotations

import socket
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_REQUEST = 16384
PAGE = (b"<!doctype html><html><head><meta charset=\"utf-8\"><title>credhelper</title></head>"
        b"<body><p>credhelper received GitLab's answer. You can close this window and go back "
        b"to the terminal.</p></body></html>")


class OneShot:
    """A listening socket on 127.0.0.1:PORT until its one request came (or ``close``)."""

    def __init__(self, path: str = "/callback") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(1)
        self.port: int = self._socket.getsockname()[1]
        self.redirect_uri = "http://127.0.0.1:%d%s" % (self.port, path)

    def wait(self, timeout: float, give_up: Callable[[], bool]) -> str | None:
        """The request target (path and query) of the first request, once answered; None when
        ``give_up()`` says so or ``timeout`` seconds pass.  The socket is closed either way,
        so a second request finds nobody listening."""
        import select

        ends = time.monotonic() + timeout
        try:
            while time.monotonic() < ends and not give_up():
                ready, _, _ = select.select([self._socket], [], [], 0.2)
                if ready:
                    connection, _ = self._socket.accept()
                    self.close()             # one request: no second connection is accepted
                    return _answer(connection)
            return None
        finally:
            self.close()

    def close(self) -> None:
        self._socket.close()


def _answer(connection: socket.socket) -> str | None:
    """Read one request's head, answer it with a page that sends the person back to the
    terminal, and return its target."""
    with connection:
        connection.settimeout(10)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            return None
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or parts[0] != b"GET":
            _send(connection, b"400 Bad Request", b"")
            return None
        _send(connection, b"200 OK", PAGE)
        return parts[1].decode("ascii", "replace")


def _send(connection: socket.socket, status: bytes, body: bytes) -> None:
    try:
        connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8"
                           b"\r\nContent-Length: " + str(len(body)).encode() +
                           b"\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n" + body)
    except OSError:
        pass


def open_browser(url: str) -> Callable[[], bool | None]:
    """Start opening ``url`` in the person's browser (python's webbrowser: BROWSER first);
    returns a function that says True (opened), False (no browser would) or None (not yet)."""
    result: list[bool] = []

    def run() -> None:
        import webbrowser

        try:
            result.append(bool(webbrowser.open(url, new=1)))
        except Exception:        # webbrowser.Error, a browser that cannot start
            result.append(False)

    threading.Thread(target=run, name="browser", daemon=True).start()
    return lambda: result[0] if result else None
