"""``docker-credential-gitlab store|get|erase|list|version``: docker's credential helper
protocol (docker/docker-credential-helpers, credentials/).

    get    stdin: a server URL;  stdout: {"ServerURL","Username","Secret"}
    store  stdin: {"ServerURL","Username","Secret"}   (docker login)
    erase  stdin: a server URL                        (docker logout)
    list   stdout: {"ServerURL": "Username", ...}

Errors go to stdout with exit 1; the exact text ``credentials not found in native keychain``
means "not found", on which docker carries on without credentials, so it is what every
registry we do not serve gets.  Podman, skopeo and buildah (containers/image) pass the bare
registry host; docker may pass ``host``, ``host:port`` or ``https://host/...``.
"""

from __future__ import annotations

import json
import sys

from credhelper.errors import CredhelperError, ProtocolError
from credhelper.protocols import VERSION_FLAGS, serve, version_asked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO, TextIO

    from credhelper.service import Service

PROG = "docker-credential-gitlab"

NOT_FOUND = "credentials not found in native keychain"
MISSING_URL = "no credentials server URL"
MISSING_USERNAME = "no credentials username"
MAX_INPUT = 1 << 20     # docker sends a few hundred bytes; anything near this is not docker


def run(action: str, data: bytes, service: Callable[[], Service]) -> tuple[str, int]:
    """One helper call: (stdout text, exit code).  ``service()`` gives the Service."""
    from credhelper.rules.container_registries import parse_server_url
    from credhelper.rules.model import REGISTRY, Request

    if action == "list":
        from credhelper.registry_service import list_registries

        return json.dumps(list_registries(service()), sort_keys=True) + "\n", 0
    text = _text(data)
    if action == "store":
        return _store(text, service)
    server_url = text.strip(" \t\r\n")   # ASCII only: str.strip() also drops U+2003
    if not server_url:
        return MISSING_URL + "\n", 1
    _check_value(server_url)
    protocol, host = parse_server_url(server_url)
    request = Request(protocol, host, service=REGISTRY)
    if action == "get":
        from credhelper.registry_service import lookup_registry

        answer = lookup_registry(service(), request)
        if answer is None:
            return NOT_FOUND + "\n", 1
        reply = {"ServerURL": server_url, "Username": answer.username, "Secret": answer.secret}
        return json.dumps(reply) + "\n", 0
    # erase
    try:
        from credhelper.registry_service import forget_registry

        forgotten = forget_registry(service(), request)
    except CredhelperError as refused:
        # docker (28) swallows a helper's erase error, so say it where the user will see it
        from credhelper.rules.redact import scrub

        _tell_terminal("%s: %s\n" % (PROG, scrub(str(refused))))
        raise
    if forgotten == 0:
        return NOT_FOUND + "\n", 1
    return "", 0


def _store(text: str, service: Callable[[], Service]) -> tuple[str, int]:
    """``docker login``: keep the credential docker hands over for its registry."""
    from credhelper.rules.container_registries import parse_server_url
    from credhelper.rules.model import DOCKER_STORE, REGISTRY, Request

    try:
        credential = json.loads(text)
    except ValueError:
        raise ProtocolError("the credential is not valid JSON") from None
    if not isinstance(credential, dict):
        raise ProtocolError("the credential must be a JSON object")
    server_url = credential.get("ServerURL")
    username, secret = credential.get("Username"), credential.get("Secret")
    if not isinstance(server_url, str) or not server_url.strip():
        return MISSING_URL + "\n", 1
    if not isinstance(username, str) or not username.strip():
        return MISSING_USERNAME + "\n", 1
    if not isinstance(secret, str) or not secret:
        raise ProtocolError("no credentials secret")
    for value in (server_url, username, secret):
        _check_value(value)
    protocol, host = parse_server_url(server_url)
    service().remember(Request(protocol, host, service=REGISTRY), username.strip(), secret,
                       origin=DOCKER_STORE)
    return "", 0


def _tell_terminal(message: str) -> None:
    """Write to the controlling terminal, if there is one (docker hides our stderr)."""
    import os

    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        return
    try:
        os.write(fd, message.encode("utf-8", "replace"))
    except OSError:
        pass
    finally:
        os.close(fd)


def _text(data: bytes) -> str:
    if len(data) > MAX_INPUT:
        raise ProtocolError("input larger than %d bytes" % MAX_INPUT)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("input is not UTF-8") from None


def _check_value(value: str) -> None:
    if any(c in value for c in "\r\n\0"):
        raise ProtocolError("CR, LF or NUL in a value")


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None,
         stdout: TextIO | None = None, service: Service | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = stdout or sys.stdout
    # docker's `version` action, and docker-credential-helpers' -v/--version flags
    if version_asked(PROG, argv, out, ("version", "-v") + VERSION_FLAGS):
        return 0
    if len(argv) != 1 or argv[0] not in ("get", "store", "erase", "list"):
        out.write("Usage: docker-credential-gitlab <store|get|erase|list|version>\n")
        return 1
    action = argv[0]

    def answer(data: bytes, services: Callable[[], Service]) -> int:
        text, code = run(action, data, services)
        out.write(text)
        out.flush()
        return code

    # docker reads errors from stdout too, and has always seen them as "credhelper: ..."
    return serve(PROG, answer, stdin=stdin, limit=0 if action == "list" else MAX_INPUT + 1,
                 service=service, errors=out, prefix="credhelper")


if __name__ == "__main__":
    sys.exit(main())
