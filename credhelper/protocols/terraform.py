"""``terraform-credentials-gitlab get|store|forget HOST``: Terraform's (and OpenTofu's)
credentials helper protocol.

    get HOST      stdout: {"token":"..."} for a known GitLab host, else {} (exit 0)
    store HOST    stdin: {"token":"..."}; keeps it for HOST
    forget HOST   forgets what store kept (a token added with credhelper add stays)

Errors go to stderr with a non-zero exit.  Terraform sends the token as a Bearer token,
which GitLab's Terraform module registry accepts (PATs with read_api/api, deploy and job
tokens).
"""

import json
import sys

from credhelper.errors import CredhelperError, ProtocolError


def run(action, host_argument, data, service):
    from credhelper.rules.hosts import normalise_host
    from credhelper.rules.model import PACKAGES, TERRAFORM_STORE, Request

    host = normalise_host(host_argument)
    request = Request("https", host, operation="read", service=PACKAGES)
    if action == "get":
        found = service.lookup(request)
        return json.dumps({"token": found.secret} if found else {}) + "\n"
    if action == "store":
        try:
            body = json.loads(data or b"")
        except ValueError:
            raise ProtocolError("the credentials are not valid JSON") from None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token.strip() or any(c in token for c in "\r\n\0"):
            raise ProtocolError("the credentials object needs a \"token\" string")
        service.remember(request, "terraform", token.strip(), origin=TERRAFORM_STORE)
        return ""
    service.forget_stored(request, TERRAFORM_STORE)
    return ""


def main(argv=None, stdin=None, stdout=None, service=None):
    argv = sys.argv[1:] if argv is None else argv
    stdout = stdout or sys.stdout
    if len(argv) != 2 or argv[0] not in ("get", "store", "forget"):
        sys.stderr.write("usage: terraform-credentials-gitlab get|store|forget HOST\n")
        return 1
    try:
        data = (stdin or sys.stdin.buffer).read(1 << 20) if argv[0] == "store" else b""
        if service is None:
            from credhelper.service import Service

            service = Service()
        stdout.write(run(argv[0], argv[1], data, service))
        stdout.flush()
    except CredhelperError as error:
        from credhelper.rules.redact import scrub

        sys.stderr.write("terraform-credentials-gitlab: %s\n" % scrub(str(error)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
