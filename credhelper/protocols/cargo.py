"""``cargo-credential-gitlab``: a cargo credential provider (cargo's "Credential Provider
Protocol", JSON lines over stdin/stdout).

cargo runs the provider with ``--cargo-plugin``; the provider first says hello with the
versions it speaks, then answers one request per line until stdin closes:

    -> {"v":[1]}
    <- {"v":1,"registry":{"index-url":"sparse+https://...","name":"..."},"kind":"get",
        "operation":"read","args":[]}
    -> {"Ok":{"kind":"get","token":"...","cache":"session","operation_independent":true}}

``login`` stores a token for the registry's host (``credhelper add`` semantics), ``logout``
forgets what ``login`` stored.  A registry that is not a known GitLab host gets
``{"Err":{"kind":"url-not-supported"}}``, so cargo tries the next provider; a known host with
nothing to give gets ``{"Err":{"kind":"not-found"}}``.
"""

import json
import sys

from credhelper.errors import CredhelperError

HELLO = {"v": [1]}


def answer(request, service):
    """One request (a dict) -> one response (a dict)."""
    from credhelper.rules.container_registries import parse_server_url
    from credhelper.rules.model import CARGO_STORE, PACKAGES, Request

    kind = request.get("kind")
    registry = request.get("registry") or {}
    index_url = registry.get("index-url") if isinstance(registry, dict) else None
    if request.get("v") != 1:
        return _error("other", "unsupported protocol version %r" % (request.get("v"),))
    if kind not in ("get", "login", "logout"):
        return _error("operation-not-supported")
    if not isinstance(index_url, str) or not index_url:
        return _error("url-not-supported")
    url = index_url.split("+", 1)[1] if index_url.startswith("sparse+") else index_url
    try:
        protocol, host = parse_server_url(url)
    except CredhelperError:
        return _error("url-not-supported")
    if not service.manages(host):
        return _error("url-not-supported")
    operation = "write" if request.get("operation") in ("publish", "yank", "unyank",
                                                          "owners") else "read"
    target = Request(protocol, host, None, operation=operation, service=PACKAGES)
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


def _error(kind, message=None):
    body = {"kind": kind}
    if message:
        body["message"] = message
    return {"Err": body}


def main(argv=None, stdin=None, stdout=None, service=None):
    argv = sys.argv[1:] if argv is None else argv
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if "--cargo-plugin" not in argv:
        sys.stderr.write("cargo-credential-gitlab is run by cargo: set it as a credential "
                         "provider (registry.global-credential-providers)\n")
        return 2
    stdout.write(json.dumps(HELLO) + "\n")
    stdout.flush()
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            response = _error("other", "the request is not a JSON object")
        else:
            try:
                if service is None:
                    from credhelper.service import Service

                    service = Service()
                response = answer(request, service)
            except CredhelperError as error:
                from credhelper.rules.redact import scrub

                response = _error("other", scrub(str(error)))
        stdout.write(json.dumps(response) + "\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
