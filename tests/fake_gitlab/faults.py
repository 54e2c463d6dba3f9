"""Test controls: make the fake GitLab misbehave on purpose.

``FakeGitLab.faults`` holds a queue of faults.  Each applies to the next
*times* requests whose method and path match, then is used up::

    fault = gl.faults.pause_after_commit("POST", r"/api/v4/personal_access_tokens/self/rotate")
    ...                      # start the client
    fault.wait_committed()   # the rotation is stored, no answer sent yet
    os.kill(pid, SIGKILL)    # the client dies without seeing its new token
    fault.release()          # let the (now pointless) response go

Kinds:

``timeout``
    Hold the request *before* handling it, for *seconds* (None: until
    ``release()``), then close the connection without handling it: a client
    with a shorter read timeout sees a timeout, and nothing happened on the
    server, even later.  With ``handle=True`` the request is handled and
    answered after the hold instead (a slow server).
``status``
    Answer *status* at once (e.g. 429, 500, 502, 503) with an optional
    ``Retry-After`` and body; the request is not handled.
``garbage``
    Answer 200 with a body that is not JSON; the request is not handled.
``drop``
    Close the connection without any answer; the request is not handled.
``drop_after_commit``
    Handle the request fully (a rotation is stored), then close the
    connection without sending the answer.
``pause_after_commit``
    Handle the request fully, set ``fault.committed``, then hold the answer
    until ``release()`` (``fault.proceed`` is the Event it waits on).
``commit_late``
    Hold the request *seconds* (None: until ``release()``), THEN handle it
    fully and answer.  The handler runs even if the client hung up during the
    hold: a client that gave up at 5 s still has its rotation committed at
    12 s.  ``fault.committed`` is set once the handler ran.
``commit_then_status``
    Handle the request fully (it commits), then answer *status* (500, 502,
    504...) with an optional ``Retry-After`` and body instead of the real
    answer.
``commit_then_garbage``
    Handle the request fully, then answer 200 with *body* instead (HTML,
    ``[]``, a truncated JSON object...).  With ``content_length=N`` the
    answer declares N bytes, sends the body and closes the connection (a
    truncated answer when N is larger).
``drip``
    Handle the request fully, then send the answer one byte every
    *interval* seconds: the whole answer (status line and headers too), or
    with ``whole=False`` the head at once and the body dripped.
``huge``
    Answer 200 at once with a body of *what*, without handling the request:
    ``"gzip_bomb"`` (about 1 MB of gzip, ``Content-Encoding: gzip``, that
    inflates to 1 GiB of JSON whitespace), ``"deep"`` (``[[[...]]]`` 100 000
    levels deep), ``"overflow"`` (``{"expires_in": 1e400}``), ``"nan"``,
    ``"infinity"`` (``NaN`` / ``Infinity`` as values), ``"big_int"`` (an
    integer of 4000 digits).

``Retry-After`` (status faults) is sent as given, also when it is no number
(a 400-digit number, "١٢٣", an HTTP date): values that latin-1 cannot encode
are sent as UTF-8 bytes, as a broken proxy would.

Holds never outlive the server: ``FakeGitLab.stop()`` releases them all, and
a request released that way is answered by closing the connection.  Faulted
requests appear in the request log (``RequestRecord.fault``); the ones
answered without handling never reach the router, so per-route counters do
not count them.
"""

from __future__ import annotations

import functools
import json
import re
import struct
import threading
import zlib
from typing import Iterable, Pattern

from .web import Response

__all__ = ["Fault", "Faults", "KINDS"]

KINDS = ("timeout", "status", "garbage", "drop", "drop_after_commit", "pause_after_commit",
         "commit_late", "commit_then_status", "commit_then_garbage", "drip", "huge")
# Kinds answered before (without) handling the request, and kinds that handle it and then
# misbehave.
CANNED = ("status", "garbage", "huge")
AFTER_COMMIT = ("drop_after_commit", "pause_after_commit", "commit_late", "commit_then_status",
                "commit_then_garbage", "drip")
HUGE = ("gzip_bomb", "deep", "overflow", "nan", "infinity", "big_int")

_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# What a captive portal or a misrouted proxy returns: HTML, not JSON.
DEFAULT_GARBAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Not JSON</body></html>\n"


