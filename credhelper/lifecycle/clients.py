"""The GitLab client for one record and one request: its API origin, trust, deadline and
DPoP proofs (docs/gitlab.md#dpop)."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from requests import Session

    from credhelper.gitlab.client import GitLabClient
    from credhelper.gitlab.sshkeys import SigningKey
    from credhelper.lifecycle.context import RequestContext
    from credhelper.local.config import HostSettings
    from credhelper.local.settings import Settings
    from credhelper.local.trust import Trust
    from credhelper.rules.model import TokenRecord

    ClientFactory = Callable[[TokenRecord, Settings, RequestContext], GitLabClient]

# loaded once per process: opening a key may ask for its passphrase
_signing_keys: dict[str, SigningKey] = {}
# one session per trust (host and CA settings) in a process: a get's check, rotation and
# follow-up calls all go over the one TLS connection it opened (issue 15)
_sessions: dict[tuple[str | None, ...], Session] = {}


def client_for(record: TokenRecord, settings: Settings, ctx: RequestContext) -> GitLabClient:
    from credhelper.gitlab.client import GitLabClient

    host_settings = settings.host(record.host)
    base_url, api_url = destinations_of(record, host_settings)
    # the context's deadline is the whole budget; reads may wait as long as it leaves
    return GitLabClient(base_url, api_url, session=session_for(trust_of(record, settings)),
                        deadline=ctx.deadline, proof=_prover(record, ctx),
                        timeout=max(ctx.time_left(), 0.0))


def session_for(trust: Trust) -> Session:
    """This process's session for ``trust``: the connections it keeps are verified by it."""
    session = _sessions.get(trust.key)
    if session is None:
        from credhelper.gitlab.client import new_session

        session = _sessions[trust.key] = new_session(trust)
    return session


def trust_of(record: TokenRecord, settings: Settings) -> Trust:
    """The CAs that verify ``record``'s API calls: the host's ``ca_file``, the one given at
    ``add --ca-file``, else what git and the environment trust for the host (local/trust.py);
    and the proxy they go through (local/proxy.py).  Nothing is read until a connection is
    made."""
    from credhelper.local.trust import Trust

    config = settings.config()
    given = record.extra.get("ca_file")
    host = config.host(record.host)
    return Trust(record.host, config.path, ca_file=host.ca_file,
                 given_ca_file=given if isinstance(given, str) else None, proxy=host.proxy)


def destinations_of(record: TokenRecord, host_settings: HostSettings) -> tuple[str, str]:
    """(base URL, API URL) for ``record``: the one place every API call, DPoP proof and
    OAuth refresh gets its origin, so a record or config naming another origin (a record
    stored before the rule, a hand-edited index) is refused here, never followed."""
    from credhelper.errors import ConfigError, InvalidInput
    from credhelper.rules.destinations import endpoints

    api_url = record.api_url or host_settings.api_url
    try:
        return endpoints(record.host, api_url, host_settings.allow_http,
                         host_settings.allow_api_origin)
    except InvalidInput as reason:
        raise ConfigError("not calling the API of %s: its api_url %s"
                          % (record.host, reason)) from None


def _prover(record: TokenRecord, ctx: RequestContext
            ) -> Callable[[str, str, str], str] | None:
    """For a DPoP-bound token: a fresh proof for each API call's method and URL."""
    if not record.dpop_key:
        return None
    from credhelper.gitlab import sshkeys
    from credhelper.gitlab.dpop import make_proof

    key = _signing_keys.get(record.dpop_key)
    if key is None:
        key = _signing_keys[record.dpop_key] = sshkeys.load(record.dpop_key)
    if not key.is_rsa:
        ctx.warn("%s signs %s proofs; GitLab accepts RS512 (RSA keys) only today"
                 % (key.description, key.algorithm))
    return lambda method, url, token: make_proof(key, token, method, url, time.time())
