"""The Secret Service read (credhelper/stores/secret_service.py) against a scripted peer on a
real unix socket: the plain answer is read in either byte order, past the bus's signals, on
a path or an abstract socket; anything else the bus says (an error reply, a body of another
type, a locked item, bytes that do not parse, a refusal, a closed connection, an endless
stream of signals) is None, so the full path asks keyring; silence is NoAnswer at the
deadline, and every later read in the process gives up at once."""

import os
import socket
import threading
import time

import pytest

from credhelper.stores import dbus_wire as wire
from credhelper.stores import secret_service
from credhelper.stores.secret_service import READ_DEADLINE, NoAnswer, read

SECRET = "glpat-scriptedscriptedscripted"
ITEM = "/org/freedesktop/secrets/collection/login/1"
SESSION = "/org/freedesktop/secrets/session/s1"
HONEST = {"Hello": ("s", (":1.7",)),
          "OpenSession": ("vo", (("s", ""), SESSION)),
          "SearchItems": ("aoao", ([ITEM], [])),
          "GetSecrets": ("a{o(oayays)}", ({ITEM: (SESSION, b"", SECRET.encode(),
                                                  "text/plain")},))}


def reply(call, signature, body, order="little"):
    return wire.message(wire.METHOD_RETURN, 1000 + call.serial,
                        {wire.REPLY_SERIAL: call.serial}, signature, body, order)


def honest(call, order="little"):
    return reply(call, *HONEST[call.fields[wire.MEMBER]], order)


def answering(member, signature, body):
    """Honest but for ``member``, whose reply is of ``signature``."""
    return lambda call: reply(call, signature, body) if call.fields[wire.MEMBER] == member \
        else honest(call)


def signal(size):
    return wire.message(wire.SIGNAL, 1, {wire.PATH: "/org/freedesktop/DBus",
                                         wire.INTERFACE: "org.freedesktop.DBus",
                                         wire.MEMBER: "NameAcquired"}, "ay", (bytes(size),))


SCRIPTS = {
    "error reply": lambda call: wire.message(
        wire.ERROR, 9, {wire.REPLY_SERIAL: call.serial, wire.ERROR_NAME: "org.x.Error"})
        if call.fields[wire.MEMBER] == "OpenSession" else honest(call),
    "search of another type": answering("SearchItems", "as", ([ITEM],)),
    "only locked items": answering("SearchItems", "aoao", ([], [ITEM])),
    "secret of another item": answering("GetSecrets", *HONEST["GetSecrets"][:1],
                                        ({ITEM + "0": (SESSION, b"", b"x", "text/plain")},)),
    "secret not UTF-8": answering("GetSecrets", "a{o(oayays)}",
                                  ({ITEM: (SESSION, b"", b"\xff\xfe", "text/plain")},)),
    "garbage": lambda call: b"l\x02\x00\x07" + bytes(range(256)) * 4,
    "closed": lambda call: None,
    "endless signals": lambda call: signal(60000) * 80,
}


class ScriptedBus:
    """Accepts connections on ``address`` (a path, or b"\\0name" for an abstract socket),
    answers the authentication with ``auth`` and each method call with ``script(call)``
    (None: close the connection; b"": say nothing)."""

    def __init__(self, address, script, auth=b"OK 0123456789abcdef0123456789abcdef\r\n"):
        self.script, self.auth = script, auth
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(address)
        self.server.listen(4)
        self.calls = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                try:
                    self._converse(connection)
                except ConnectionError:
                    pass     # the reader hung up (after a refusal): the conversation is over

    def _converse(self, connection):
        data = b""
        while b"BEGIN\r\n" not in data:
            chunk = connection.recv(4096)
            if not chunk:
                return
            data += chunk
        connection.sendall(self.auth)
        data = data.split(b"BEGIN\r\n", 1)[1]
        while True:
            call, size = wire.parse(data)
            if call is None:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
                continue
            data = data[size:]
            self.calls.append(call.fields[wire.MEMBER])
            answer = self.script(call)
            if answer is None:
                return
            connection.sendall(answer)

    def close(self):
        self.server.close()


