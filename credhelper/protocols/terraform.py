"""``terraform-credentials-gitlab get|store|forget HOST``: Terraform's (and OpenTofu's)
credentials helper protocol.

    get HOST      stdout: {"token":"..."} for a known GitLab host, else {} (exit 0)
    store HOST    stdin: {"token":"..."}; keeps it for HOST
    forget HOST   forgets what store kept (a token added with credhelper add stays)

Errors go to stderr with a non-zero exit.  Terraform sends the token as a Bearer token,
which GitLab's Terraform module registry accepts (PATs with read_api/api, deploy and job
tokens).
"""

from __future__ import annotations

import json
import sys

from credhelper.errors import ProtocolError
from credhelper.protocols import serve, version_asked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO, TextIO

    from credhelper.service import Service

PROG = "terraform-credentials-gitlab"
MAX_INPUT = 1 << 20


def run(action: str, host_argument: str, data: bytes, service: Callable[[], Service]) -> str:
    """One helper call: returns the text for stdout.  ``service()`` gives the Service."""
    from credhelper.rules.hosts import normalise_host
    from credhelper.rules.model import PACKAGES, TERRAFORM_STORE, Request

    host = normalise_host(host_argument)
    request = Request("https", host, operation="read", service=PACKAGES)
    if action == "get":
        found = service().lookup(request)
        return json.dumps({"token": found.secret} if found else {}) + "\n"
    if action == "store":
        token = _stored_token(data)
        service().remember(request, "terraform", token, origin=TERRAFORM_STORE)
        return ""
    service().forget_stored(request, TERRAFORM_STORE)
    return ""


def _stored_token(data: bytes) -> str:
    """The token in what ``store`` reads: ``{"token": "..."}``."""
    if len(data) > MAX_INPUT:
        raise ProtocolError("input longer than %d bytes" % MAX_INPUT)
    try:
        body = json.loads(data or b"")
    except ValueError:
        raise ProtocolError("the credentials are not valid JSON") from None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip() or any(c in token for c in "\r\n\0"):
        raise ProtocolError("the credentials object needs a \"token\" string")
    return token.strip()


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None,
         stdout: TextIO | None = None, service: Service | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if version_asked(PROG, argv, stdout):
        return 0
    if len(argv) != 2 or argv[0] not in ("get", "store", "forget"):
        sys.stderr.write("usage: terraform-credentials-gitlab get|store|forget HOST\n")
        return 1
    action, host, out = argv[0], argv[1], stdout or sys.stdout

    def answer(data: bytes, services: Callable[[], Service]) -> int:
        out.write(run(action, host, data, services))
        out.flush()
        return 0

    return serve(PROG, answer, stdin=stdin, limit=MAX_INPUT + 1 if action == "store" else 0,
                 service=service)


if __name__ == "__main__":
    sys.exit(main())
