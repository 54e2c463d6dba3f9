"""``cargo-credential-gitlab``: a cargo credential provider (cargo's "Credential Provider
Protocol", JSON lines over stdin/stdout).

cargo runs the provider with ``--cargo-plugin``; the provider first says hello with the
versions it speaks, then answers one request per line until stdin closes:

    -> {"v":[1]}
    <- {"v":1,"registry":{"index-url":"sparse+https://...","name":"..."},"kind":"get",
        "operation":"read","args":[]}
    -> {"Ok":{"kind":"get","token":"...","cache":"session","operation_independent":true}}

``login`` stores a token for the registry's host (``credhelper add`` semantics), ``logout``
forgets what ``login`` stored.  An index the user has not listed in its host's
``cargo_indexes`` (config.toml), or on a host credhelper does not know, gets
``{"Err":{"kind":"url-not-supported"}}``, so cargo tries the next provider; a listed index
with nothing to give gets ``{"Err":{"kind":"not-found"}}``.
"""

from __future__ import annotations

import json
import sys
from functools import partial

from credhelper.errors import CredhelperError, ProtocolError
from credhelper.protocols import serve, settle, version_asked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, TextIO

    from credhelper.service import Service

    Message = dict[str, Any]

PROG = "cargo-credential-gitlab"
HELLO = {"v": [1]}
MAX_REQUEST = 1 << 20   # characters in one request line; cargo's are a few hundred


def answer(request: Message, service: Service) -> Message:
    """One request (a dict) -> one response (a dict)."""
    from credhelper.rules.model import CARGO_STORE, PACKAGES, Request

    kind = request.get("kind")
    if request.get("v") != 1:
        return _error("other", "unsupported protocol version %r" % (request.get("v"),))
    if kind not in ("get", "login", "logout"):
        return _error("operation-not-supported")
    found_host = _registry_host(request.get("registry"))
    if found_host is None or not service.manages(found_host[1]) \
            or not _opted_in(request.get("registry"), found_host[1], service):
        return _error("url-not-supported")
    operation = "write" if request.get("operation") in ("publish", "yank", "unyank",
                                                          "owners") else "read"
    target = Request(*found_host, None, operation=operation, service=PACKAGES)
    if kind == "get":
        found = service.lookup(target)
        if found is None:
            return _error("not-found")
        return {"Ok": {"kind": "get", "token": found.secret, "cache": "session",
                       "operation_independent": True}}
    if kind == "login":
        token = request.get("token")
        if not isinstance(token, str) or not token.strip():
            return _error("other", "cargo sent no token")
        service.remember(target, "cargo", token.strip(), origin=CARGO_STORE)
        return {"Ok": {"kind": "login"}}
    forgotten = service.forget_stored(target, CARGO_STORE)
    return {"Ok": {"kind": "logout"}} if forgotten else _error("not-found")


def _registry_host(registry: object) -> tuple[str, str] | None:
    """(protocol, host) of the registry's index URL, through the one strict URL parser; None
    for anything that is not a URL of its own (cargo then asks its next provider)."""
    from credhelper.rules.container_registries import parse_server_url

    index_url = registry.get("index-url") if isinstance(registry, dict) else None
    if not isinstance(index_url, str):
        return None
    url = index_url[len("sparse+"):] if index_url.startswith("sparse+") else index_url
    if "://" not in url:    # cargo's index URLs always name their scheme
        return None
    try:
        return parse_server_url(url)
    except CredhelperError:
        return None


def _opted_in(registry: object, host: str, service: Service) -> bool:
    """Is this index one the user listed in ``[hosts."H"] cargo_indexes``?  cargo sends the
    token to whatever download URL the index's config.json names, and any project on a GitLab
    host can serve such a file, so a known host alone is not enough (README, cargo)."""
    from credhelper.rules.package_urls import cargo_index_key

    assert isinstance(registry, dict)     # _registry_host found a host in it
    key = cargo_index_key(registry["index-url"])
    return key is not None and key[2] in service.config().host(host).cargo_indexes


def _error(kind: str, message: str | None = None) -> Message:
    body = {"kind": kind}
    if message:
        body["message"] = message
    return {"Err": body}


def respond(line: str, service: Callable[[], Service]) -> Message:
    """One request line -> one response; ``service()`` gives the Service."""
    if len(line) > MAX_REQUEST:
        raise ProtocolError("request longer than %d characters" % MAX_REQUEST)
    try:
        request = json.loads(line)
        if not isinstance(request, dict):
            raise ValueError
    except ValueError:
        return _error("other", "the request is not a JSON object")
    return answer(request, service())


def _requests(stream: TextIO) -> Iterator[str]:
    """The non-blank request lines.  A line longer than MAX_REQUEST comes cut there (and is
    refused); the rest of it is skipped."""
    while line := stream.readline(MAX_REQUEST + 1):
        rest = line
        while len(rest) > MAX_REQUEST and not rest.endswith("\n"):
            rest = stream.readline(MAX_REQUEST + 1)
        if line.strip():
            yield line


def _send(stream: TextIO, message: Message) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def main(argv: list[str] | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, service: Service | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if version_asked(PROG, argv, stdout):
        return 0
    if "--cargo-plugin" not in argv:
        sys.stderr.write("cargo-credential-gitlab is run by cargo: set it as a credential "
                         "provider (registry.global-credential-providers)\n")
        return 2
    out = stdout or sys.stdout

    def session(data: bytes, services: Callable[[], Service]) -> int:
        _send(out, HELLO)
        for line in _requests(stdin or sys.stdin):
            # an error answers this request ({"Err": ...}); cargo may send another
            _send(out, settle(PROG, partial(respond, line, services), _refused, prefix=""))
        return 0

    return serve(PROG, session, service=service)


def _refused(line: str) -> Message:
    return _error("other", line)


if __name__ == "__main__":
    sys.exit(main())
