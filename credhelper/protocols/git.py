"""``git-credential-gitlab get|store|erase``: git's credential helper protocol.

Wire format (git's Documentation/git-credential.adoc, credential.c): ``key=value`` lines ended by
a blank line or EOF; values hold no LF or NUL; a line is at most 65535 bytes.  We split on LF
only and strip one trailing CR (a CRLF line ending), and refuse any other CR, because helpers
that treated a bare CR as a line break let a crafted URL inject ``host=`` and leak a credential
to another host (CVE-2024-52006, "Clone2Leak").  Unknown keys and actions are ignored, as git
expects; ``get`` with nothing to give prints nothing and exits 0 so git asks the next helper.

Newer git (docs/protocols.md#newer-git-attributes): the values credhelper reads are checked as
strictly as the core ones (a boolean is one of git's boolean words, an expiry is Unix seconds),
and an answer carries a 2.46 key only after git announced its ``capability[]``.  A short-lived
credential is then marked ``ephemeral``, so that storage helpers (credential-cache) do not keep
it; a ``store`` marked ephemeral is not kept here either.  ``oauth_refresh_token`` is never
sent: GitLab's refresh tokens are single-use, so a copy in another helper's store goes stale
at credhelper's next refresh (docs/gitlab.md#oauth), and git itself does nothing with one.

Streams and environment are parameters so tests can drive ``main`` in-process.
"""

from __future__ import annotations

import sys

from credhelper.errors import ProtocolError
from credhelper.protocols import serve, version_asked
from credhelper.rules import freshness
from credhelper.rules.hosts import normalise_host, normalise_path
from credhelper.rules.model import Request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, BinaryIO, Protocol

    from credhelper.rules.model import Answer
    from credhelper.service import Service

    Attributes = dict[str, Any]     # a str per key; a list[str] for each ``key[]``

    class Backend(Protocol):
        """What ``run`` asks of a service: ``Service``, or the fast path's stand-in
        (fast_service.py), which answers the common case by the same code."""

        clock: Callable[[], float]

        def lookup(self, request: Request) -> Answer | None: ...

        def remember(self, request: Request, username: str | None, secret: str | None,
                     origin: str = ..., expires_utc: int | None = None) -> None: ...

        def reject(self, request: Request, username: str | None, secret: str | None
                   ) -> None: ...

PROG = "git-credential-gitlab"
MAX_LINE = 65535
MAX_INPUT = 16 * (MAX_LINE + 1)   # longer input is refused, not answered cut short
# git's boolean words (config.c git_parse_maybe_bool_text), and the keys that hold one
GIT_TRUE = frozenset({"true", "yes", "on"})
GIT_FALSE = frozenset({"", "false", "no", "off"})
BOOLEAN_KEYS = ("ephemeral", "continue", "quit")


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


def git_bool(key: str, value: str) -> bool:
    """A boolean the way git reads one (``git_config_bool``): its words, any case, or a
    decimal integer; anything else is refused, as git dies on it."""
    word = value.lower()
    if word in GIT_TRUE or word in GIT_FALSE:
        return word in GIT_TRUE
    digits = value[1:] if value[:1] == "-" else value
    if digits.isascii() and digits.isdigit() and len(digits) <= 19:
        return int(value) != 0
    raise ProtocolError("%s is not a boolean (git's true/false/yes/no/on/off/1/0)" % key)


def unix_seconds(value: str) -> int | None:
    """``password_expiry_utc``: ASCII digits; 0 means none, as in git's ``credential_read``."""
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise ProtocolError("password_expiry_utc is not a Unix time in seconds")
    return int(value) or None


def check_newer(attributes: Attributes) -> dict[str, object]:
    """The newer attributes credhelper reads, checked: ``{key: bool or int or None}``.
    Everything else newer git sends (``wwwauth[]``, ``state[]``, ``authtype``,
    ``credential``, ``oauth_refresh_token``) is left alone."""
    checked: dict[str, object] = {}
    for key in BOOLEAN_KEYS:
        if key in attributes:
            checked[key] = git_bool(key, attributes[key])
    if "password_expiry_utc" in attributes:
        checked["password_expiry_utc"] = unix_seconds(attributes["password_expiry_utc"])
    return checked


def reply(answer: Answer, announced: Iterable[str], now: float) -> dict[str, object]:
    """The ``get`` answer: username and password, their expiry, and ``ephemeral`` for a
    short-lived credential when git announced the ``authtype`` capability, which that key
    belongs to (git 2.46; the capability goes first, as git-credential.adoc asks)."""
    ephemeral = "authtype" in announced and answer.record is not None \
        and freshness.short_lived(answer.record, now)
    out: dict[str, object] = {"capability[]": "authtype"} if ephemeral else {}
    out["username"] = answer.username
    out["password"] = answer.secret
    if answer.expiry_utc is not None:
        out["password_expiry_utc"] = answer.expiry_utc
    if ephemeral:
        out["ephemeral"] = 1
    return out


def store(service: Backend, request: Request, attributes: Attributes,
          checked: Mapping[str, object]) -> None:
    """git's ``store``: kept unless git says it is ``ephemeral`` ("must not be stored",
    git-credential.adoc) or its ``password_expiry_utc`` has passed (git 2.40 drops such a
    password itself); the expiry is kept with it, so it is never served after that."""
    value = checked.get("password_expiry_utc")
    expiry = value if isinstance(value, int) else None
    if checked.get("ephemeral") or (expiry is not None and expiry <= service.clock()):
        return
    service.remember(request, attributes.get("username"), attributes.get("password"),
                     expires_utc=expiry)


def run(action: str, data: bytes, service: Callable[[], Backend]) -> bytes:
    """One helper call: returns the bytes for stdout.  ``service()`` gives the Service (made
    when first asked for: an action git does not know, or a request without a host, needs
    none)."""
    if action not in ("get", "store", "erase"):
        return b""  # git: "a helper ignores actions it does not know"
    attributes = parse(data)
    request = request_from(attributes)
    if request is None:
        return b""
    checked = check_newer(attributes)
    if action == "get":
        answer = service().lookup(request)
        if answer is None:
            return b""
        return emit(reply(answer, attributes.get("capability[]") or (), service().clock()))
    if action == "store":
        store(service(), request, attributes, checked)
    else:
        service().reject(request, attributes.get("username"), attributes.get("password"))
    return b""


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None,
         stdout: BinaryIO | None = None, service: Service | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if version_asked(PROG, argv):
        return 0
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
