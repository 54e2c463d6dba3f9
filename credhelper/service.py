"""What every protocol adapter and admin command asks of credhelper: a credential
(``lookup``), "remember this one" (``remember``, git's store), "this one was refused"
(``reject``, git's erase), and the container-registry variants of those.

It joins the token index, the secrets, the CI environment, the resolver and the lifecycle;
the adapters only translate their wire format to and from it.  Calls go one way:
protocols and cli -> service -> rules, lifecycle -> local files, stores, GitLab client.
"""

from __future__ import annotations

import os
import time

from credhelper.errors import CredhelperError
from credhelper.local.settings import Settings
from credhelper.local.token_index import TokenIndex
from credhelper.rules import freshness, resolver
from credhelper.rules.model import (
    ADDED,
    CI_ENV,
    GIT_STORE,
    NEEDS_CHECK,
    PASSWORD,
    Answer,
    Request,
    TokenRecord,
    kind_from_prefix,
)
from credhelper.served import is_news
from credhelper.stores import Secrets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from credhelper.lifecycle.book import TokenBook
    from credhelper.lifecycle.context import RequestContext
    from credhelper.lifecycle.keeper import Keeper
    from credhelper.local.config import Config


def warn(message: str) -> None:
    """One line for a person on stderr; stdout belongs to the protocol.  Scrubbed (controls,
    known secrets, token shapes), since messages can quote a server's own error text."""
    import sys

    from credhelper.rules.redact import scrub

    sys.stderr.write("credhelper: %s\n" % scrub(" ".join(str(message).split())))
    sys.stderr.flush()


