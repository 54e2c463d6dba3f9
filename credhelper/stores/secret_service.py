"""Reading one item from the Secret Service over D-Bus, with a client of our own
(``dbus_wire.py``): the keyring store's read, fast enough for the ``get`` hot path, which
calls it too (``fast_service.py``).

keyring's SecretService backend imports secretstorage, which imports jeepney and cryptography
for its encrypted session: far more than the rest of a ``get``.  This client needs ``_socket``
(not ``socket.py``, which imports ``os``, ``enum`` and ``selectors``), ``posix`` and
``time``.  The items are the very ones keyring wrote (attributes ``service`` and
``username``), read in a "plain" session, which the spec allows: the message never leaves
the local session bus.  Two round trips: the authentication, ``Hello``, ``OpenSession`` and
``SearchItems`` are sent at once (D-Bus matches replies by serial), then ``GetSecrets``.
Anything unusual (no bus or another kind of address, a locked collection that needs a
prompt, no such item, an error reply, bytes that do not parse) returns None and the caller
goes the long way through keyring, which can prompt to unlock.
"""

import posix
import time

from credhelper.stores.dbus_wire import (
    ERROR,
    METHOD_CALL,
    METHOD_RETURN,
    REPLY_SERIAL,
    SIGNATURE,
    Message,
    message,
    parse,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SERVICE_PREFIX = "credhelper:"       # keyring entries: service="credhelper:HOST"
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
SECRETS = ("org.freedesktop.secrets", "/org/freedesktop/secrets",
           "org.freedesktop.Secret.Service")
BUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
READ_DEADLINE = 3.0     # seconds for the whole read: a stopped service must not hold git
MAX_RECEIVED = 1 << 22  # bytes read from the bus for one read (signals could keep coming)

_unanswered = False     # a read in this process timed out: the next ones give up at once


def forget_timeouts() -> None:
    """A new request in a long-lived process (the daemon): a late bus earlier is no reason
    to give up at once now."""
    global _unanswered
    _unanswered = False


def give_up_at_once() -> None:
    """Another process's read timed out a moment ago (the daemon's: launcher.SILENT_STORE):
    this one does not wait out a second deadline."""
    global _unanswered
    _unanswered = True


class NoAnswer(Exception):
    """The Secret Service did not answer within READ_DEADLINE (hung, or stopped)."""


def read(service: str, username: str, environ: "Mapping[str, str] | None" = None
         ) -> str | None:
    """The secret stored for (service, username), or None if this path cannot tell; raises
    NoAnswer when the service does not answer in time (the slow path would hang too), and
    at once once a read in this process did not (the fast path's read, then the full
    path's, must not wait twice).  ``environ``: the fast path's, else ``os.environ``."""
    global _unanswered
    if _unanswered:
        raise NoAnswer
    if environ is None:
        import os

        environ = os.environ
    try:
        path = bus_path(environ.get("DBUS_SESSION_BUS_ADDRESS", ""))
    except Exception:
        return None
    bus = None
    try:
        if path is not None:
            bus = _Bus(path, time.monotonic() + READ_DEADLINE)
            return _conversation(bus, service, username)
        return None
    except TimeoutError:
        _unanswered = True
        raise NoAnswer from None
    except Exception:   # any other D-Bus trouble: let keyring itself try (and report)
        return None
    finally:
        if bus is not None:
            bus.close()


def bus_path(address: str) -> bytes | None:
    """The socket of the first ``unix:path=`` or ``unix:abstract=`` address in ``address``
    (D-Bus Specification, "Server Addresses"); None when there is none."""
    for entry in address.split(";"):
        method, _, parameters = entry.partition(":")
        keys = dict(pair.partition("=")[::2] for pair in parameters.split(","))
        if method != "unix":
            continue
        if keys.get("path"):
            return _unescape(keys["path"])
        if keys.get("abstract"):
            return b"\0" + _unescape(keys["abstract"])
    return None


def _unescape(value: str) -> bytes:
    parts = value.split("%")
    data = parts[0].encode()
    for part in parts[1:]:
        data += bytes([int(part[:2], 16)]) + part[2:].encode()
    return data


def _conversation(bus: "_Bus", service: str, username: str) -> str | None:
    uid = str(posix.getuid()).encode().hex().encode()
    bus.send(b"\0AUTH EXTERNAL " + uid + b"\r\nBEGIN\r\n" + bus.call(BUS, "Hello")
             + bus.call(SECRETS, "OpenSession", "sv", ("plain", ("s", "")))
             + bus.call(SECRETS, "SearchItems", "a{ss}",
                        ({"service": service, "username": username},)))
    if not bus.auth_line().startswith(b"OK "):
        return None
    hello, opened, found = bus.replies(3)
    opened_body, found_body = _body(opened, "vo"), _body(found, "aoao")
    if _body(hello, "s") is None or opened_body is None or found_body is None \
            or not found_body[0]:
        return None           # an error reply, or nothing unlocked: keyring can prompt
    item, session = found_body[0][0], opened_body[1]
    bus.send(bus.call(SECRETS, "GetSecrets", "aoo", ([item], session)))
    got = _body(bus.replies(1)[0], "a{o(oayays)}")
    if got is None or item not in got[0]:
        return None
    value: bytes = got[0][item][2]
    return value.decode("utf-8")


def _body(reply: Message, signature: str) -> "tuple[Any, ...] | None":
    """The body of a method return of ``signature``; None for an error or another type."""
    if reply.kind != METHOD_RETURN or reply.fields.get(SIGNATURE, "") != signature:
        return None
    return reply.body


class _Bus:
    """A connection to the bus at ``path`` that gives up at ``ends`` (monotonic time)."""

    def __init__(self, path: bytes, ends: float) -> None:
        import _socket

        self.ends, self.buffer, self.serial, self.received = ends, b"", 0, 0
        self.waiting: list[int] = []
        self.socket = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self._wait()
            self.socket.connect(path)
        except BlockingIOError:     # EAGAIN: its backlog is full, the bus accepts no one
            self.socket.close()
            raise TimeoutError from None
        except BaseException:
            self.socket.close()
            raise

    def close(self) -> None:
        self.socket.close()

    def call(self, to: tuple[str, str, str], member: str, signature: str = "",
             body: "tuple[Any, ...]" = ()) -> bytes:
        """The bytes of a method call, whose reply ``replies`` then waits for."""
        self.serial += 1
        self.waiting.append(self.serial)
        destination, path, interface = to
        return message(METHOD_CALL, self.serial, {1: path, 2: interface, 3: member,
                                                  6: destination}, signature, body)

    def send(self, data: bytes) -> None:
        self._wait()
        self.socket.sendall(data)

    def auth_line(self) -> bytes:
        while b"\r\n" not in self.buffer[:512]:
            if len(self.buffer) > 512:
                return b""
            self._receive()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def replies(self, count: int) -> list[Message]:
        """The replies to the ``count`` oldest calls sent, in their order; other messages
        (the bus's NameAcquired signal) are skipped."""
        wanted, self.waiting = self.waiting[:count], self.waiting[count:]
        found: dict[int, Message] = {}
        while len(found) < count:
            reply, size = parse(self.buffer)
            if reply is None:
                self._receive()
                continue
            self.buffer = self.buffer[size:]
            if reply.kind in (METHOD_RETURN, ERROR) and reply.fields.get(REPLY_SERIAL) in wanted:
                found[reply.fields[REPLY_SERIAL]] = reply
        return [found[serial] for serial in wanted]

    def _receive(self) -> None:
        self._wait()
        chunk = self.socket.recv(65536)
        self.received += len(chunk)
        if not chunk or self.received > MAX_RECEIVED:
            raise EOFError("the bus closed the connection")
        self.buffer += chunk

    def _wait(self) -> None:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.socket.settimeout(left)
