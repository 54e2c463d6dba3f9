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

import json
import sys

from credhelper import __version__
from credhelper.errors import CredhelperError, ProtocolError

NOT_FOUND = "credentials not found in native keychain"
MISSING_URL = "no credentials server URL"
MISSING_USERNAME = "no credentials username"
MAX_INPUT = 1 << 20     # docker sends a few hundred bytes; anything near this is not docker


def run(action, data, service):
    """One helper call: (stdout text, exit code)."""
    from credhelper.rules.container_registries import parse_server_url
    from credhelper.rules.model import DOCKER_STORE, REGISTRY, Request

    if action == "list":
        from credhelper.registry_service import list_registries

        return json.dumps(list_registries(service), sort_keys=True) + "\n", 0
    text = _text(data)
    if action == "store":
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
        service.remember(Request(protocol, host, service=REGISTRY), username.strip(), secret,
                         origin=DOCKER_STORE)
        return "", 0
    server_url = text.strip()
    if not server_url:
        return MISSING_URL + "\n", 1
    _check_value(server_url)
    protocol, host = parse_server_url(server_url)
    request = Request(protocol, host, service=REGISTRY)
    if action == "get":
        from credhelper.registry_service import lookup_registry

        answer = lookup_registry(service, request)
        if answer is None:
            return NOT_FOUND + "\n", 1
        reply = {"ServerURL": server_url, "Username": answer.username, "Secret": answer.secret}
        return json.dumps(reply) + "\n", 0
    # erase
    try:
        from credhelper.registry_service import forget_registry

        forgotten = forget_registry(service, request)
    except CredhelperError as refused:
        # docker (28) swallows a helper's erase error, so say it where the user will see it
        _tell_terminal("docker-credential-gitlab: %s\n" % refused)
        raise
    if forgotten == 0:
        return NOT_FOUND + "\n", 1
    return "", 0


def _tell_terminal(message):
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


def _text(data):
    if len(data) > MAX_INPUT:
        raise ProtocolError("input larger than %d bytes" % MAX_INPUT)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("input is not UTF-8") from None


def _check_value(value):
    if any(c in value for c in "\r\n\0"):
        raise ProtocolError("CR, LF or NUL in a value")


def main(argv=None, stdin=None, stdout=None, service=None):
    argv = sys.argv[1:] if argv is None else argv
    stdout = stdout or sys.stdout
    if argv == ["version"]:
        stdout.write("docker-credential-gitlab (credhelper) %s\n" % __version__)
        return 0
    if len(argv) != 1 or argv[0] not in ("get", "store", "erase", "list"):
        stdout.write("Usage: docker-credential-gitlab <store|get|erase|list|version>\n")
        return 1
    stdin = stdin or sys.stdin.buffer
    try:
        data = stdin.read(MAX_INPUT + 1) if argv[0] != "list" else b""
        if service is None:
            from credhelper.service import Service

            service = Service()
        text, code = run(argv[0], data, service)
    except CredhelperError as error:
        from credhelper.rules.redact import scrub

        text, code = "credhelper: %s\n" % scrub(str(error)), 1
    except KeyboardInterrupt:
        return 130
    stdout.write(text)   # docker reads errors from stdout too
    stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