class Service:
    def __init__(self, tokens: TokenIndex | None = None,
                 environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time, warn: Callable[[str], None] = warn,
                 config: Config | None = None) -> None:
        self.tokens = tokens or TokenIndex()
        self.environ = os.environ if environ is None else environ
        self.clock = clock
        self.warn = warn
        self.settings = Settings(config)
        self.secrets = Secrets(self.tokens.directory, self.environ)
        self._keeper: Keeper | None = None
        self._attended = False          # the keeper was asked (and may have saved) this time

    # -- git's three operations ------------------------------------------------------------

    def lookup(self, request: Request, records: list[TokenRecord] | None = None,
               explain: bool = True) -> Answer | None:
        """The best working credential for ``request``, or None (the client then goes on).

        A token whose record says it needs attention (a check, a rotation, an interrupted
        rotation, an expiry warning) goes through the keeper first, with a request context
        of its own; every other ``get`` is a read of two small files.
        """
        records = self.records(request.host) if records is None else records
        allow_http = self.allow_http(request)
        now = self.clock()
        answer: Answer | None = None
        dropped: list[TokenRecord | None] = []   # what the keeper found unusable on the way
        for record in resolver.candidates(records, request, now, allow_http):
            if freshness.needs_attention(record, now, self.settings.changed_at()):
                attended = record if self.environ.get("CREDHELPER_READ_ONLY") \
                    else self._attend(record)                          # cli/doctor.py
                if attended is None or freshness.unusable_reason(attended, self.clock()) \
                        or attended.state in freshness.FINAL_STATES:   # a dead shared copy
                    dropped.append(attended)
                    continue
                record = attended
            secret = self.secret(record)
            if secret:
                answer = Answer(record.login_name(request.username), secret,
                                freshness.expiry_utc(record), record)
                break
        if explain:
            tell_unusable(self, request, answer, records, dropped)
        return answer

    def _attend(self, record: TokenRecord) -> TokenRecord | None:
        """The keeper's answer; when local state cannot be read or written (a full or
        read-only disk, a config typo, a locked store), the token as it is, with one line."""
        self._attended = True
        try:
            return self.keeper().attend(record, self.context())
        except (CredhelperError, OSError) as error:
            self.warn("could not look after the token for %s (%s); using it as it is"
                      % (record.host, error))
            return record

    def remember(self, request: Request, username: str | None, secret: str | None,
                 origin: str = GIT_STORE, expires_utc: int | None = None) -> None:
        """Keep a credential a client obtained elsewhere: git's ``store`` (a host we manage
        only; with its ``password_expiry_utc``), ``docker login`` (origin DOCKER_STORE, for
        the registry it names), ``cargo login`` or ``terraform login``."""
        if not is_news(self, request, username, secret, origin,
                       lambda: self.records(request.host)):
            return
        assert username is not None and secret is not None
        from credhelper.rules.redact import redact

        store_name, backend = self.default_store()
        record = TokenRecord(id=new_id(), host=request.host,
                             kind=kind_from_prefix(secret) or PASSWORD, username=username,
                             path=request.path, origin=origin, hint=redact(secret),
                             added_at=self._today(), store=store_name,
                             expires_utc=expires_utc,
                             extra={"backend": backend} if backend else {})
        self.register(record, secret)

    def reject(self, request: Request, username: str | None, secret: str | None) -> None:
        """A client says the server refused this credential (git's ``erase``).

        Tokens the user added are never dropped here: they are marked for re-checking and the
        user is told; credentials git stored are forgotten, as ``git credential-store`` does.
        """
        hits = self._refused(request, username, secret)
        forget = {r.id for r in hits if r.origin == GIT_STORE}
        flag = {r.id for r in hits if r.origin == ADDED and secret is not None}
        if not hits:
            return

        def change(current: list[TokenRecord]) -> list[TokenRecord]:
            # a rejection is news: re-check at the next get, even inside a backoff
            kept = [r for r in current if r.id not in forget]
            return [r.replace(state=NEEDS_CHECK, backoff_until=None) if r.id in flag else r
                    for r in kept]

        self.tokens.update(change)
        for record in hits:
            if record.id in forget:
                self.delete_secret(record)
            elif record.id in flag:
                from credhelper.lifecycle.explain import refused_by_server

                self.warn(refused_by_server(record))

    def _refused(self, request: Request, username: str | None, secret: str | None
                 ) -> list[TokenRecord]:
        """The records ``erase`` is about: this request's, under that login and secret."""
        return [r for r in resolver.matching(self.records(request.host), request,
                                             self.allow_http(request))
                if r.origin != CI_ENV and (not username or r.login_name(username) == username)
                and (secret is None or self.secret(r, quiet=True) == secret)]

    # -- registering and forgetting ----------------------------------------------------------

    def register(self, record: TokenRecord, secret: str, refresh_token: str | None = None
                 ) -> list[TokenRecord]:
        """``TokenBook.register``: store and index a token; returns the records replaced."""
        return self.book().register(record, secret, refresh_token, self.warn)

    def forget(self, records: list[TokenRecord]) -> None:
        """Drop ``records`` from the index, then their secrets."""
        self.book().forget(records, self.warn)

    def forget_stored(self, request: Request, origin: str) -> int:
        """Forget what a client's login stored for this host (docker/cargo/terraform logout);
        returns how many credentials were forgotten."""
        stored = [r for r in self.tokens.load(request.host) if r.origin == origin]
        if stored:
            self.forget(stored)
        return len(stored)

    # -- shared plumbing -------------------------------------------------------------------

    def records(self, host: str | None = None) -> list[TokenRecord]:
        """Every record that may answer: the index, then the CI job's credentials; with
        ``host``, only those for that host (no other host's record is built)."""
        if not ("CI_JOB_TOKEN" in self.environ or "CI_DEPLOY_PASSWORD" in self.environ):
            return self.tokens.load(host)     # outside a CI job (ci_env.py says why)
        from credhelper.stores import ci_env

        return self.tokens.load(host) + [r for r in ci_env.records(self.environ)
                                         if host is None or r.host == host]

    def manages(self, host: str, records: list[TokenRecord] | None = None) -> bool:
        """Is ``host`` a GitLab host credhelper answers for (a token or a config table)?"""
        records = self.records(host) if records is None else records
        return (any(r.host == host and r.origin in (ADDED, CI_ENV) for r in records)
                or host in self.config().hosts)

    def book(self) -> TokenBook:
        from credhelper.lifecycle.book import TokenBook

        return TokenBook(self.tokens, self.secrets)

    def keeper(self) -> Keeper:
        if self._keeper is None:
            from credhelper.lifecycle.keeper import Keeper

            self._keeper = Keeper(self.book(), self.settings)
        return self._keeper

    def context(self) -> RequestContext:
        """A fresh context for one request: this service's clock and warnings, a full
        network budget of its own."""
        from credhelper.lifecycle.context import RequestContext

        return RequestContext(self.clock, self.warn)

    def config(self) -> Config:
        return self.settings.config()

    def default_store(self) -> tuple[str, str | None]:
        """(store name, keyring backend or None) for new tokens, as the config asks."""
        from credhelper.stores import default_store

        return default_store(self.config().store)

    def allow_http(self, request: Request) -> bool:
        """Plain http only where the config allows it for that host (read only then)."""
        return request.protocol == "http" and self.config().host(request.host).allow_http

    def secret(self, record: TokenRecord, quiet: bool = False) -> str | None:
        return self.secrets.get(record, None if quiet else self.warn)

    def delete_secret(self, record: TokenRecord) -> None:
        self.secrets.delete(record, self.warn)

    def _today(self) -> str:
        from credhelper.rules.dates import date_from_days

        return date_from_days(int(self.clock() // 86400))


def tell_unusable(service: Service, request: Request, answer: Answer | None,
                  records: list[TokenRecord], dropped: list[TokenRecord | None]) -> None:
    """Name each matching token the user added that is not served (revoked, expired...), also
    when another answers: that one may lack its access, and clients only say "not found"."""
    now, allow_http = service.clock(), service.allow_http(request)
    if answer is None or answer.record is None:
        from credhelper.lifecycle.explain import why_nothing

        # read again only when the keeper may have saved what it found (one read on a miss)
        reason = why_nothing(service.records(request.host) if service._attended else records,
                             request, now, allow_http)
        if reason:
            service.warn(reason)
        return
    passed = [r for r in dropped if r is not None] + freshness.unusable_added(
        resolver.matching(records, request, allow_http), now)
    if passed:
        from credhelper.lifecycle.explain import passed_over

        for record in passed:
            reason = freshness.unusable_reason(record, now) or ""
            service.warn(passed_over(record, reason, answer.record))


def new_id() -> str:
    return os.urandom(8).hex()
