"""`credhelper dpop-gen`: print one DPoP proof JWT for a token (and nothing else on
stdout), signed with an SSH key."""

from __future__ import annotations

import os
import sys
import time

from credhelper.cli.common import read_secret
from credhelper.errors import CredhelperError, InvalidInput
from credhelper.rules.model import ADDED, PAT

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service


def register(commands: Commands) -> None:
    dpop = commands.add_parser("dpop-gen", help="print one DPoP proof JWT for a token "
                               "(and nothing else)")
    dpop.add_argument("--private-key", metavar="PATH|agent",
                      help="default: the token's --dpop-key, else ssh-agent, else ~/.ssh/id_rsa")
    dpop.add_argument("--hostname", default="gitlab.com", metavar="HOST")
    dpop.add_argument("--pat-stdin", action="store_true",
                      help="read the token from stdin instead of using the registered one")
    dpop.add_argument("--method", default="GET", help="htm claim (default GET)")
    dpop.add_argument("--url", help="htu claim (default https://HOST/api/v4/user)")
    dpop.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.gitlab import sshkeys
    from credhelper.gitlab.dpop import make_proof
    from credhelper.service import Service

    service = Service()
    host = accounts.host_argument(args.hostname)
    record = dpop_record(service, host)
    token = _token(service, record, host, args.pat_stdin)
    spec = args.private_key or (record.dpop_key if record else None) or (
        "agent" if os.environ.get("SSH_AUTH_SOCK") else "~/.ssh/id_rsa")
    key = sshkeys.load(spec)
    if not key.is_rsa:
        print("credhelper: %s makes %s proofs; GitLab accepts RS512 (RSA keys) only today"
              % (key.description, key.algorithm), file=sys.stderr)
    url = args.url or "https://%s/api/v4/user" % host
    print(make_proof(key, token, args.method, url, time.time()))
    return 0


def _token(service: Service, record: TokenRecord | None, host: str, from_stdin: bool) -> str:
    """The token to sign for: read from stdin, or the registered one."""
    from credhelper import accounts

    if from_stdin:
        checked: str = accounts.check_token(read_secret("Token: ")[0])
        return checked
    if record is None:
        raise CredhelperError("no access token registered for %s; add one, or pass "
                              "--pat-stdin" % host)
    token = service.secret(record)
    if not token:
        raise CredhelperError("the token for %s is missing from its store" % host)
    return token


def dpop_record(service: Service, host: str) -> TokenRecord | None:
    """The access token registered for ``host`` that `dpop-gen` signs for."""
    records = [r for r in service.tokens.load()
               if r.host == host and r.kind == PAT and r.origin == ADDED]
    records.sort(key=lambda r: (r.path is not None, r.dpop_key is None))
    return records[0] if records else None


def dpop_key_spec(spec: str, kind: str) -> str:
    """Validate ``--dpop-key`` now (a typo found at `add`, not at the next rotation)."""
    if kind != PAT:
        raise InvalidInput("DPoP binds personal, project and group access tokens only")
    if spec == "agent" or spec.startswith("agent:SHA256:"):
        return spec
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isfile(path):
        raise InvalidInput("--dpop-key: no file %s" % path)
    return path
