"""``git-credential-gitlab get|store|erase``: git's credential helper protocol.

Wire format (git's Documentation/git-credential.adoc, credential.c): ``key=value`` lines ended by
a blank line or EOF; values hold no LF or NUL; a line is at most 65535 bytes.  We split on LF
only and strip one trailing CR (a CRLF line ending), and refuse any other CR, because helpers
that treated a bare CR as a line break let a crafted URL inject ``host=`` and leak a credential
to another host (CVE-2024-52006, "Clone2Leak").  Unknown keys and actions are ignored, as git
expects; ``get`` with nothing to give prints nothing and exits 0 so git asks the next helper.

Streams and environment are parameters so tests can drive ``main`` in-process.
"""

from __future__ import annotations

import sys

from credhelper.errors import ProtocolError
from credhelper.protocols import serve
from credhelper.rules.hosts import normalise_host, normalise_path
from credhelper.rules.model import Request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, BinaryIO

    from credhelper.service import Service

    Attributes = dict[str, Any]     # a str per key; a list[str] for each ``key[]``

PROG = "git-credential-gitlab"
MAX_LINE = 65535
MAX_INPUT = 16 * (MAX_LINE + 1)   # longer input is refused, not answered cut short


def parse(data: bytes) -> Attributes:
    """Bytes from git -> {key: value}, with ``key[]`` keys collected into lists."""
    attributes: Attributes = {}
    for raw in data.split(b"\n"):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            break
        if len(raw) > MAX_LINE:
            raise ProtocolError("input line longer than %d bytes" % MAX_LINE)
        if b"\0" in raw:
            raise ProtocolError("NUL byte in input")
        if b"\r" in raw:
            raise ProtocolError("carriage return inside a value (refused: CVE-2024-52006)")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("input is not UTF-8") from None
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise ProtocolError("malformed input line (expected key=value)")
        if key.endswith("[]"):
            values = attributes.setdefault(key, [])
            if value:
                values.append(value)
            else:
                values.clear()  # an empty array value resets the list, as in git
        elif key == "url":   # shorthand for its parts, read by the one strict URL parser
            from credhelper.rules.urls import url_parts  # rare: git sends the parts

            attributes.update(url_parts(value))
        else:
            attributes[key] = value
    return attributes


def emit(attributes: Mapping[str, object]) -> bytes:
    """{key: value} -> bytes for git; refuses values that could smuggle in another line."""
    out = []
    for key, value in attributes.items():
        value = str(value)
        if any(c in value for c in "\n\r\0") or any(c in key for c in "=\n\r\0"):
            raise ProtocolError("refusing to emit %s containing CR, LF or NUL" % key)
        out.append("%s=%s\n" % (key, value))
    return "".join(out).encode("utf-8")


def request_from(attributes: Attributes, operation: str | None = None) -> Request | None:
    """The attributes as a Request, or None when git did not say which host and protocol
    (git itself refuses such credentials: CVE-2020-11008)."""
    protocol = attributes.get("protocol", "").lower()
    host = attributes.get("host", "")
    if not protocol or not host:
        return None
    return Request(protocol, normalise_host(host, protocol),
                   normalise_path(attributes.get("path")), attributes.get("username") or None,
                   operation)


def run(action: str, data: bytes, service: Callable[[], Service]) -> bytes:
    """One helper call: returns the bytes for stdout.  ``service()`` gives the Service (made
    when first asked for: an action git does not know, or a request without a host, needs
    none)."""
    if action not in ("get", "store", "erase"):
        return b""  # git: "a helper ignores actions it does not know"
    attributes = parse(data)
    request = request_from(attributes)
    if request is None:
        return b""
    if action == "get":
        answer = service().lookup(request)
        if answer is None:
            return b""
        reply: dict[str, object] = {"username": answer.username, "password": answer.secret}
        if answer.expiry_utc is not None:
            reply["password_expiry_utc"] = answer.expiry_utc
        return emit(reply)
    if action == "store":
        service().remember(request, attributes.get("username"), attributes.get("password"))
    else:
        service().reject(request, attributes.get("username"), attributes.get("password"))
    return b""


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None,
         stdout: BinaryIO | None = None, service: Service | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: git-credential-gitlab get|store|erase "
                         "(git runs this; see credhelper setup git)\n")
        return 2
    action, out = argv[0], stdout or sys.stdout.buffer

    def answer(data: bytes, services: Callable[[], Service]) -> int:
        if len(data) > MAX_INPUT:
            raise ProtocolError("input longer than %d bytes" % MAX_INPUT)
        out.write(run(action, data, services))
        out.flush()
        return 0

    return serve(PROG, answer, stdin=stdin, limit=MAX_INPUT + 1, service=service)


if __name__ == "__main__":
    sys.exit(main())