class Fault:
    """One queued fault; returned by ``Faults.add`` and its shortcuts."""

    def __init__(self, kind: str, method: str | None, path: str | Pattern[str], times: int,
                 closing: threading.Event, *, seconds: float | None = None, status: int | None = None,
                 retry_after: int | str | None = None, body: bytes | str | None = None,
                 content_type: str | None = None, headers: Iterable[tuple[str, str]] = (),
                 handle: bool = False, content_length: int | None = None,
                 interval: float | None = None, whole: bool = True, what: str | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {KINDS}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind in ("status", "commit_then_status") and status is None:
            raise ValueError("a status fault needs status=")
        if kind == "huge" and what not in HUGE:
            raise ValueError(f"a huge fault needs what= one of {HUGE}")
        if kind == "drip" and not interval:
            raise ValueError("a drip fault needs interval=")
        self.kind = kind
        self.method = None if method in (None, "*") else method.upper()
        self.pattern = re.compile(path) if isinstance(path, str) else path
        self.times = times
        self.remaining = times
        self.hits = 0
        self.seconds = seconds
        self.handle = handle  # timeout: handle the request after the hold
        self.status = status
        self.retry_after = retry_after
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = list(headers)
        self.content_length = content_length  # commit_then_garbage: the declared length
        self.interval = interval  # drip
        self.whole = whole  # drip: the head too
        self.what = what  # huge
        # Set when the first matching request arrived (for a timeout: the
        # request is being held now).
        self.hit = threading.Event()
        # pause_after_commit / drop_after_commit: set once the handler ran.
        self.committed = threading.Event()
        self._proceed = threading.Event()
        self._closing = closing

    def __repr__(self) -> str:
        return (f"Fault({self.kind!r}, {self.method or '*'} {self.pattern.pattern!r}, "
                f"hits={self.hits}, remaining={self.remaining})")

    @property
    def proceed(self) -> threading.Event:
        """The Event a held request waits on; ``release()`` sets it."""
        return self._proceed

    def release(self) -> None:
        """End the hold (timeout, pause_after_commit); later holds pass at once."""
        self._proceed.set()

    def wait_hit(self, timeout: float = 10.0) -> bool:
        return self.hit.wait(timeout)

    def wait_committed(self, timeout: float = 10.0) -> bool:
        return self.committed.wait(timeout)

    @property
    def used_up(self) -> bool:
        return self.remaining == 0

    # --- used by the HTTP layer ------------------------------------------------------

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and bool(self.pattern.fullmatch(path))

    def hold(self) -> bool:
        """Wait as the fault says; False when the server is stopping (drop the request)."""
        if self.kind in ("timeout", "commit_late") and self.seconds is not None:
            self._proceed.wait(self.seconds)
        else:
            self._proceed.wait()
        return not self._closing.is_set()

    def pause(self, seconds: float) -> bool:
        """Sleep *seconds* (drip); False when the server is stopping."""
        return not self._closing.wait(seconds)

    def response(self) -> Response:
        """The canned answer of a status, garbage or huge fault (or the one sent after a
        commit)."""
        headers = list(self.headers)
        if self.kind == "huge":
            assert self.what is not None
            return huge_response(self.what, headers)
        if self.kind in ("garbage", "commit_then_garbage"):
            return Response(200, [("Content-Type", self.content_type or "text/html; charset=utf-8"), *headers],
                            DEFAULT_GARBAGE if self.body is None else self.body)
        status = self.status
        assert status is not None
        if self.retry_after is not None:
            headers.append(("Retry-After", str(self.retry_after)))
        if self.body is not None:
            body, ctype = self.body, self.content_type or "application/json"
        elif status == 429:
            # GitLab's Rack::Attack throttle answer.
            body, ctype = b"Retry later\n", "text/plain"
        else:
            text = f"{status} {_REASONS.get(status, 'Error')}"
            body, ctype = json.dumps({"message": text}).encode(), "application/json"
        return Response(status, [("Content-Type", ctype), *headers], body)


class Faults:
    """The fault queue of one FakeGitLab.  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []  # queued, not used up
        self._all: list[Fault] = []  # every fault since the last clear(), to release holds
        self._closing = threading.Event()

    def add(self, method: str | None, path: str | Pattern[str], kind: str, *, times: int = 1,
            **options) -> Fault:
        """Queue a fault for the next *times* requests matching *method* (None or
        "*": any) and *path* (a regex matched against the whole decoded path)."""
        fault = Fault(kind, method, path, times, self._closing, **options)
        with self._lock:
            self._faults.append(fault)
            self._all.append(fault)
        return fault

    def timeout(self, method, path, seconds: float | None = None, *, times: int = 1,
                handle: bool = False) -> Fault:
        return self.add(method, path, "timeout", times=times, seconds=seconds, handle=handle)

    def status(self, method, path, status: int, *, retry_after: int | str | None = None,
               body: bytes | str | None = None, content_type: str | None = None,
               headers: Iterable[tuple[str, str]] = (), times: int = 1) -> Fault:
        return self.add(method, path, "status", times=times, status=status, retry_after=retry_after,
                        body=body, content_type=content_type, headers=headers)

    def garbage(self, method, path, *, body: bytes | str | None = None, content_type: str | None = None,
                times: int = 1) -> Fault:
        return self.add(method, path, "garbage", times=times, body=body, content_type=content_type)

    def drop(self, method, path, *, times: int = 1) -> Fault:
        return self.add(method, path, "drop", times=times)

    def drop_after_commit(self, method, path, *, times: int = 1) -> Fault:
        return self.add(method, path, "drop_after_commit", times=times)

    def pause_after_commit(self, method, path, *, times: int = 1) -> Fault:
        return self.add(method, path, "pause_after_commit", times=times)

    def commit_late(self, method, path, seconds: float | None, *, times: int = 1) -> Fault:
        return self.add(method, path, "commit_late", times=times, seconds=seconds)

    def commit_then_status(self, method, path, status: int, body: bytes | str | None = None, *,
                           retry_after: int | str | None = None, content_type: str | None = None,
                           times: int = 1) -> Fault:
        return self.add(method, path, "commit_then_status", times=times, status=status, body=body,
                        retry_after=retry_after, content_type=content_type)

    def commit_then_garbage(self, method, path, body: bytes | str, *, content_length: int | None = None,
                            content_type: str | None = None, times: int = 1) -> Fault:
        return self.add(method, path, "commit_then_garbage", times=times, body=body,
                        content_length=content_length, content_type=content_type)

    def drip(self, method, path, interval: float, *, whole: bool = True, times: int = 1) -> Fault:
        return self.add(method, path, "drip", times=times, interval=interval, whole=whole)

    def huge(self, method, path, what: str, *, times: int = 1) -> Fault:
        return self.add(method, path, "huge", times=times, what=what)

    def take(self, method: str, path: str) -> Fault | None:
        """The first queued fault for this request, counted as used (HTTP layer)."""
        with self._lock:
            if self._closing.is_set():
                return None
            for fault in self._faults:
                if fault.remaining and fault.matches(method, path):
                    fault.remaining -= 1
                    fault.hits += 1
                    if not fault.remaining:
                        self._faults.remove(fault)
                    if fault.kind != "commit_late":   # that one: once the body is in
                        fault.hit.set()
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Forget queued faults and release every hold (held requests go on)."""
        with self._lock:
            faults, self._all = self._all, []
            self._faults = []
        for fault in faults:
            fault.release()

    def close(self) -> None:
        """Server stopping: release every hold; held requests are dropped."""
        self._closing.set()
        self.clear()

    def reopen(self) -> None:
        self._closing.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def __repr__(self) -> str:
        return f"Faults({self.pending()!r})"


@functools.lru_cache(maxsize=None)
def _gzip_bomb() -> bytes:
    """~1 MB of gzip (one member) inflating to 1 GiB of spaces.  After a full flush the
    deflate state starts afresh, so one MiB compresses to the same bytes every time: compress
    it once, repeat it, and end with an empty final block and the gzip trailer."""
    block = b" " * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(block, crc)
    trailer = b"\x03\x00" + struct.pack("<II", crc, (1024 << 20) & 0xFFFFFFFF)
    return head + again * 1023 + trailer


def huge_response(what: str, headers: list[tuple[str, str]]) -> Response:
    json_type = ("Content-Type", "application/json")
    if what == "gzip_bomb":
        return Response(200, [json_type, ("Content-Encoding", "gzip"), *headers], _gzip_bomb())
    bodies = {
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "overflow": b'{"id": 1, "expires_in": 1e400}',
        "nan": b'{"id": 1, "expires_in": NaN}',
        "infinity": b'{"id": 1, "expires_in": -Infinity}',
        "big_int": b'{"id": ' + b"9" * 4000 + b"}",
    }
    return Response(200, [json_type, *headers], bodies[what])
