"""`credhelper add HOST`: register a token, read from stdin or a hidden prompt (never from
the command line), after asking the server about it.  The record is built and validated
here; ``Service.register`` stores it."""

from __future__ import annotations

import time

from credhelper.cli import add_checks
from credhelper.cli.common import path_note, read_secret
from credhelper.errors import CredhelperError, InvalidInput
from credhelper.rules import dates
from credhelper.rules.hosts import normalise_host, normalise_path
from credhelper.rules.model import (
    ADDED,
    KIND_NAMES,
    KINDS,
    OAUTH,
    PAT,
    TokenRecord,
    kind_from_prefix,
)
from credhelper.rules.redact import redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands
    from credhelper.service import Service


def register(commands: Commands) -> None:
    add = commands.add_parser("add", help="register a token for a host (token on stdin or "
                              "typed at a hidden prompt, never as an argument)")
    add.add_argument("host", metavar="HOST", help="e.g. gitlab.example.com or host:port; a "
                     "project's URL (https://HOST/group/project.git) means HOST --path "
                     "group/project")
    add.add_argument("--kind", choices=("pat", "deploy", "oauth", "job"),
                     help="default: guessed from the prefix (glpat-, gldt-, glcbt-)")
    add.add_argument("--username", help="login name (required for deploy tokens)")
    add.add_argument("--path", metavar="PREFIX",
                     help="only for projects under this group/project path")
    add.add_argument("--expires-at", metavar="YYYY-MM-DD")
    add.add_argument("--scopes", metavar="LIST", help="e.g. read_repository,write_repository")
    add.add_argument("--registry", metavar="REGISTRY_HOST",
                     help="container registry served with this token")
    add.add_argument("--api-url", metavar="URL", help="default https://HOST/api/v4")
    add.add_argument("--store", choices=("keyring", "file"),
                     help="default: the config's store (auto: keyring when usable, else file)")
    add.add_argument("--refresh-token", action="store_true",
                     help="OAuth: a refresh token follows the access token (second line of "
                     "stdin, or a second prompt); needs --client-id")
    add.add_argument("--client-id", metavar="ID", help="OAuth application id, for refreshing")
    add.add_argument("--dpop-key", metavar="PATH|agent",
                     help="the token is DPoP-bound: sign every API call's proof with this SSH "
                     "key (a private key file, KEY.pub held by ssh-agent, or agent)")
    add.add_argument("--ca-file", metavar="PATH",
                     help="verify the host's API with this CA (default: the host's ca_file, "
                     "else what git and the system trust for it)")
    add.add_argument("--default", action="store_true",
                     help="make the token's account the host's default: the one that answers "
                     "clients naming no user (else the account added first)")
    replaced = add.add_mutually_exclusive_group()
    replaced.add_argument("--revoke-replaced", action="store_true",
                          help="revoke on the server the token this one replaces (same "
                          "account, host, path and kind; default: ask at a terminal)")
    replaced.add_argument("--keep-replaced", action="store_true",
                          help="leave the token this one replaces working on the server, "
                          "without asking")
    add.add_argument("--no-check", action="store_true",
                     help="do not ask the server about the token now (it is checked on first use)")
    add_no_setup(add)
    add.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.cli import replaced as replacing
    from credhelper.service import Service

    host, path = accounts.host_and_path(args.host, args.path)
    today = dates.date_from_days(int(time.time() // 86400))
    add_checks.before_the_token(args.expires_at, args.scopes, today)
    if args.refresh_token and not args.client_id:
        raise CredhelperError("--refresh-token needs --client-id (the OAuth application's id)")
    if args.refresh_token and args.kind != "oauth":
        raise CredhelperError("--refresh-token is for --kind oauth")
    service = Service()
    api_url = checked_api_url(service, host, args.api_url)   # before the token is asked for
    lines = read_secret("Token for %s: " % host, 2 if args.refresh_token else 1)
    token = accounts.check_token(lines[0])
    refresh_token = accounts.check_token(lines[1]) if args.refresh_token else None
    record = build_record(host, token, args.kind, args.username, path, args.expires_at,
                          args.registry, api_url, args.scopes, today=today,
                          client_id=args.client_id)
    record = with_ca_file(_with_options(record, args), args.ca_file)
    choice = (replacing.REVOKE if args.revoke_replaced else
              replacing.KEEP if args.keep_replaced else replacing.ASK)
    store_checked(service, record, token, args.store, refresh_token, args.username,
                  check=not args.no_check, choice=choice, no_setup=args.no_setup)
    return 0


def add_no_setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-setup", action="store_true", help="leave git's and docker's "
                        "configuration alone (default: set them up for HOST, as setup does)")


def store_checked(service: Service, record: TokenRecord, token: str, store: str | None = None,
                  refresh_token: str | None = None, username: str | None = None,
                  check: bool = True, choice: str = "ask", no_setup: bool = False
                  ) -> TokenRecord:
    """What `add` and `login` do with a new token: ask the server about it, store it, say
    what was stored and replaced, set up git and docker (cli/onestep.py), and revoke, keep or
    offer to revoke what it replaced (``choice``: cli/replaced.py)."""
    from credhelper.cli import onestep
    from credhelper.cli import replaced as replacing

    if check:
        record = _checked(service, record, token, username)
    replacing.refuse_unknown_owner(service, record, token)
    old = replacing.held(service, record, token)     # registering deletes their secrets
    record, replaced = add_token(service, record, token, store, refresh_token)
    _report(record, record.host, replaced)
    onestep.set_up(service, record, no_setup)
    replacing.settle(service, old, choice)
    return record


def _with_options(record: TokenRecord, args: argparse.Namespace) -> TokenRecord:
    """``--dpop-key`` and ``--default`` on the record."""
    if args.dpop_key:
        from credhelper.cli.dpop_gen import dpop_key_spec

        record = record.replace(dpop_key=dpop_key_spec(args.dpop_key, record.kind))
    if args.default:
        record = record.replace(default_account=True)
    return record


def _checked(service: Service, record: TokenRecord, token: str, username: str | None
             ) -> TokenRecord:
    """What the server says about the token and its owner; ``--username`` checked against
    the owner (accounts.py)."""
    from credhelper import accounts

    record = accounts.learn_owner(service, inspect(service, record, token), token)
    unchecked = accounts.check_username(record, username)
    if unchecked:
        service.warn(unchecked)
    return record


def _report(record: TokenRecord, host: str, replaced: list[TokenRecord]) -> None:
    from credhelper import accounts
    from credhelper.clientconfig import git as gitconfig

    backend = record.extra.get("backend")
    where = record.store + (" (%s)" % backend if backend else "")
    print("%s %s %s for %s%s as %s, in the %s store" % (
        "Replaced %s with" % replaced[0].hint if replaced else "Added", KIND_NAMES[record.kind],
        record.hint, host, path_note(record.path), accounts.login_and_account(record), where))
    if record.checked_at:
        expiry = ("refreshed before it expires" if record.kind == OAUTH and record.client_id
                  else "expires on %s" % record.expires_at if record.expires_at else "no expiry")
        print("The server says: scopes %s, %s" % (",".join(record.scopes or []) or "none",
                                                  expiry))
    note = gitconfig.ensure_use_http_path(host) if record.path else None   # issue 12
    if note:
        print(note)


def guess_kind(token: str) -> str:
    kind = kind_from_prefix(token)
    if kind is None:
        raise InvalidInput("cannot tell what kind of token this is; pass --kind "
                           "pat|deploy|oauth|job")
    found: str = kind
    return found


def build_record(host: str, token: str, kind: str | None = None, username: str | None = None,
                 path: str | None = None, expires_at: str | None = None,
                 registry: str | None = None, api_url: str | None = None,
                 scopes: str | None = None, today: str | None = None,
                 client_id: str | None = None) -> TokenRecord:
    """Validate the options of `credhelper add` into a record (not stored yet)."""
    from credhelper.service import new_id

    kind = add_checks.kind(token, kind) or guess_kind(token)
    if kind not in KINDS:
        raise InvalidInput("--kind must be one of %s" % ", ".join(KINDS))
    username = add_checks.login(kind, username)
    add_checks.expiry(expires_at, today)
    scope_list = add_checks.scope_names(scopes)
    return TokenRecord(
        id=new_id(), host=host, kind=kind, username=username, path=normalise_path(path),
        scopes=scope_list, expires_at=expires_at,
        registry=normalise_host(registry) if registry else None,
        api_url=api_url.rstrip("/") if api_url else None, origin=ADDED, hint=redact(token),
        added_at=today, client_id=client_id)


def checked_api_url(service: Service, host: str, api_url: str | None) -> str | None:
    """``--api-url`` on ``host``'s own origin, or on the one the config allows for it
    (rules/destinations.py; lifecycle/clients.py checks it again at every use)."""
    if api_url is None:
        return None
    from credhelper.rules.destinations import check_api_url

    settings = service.config().host(host)
    try:
        return check_api_url(host, api_url, settings.allow_http, settings.allow_api_origin)
    except InvalidInput as reason:
        raise InvalidInput("--api-url %s (e.g. https://%s/api/v4)" % (reason, host)) from None


def with_ca_file(record: TokenRecord, spec: str | None) -> TokenRecord:
    """``--ca-file``, kept with the token: its API calls trust that CA (lifecycle/clients.py)."""
    if spec is None:
        return record
    from credhelper.local.trust import given_ca_file

    return record.replace(extra=dict(record.extra, ca_file=given_ca_file(spec)))


def inspect(service: Service, record: TokenRecord, token: str) -> TokenRecord:
    """Ask the server about a PAT or OAuth token before it is added: a token the server
    refuses is not added; one that cannot be checked now is added with a warning."""
    if record.kind not in (PAT, OAUTH):
        return record
    from credhelper.gitlab.errors import ApiError, Refused, TokenRejected

    try:
        return service.keeper().inspect(record, token, service.context())
    except TokenRejected as rejected:
        raise CredhelperError("not added: %s says the token %s" % (record.host, {
            "expired": "has expired", "revoked": "was revoked",
            "unknown": "is unknown there (check the host, or --api-url)"}[rejected.reason])) \
            from None
    except Refused as refused:
        if record.kind == PAT and refused.status == 400:
            raise CredhelperError("not added: %s says this is not a personal access token "
                                  "(an OAuth token? use --kind oauth)" % record.host) from None
        service.warn("could not check the token with %s now (%s); it is checked "
                     "on first use" % (record.host, refused))
    except ApiError as error:
        service.warn("could not check the token with %s now (%s); it is checked "
                     "on first use" % (record.host, error))
    return record


def add_token(service: Service, record: TokenRecord, token: str, store: str | None = None,
              refresh_token: str | None = None) -> tuple[TokenRecord, list[TokenRecord]]:
    """Store ``token`` for ``record``; returns (stored record, replaced records)."""
    backend: str | None
    if store is None:
        store_name, backend = service.default_store()
    elif store == "keyring":
        from credhelper.stores.keyring_store import choose_backend

        store_name, backend = "keyring", choose_backend()
        if backend is None:
            from credhelper.errors import StoreError

            raise StoreError("no usable keyring backend here; use --store file")
    else:
        store_name, backend = store, None
    record = record.replace(store=store_name,
                            extra=dict(record.extra, **({"backend": backend} if backend else {})))
    return record, service.register(record, token, refresh_token)