@pytest.fixture
def bus(tmp_path, monkeypatch):
    """A factory of scripted buses: (environment naming it, the bus)."""
    monkeypatch.setattr(secret_service, "_unanswered", False)
    started = []

    def start(script, **options):
        path = str(tmp_path / ("bus%d" % len(started)))
        started.append(ScriptedBus(path, script, **options))
        return {"DBUS_SESSION_BUS_ADDRESS": "unix:path=" + path}, started[-1]

    yield start
    for running in started:
        running.close()


def test_the_plain_answer_takes_two_round_trips(bus):
    environ, running = bus(honest)
    assert read("credhelper:gitlab.example.com", "t1", environ) == SECRET
    assert running.calls == ["Hello", "OpenSession", "SearchItems", "GetSecrets"]


def test_big_endian_replies_and_signals_on_the_way_are_read(bus):
    environ, _ = bus(lambda call: signal(10) + honest(call, "big"))
    assert read("credhelper:gitlab.example.com", "t1", environ) == SECRET


def test_an_abstract_socket(monkeypatch):
    monkeypatch.setattr(secret_service, "_unanswered", False)
    name = "credhelper-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    running = ScriptedBus(b"\0" + name.encode(), honest)
    try:
        environ = {"DBUS_SESSION_BUS_ADDRESS": "unix:abstract=%s,guid=00ff" % name}
        assert read("credhelper:gitlab.example.com", "t1", environ) == SECRET
    finally:
        running.close()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_anything_but_the_plain_answer_is_none(bus, name):
    environ, _ = bus(SCRIPTS[name])
    assert read("credhelper:gitlab.example.com", "t1", environ) is None
    assert not secret_service._unanswered


@pytest.mark.parametrize("auth", [b"REJECTED EXTERNAL\r\n", b"\x00" * 600, b""])
def test_a_refused_authentication_is_none(bus, auth):
    """Refused, a line that never ends, or no line before the connection closes."""
    environ, _ = bus(honest if auth else lambda call: None, auth=auth)
    assert read("credhelper:gitlab.example.com", "t1", environ) is None


@pytest.mark.parametrize("address", ["", "tcp:host=localhost,port=9", "unix:path=/nonexistent/b"])
def test_no_bus_is_none(address, monkeypatch):
    monkeypatch.setattr(secret_service, "_unanswered", False)
    assert read("s", "u", {"DBUS_SESSION_BUS_ADDRESS": address} if address else {}) is None


def test_silence_is_no_answer_at_the_deadline_then_at_once(bus):
    environ, running = bus(lambda call: b"" if call.fields[wire.MEMBER] == "OpenSession"
                           else honest(call))
    started = time.monotonic()
    with pytest.raises(NoAnswer):
        read("credhelper:gitlab.example.com", "t1", environ)
    assert READ_DEADLINE <= time.monotonic() - started < READ_DEADLINE + 2
    started = time.monotonic()
    with pytest.raises(NoAnswer):
        read("credhelper:gitlab.example.com", "t1", environ)
    assert time.monotonic() - started < 0.5 and running.calls.count("Hello") == 1


def test_a_bus_that_accepts_no_connection_is_no_answer(tmp_path, monkeypatch):
    """A stopped bus daemon whose listening socket's backlog is full: connect fails at once
    (EAGAIN, even with a timeout); the full path's keyring would wait, so it is NoAnswer."""
    monkeypatch.setattr(secret_service, "_unanswered", False)
    path = str(tmp_path / "stopped")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(0)
    waiting = []
    try:
        while True:                       # fill the backlog: the next connect would wait
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.setblocking(False)
            waiting.append(client)
            try:
                client.connect(path)
            except BlockingIOError:
                break
        started = time.monotonic()
        with pytest.raises(NoAnswer):
            read("s", "u", {"DBUS_SESSION_BUS_ADDRESS": "unix:path=" + path})
        assert time.monotonic() - started < READ_DEADLINE + 2
    finally:
        for client in waiting:
            client.close()
        server.close()


def test_the_process_environment_by_default(bus, monkeypatch):
    environ, _ = bus(honest)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", environ["DBUS_SESSION_BUS_ADDRESS"])
    assert read("credhelper:gitlab.example.com", "t1") == SECRET
