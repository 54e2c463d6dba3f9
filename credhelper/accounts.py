"""What the admin commands do to the token index and the stores, without any printing."""

import re

from credhelper.errors import CredhelperError, InvalidInput
from credhelper.rules import dates, freshness
from credhelper.rules.hosts import normalise_host, normalise_path
from credhelper.rules.model import (
    ADDED,
    CI_ENV,
    DEPLOY,
    JOB,
    JOB_USERNAME,
    KINDS,
    PAT,
    TokenRecord,
    kind_from_prefix,
)
from credhelper.rules.redact import redact
from credhelper.service import new_id

MAX_TOKEN_LENGTH = 4096
_USERNAME = re.compile(r"^[A-Za-z0-9_.+@\-]{1,255}$")
_SCOPE = re.compile(r"^[a-z_]{1,64}$")


def host_argument(text):
    """``gitlab.example.com``, ``gitlab.example.com:8443`` or ``https://gitlab.example.com/``."""
    protocol = "https"
    if "://" in text:
        protocol, _, text = text.partition("://")
        text = text.split("/", 1)[0]
    return normalise_host(text, protocol.lower())


def check_token(token):
    if not token:
        raise InvalidInput("no token given (pipe it on stdin or type it at the prompt)")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidInput("the token is longer than %d characters" % MAX_TOKEN_LENGTH)
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise InvalidInput("the token has spaces or control characters; paste it alone")
    return token


def guess_kind(token):
    kind = kind_from_prefix(token)
    if kind is None:
        raise InvalidInput("cannot tell what kind of token this is; pass --kind "
                           "pat|deploy|oauth|job")
    return kind


def build_record(host, token, kind=None, username=None, path=None, expires_at=None,
                 registry=None, api_url=None, scopes=None, today=None, client_id=None):
    """Validate the options of `credhelper add` into a record (not stored yet)."""
    kind = kind or guess_kind(token)
    if kind not in KINDS:
        raise InvalidInput("--kind must be one of %s" % ", ".join(KINDS))
    if username is not None and not _USERNAME.match(username):
        raise InvalidInput("--username has characters GitLab does not allow")
    if kind == DEPLOY and not username:
        raise InvalidInput("deploy tokens log in with their own username: pass --username "
                         "(gitlab+deploy-token-ID, or the custom one set at creation)")
    if kind == JOB:
        if username not in (None, JOB_USERNAME):
            raise InvalidInput("job tokens always log in as %s" % JOB_USERNAME)
        username = JOB_USERNAME
    if expires_at is not None:
        try:
            dates.parse_date(expires_at)
        except ValueError:
            raise InvalidInput("--expires-at must be a date as YYYY-MM-DD") from None
    if scopes is not None:
        scopes = sorted({s.strip() for s in scopes.split(",") if s.strip()})
        bad = [s for s in scopes if not _SCOPE.match(s)]
        if bad or not scopes:
            raise InvalidInput("--scopes takes names like read_repository,write_repository")
    if api_url is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", api_url):
        raise InvalidInput("--api-url must be an http(s) URL, e.g. https://%s/api/v4" % host)
    return TokenRecord(
        id=new_id(), host=host, kind=kind, username=username, path=normalise_path(path),
        scopes=scopes, expires_at=expires_at,
        registry=normalise_host(registry) if registry else None,
        api_url=api_url.rstrip("/") if api_url else None, origin=ADDED, hint=redact(token),
        added_at=today, client_id=client_id)


def dpop_key_spec(spec, kind):
    """Validate ``--dpop-key`` now (a typo found at `add`, not at the next rotation)."""
    import os

    if kind != PAT:
        raise InvalidInput("DPoP binds personal, project and group access tokens only")
    if spec == "agent" or spec.startswith("agent:SHA256:"):
        return spec
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isfile(path):
        raise InvalidInput("--dpop-key: no file %s" % path)
    return path


def dpop_record(service, host):
    """The access token registered for ``host`` that `dpop-gen` signs for."""
    records = [r for r in service.tokens.load()
               if r.host == host and r.kind == PAT and r.origin == ADDED]
    records.sort(key=lambda r: (r.path is not None, r.dpop_key is None))
    return records[0] if records else None


def inspect(service, record, token):
    """Ask the server about a PAT or OAuth token before it is added: a token the server
    refuses is not added; one that cannot be checked now is added with a warning."""
    from credhelper.rules.model import OAUTH

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
        service.warn("could not check the token with %s now (%s); added anyway, it is checked "
                     "on first use" % (record.host, refused))
    except ApiError as error:
        service.warn("could not check the token with %s now (%s); added anyway, it is checked "
                     "on first use" % (record.host, error))
    return record


def revoke(service, record):
    """Revoke a PAT on the server before it is forgotten; an already dead one is fine."""
    from credhelper.gitlab.errors import TokenRejected

    if record.kind != PAT:
        raise CredhelperError("only access tokens can be revoked through the API; revoke the "
                              "%s in GitLab's settings" % record.kind)
    try:
        service.keeper().revoke(record, service.context())
    except TokenRejected:
        pass   # expired, revoked or unknown already: nothing left to revoke


def add_token(service, record, token, store=None, refresh_token=None):
    """Store ``token`` for ``record``; returns (stored record, replaced records)."""
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
    record = record.replace(store=store_name, extra={"backend": backend} if backend else {})
    return record, service.register(record, token, refresh_token)


def select(records, host, path=None, kind=None, username=None, every=False):
    chosen = [r for r in records if r.host == host and r.origin != CI_ENV]
    if not every:
        chosen = [r for r in chosen if r.path == normalise_path(path)]
    if kind:
        chosen = [r for r in chosen if r.kind == kind]
    if username:
        chosen = [r for r in chosen if r.username == username]
    return chosen


def state_name(record, now):
    """ok, needs-check, rotating, or why it is not served (revoked, expired, unknown...)."""
    if record.state in freshness.FINAL_STATES:
        return record.state
    if freshness.unusable_reason(record, now):
        return "expired"
    if record.pending:
        return "rotating"
    return record.state


def describe(record, now):
    """A record as a dict for `status --json` and the table (never the secret)."""
    return {
        "host": record.host, "kind": record.kind, "username": record.login_name(),
        "path": record.path, "scopes": record.scopes, "expires_at": record.expires_at,
        "days_left": freshness.days_left(record, now), "store": record.store,
        "token": record.hint, "state": state_name(record, now), "origin": record.origin,
        "registry": record.registry, "checked_at": record.checked_at,
    }
