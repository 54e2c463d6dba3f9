"""What every protocol adapter asks of credhelper, for one request: a credential (``lookup``),
"remember this one" (``remember``, git's store) and "this one was refused" (``reject``, git's
erase).  It joins the registry, the CI environment, the resolver, the lifecycle rules and the
stores; the adapters only translate their wire format to and from it.
"""

import os
import sys
import time

from credhelper.errors import CredhelperError, StoreError
from credhelper.local.token_index import TokenIndex
from credhelper.rules import container_registries, dates, freshness, resolver
from credhelper.rules.model import (
    ADDED,
    CI_ENV,
    DEPLOY,
    DOCKER_STORE,
    GIT_STORE,
    KIND_NAMES,
    LOST,
    NEEDS_CHECK,
    PASSWORD,
    PAT,
    REGISTRY,
    REVOKED,
    UNKNOWN,
    Answer,
    Request,
    TokenRecord,
)
from credhelper.rules.redact import redact, scrub
from credhelper.stores import CI, ci_env, open_store


def warn(message):
    """One line for a person on stderr; stdout belongs to the protocol.  Scrubbed of anything
    token-shaped, since messages can quote a server's own error text."""
    sys.stderr.write("credhelper: %s\n" % scrub(" ".join(str(message).split())))
    sys.stderr.flush()


class Service:
    def __init__(self, registry=None, environ=None, clock=time.time, warn=warn, config=None):
        self.registry = registry or TokenIndex()
        self.environ = os.environ if environ is None else environ
        self.clock = clock
        self.warn = warn
        self._config = config
        self._config_changed_at = False   # not looked at yet
        self._keeper = None
        self._stores = {}

    # -- the three operations --------------------------------------------------------------

    def lookup(self, request, records=None, explain=True):
        """The best working credential for ``request``, or None (the client then goes on).

        A token whose record says it needs attention (a check, a rotation, an interrupted
        rotation, an expiry warning) goes through the keeper first; every other ``get`` is a
        read of two small files.
        """
        records = self._records() if records is None else records
        allow_http = self._allow_http(request)
        now = self.clock()
        for record in resolver.candidates(records, request, now, allow_http):
            if freshness.needs_attention(record, now, self.config_changed_at()):
                record = self.keeper().attend(record)
                if record is None or freshness.unusable_reason(record, self.clock()):
                    continue
            secret = self.secret(record)
            if secret:
                return Answer(record.login_name(request.username), secret,
                              freshness.expiry_utc(record), record)
        if explain:
            self._explain_nothing(self._records(), request, self.clock(), allow_http)
        return None

    def lookup_quietly(self, host):
        """``lookup`` for ``https://HOST`` without warnings (for reports)."""
        warn, self.warn = self.warn, lambda message: None
        try:
            return self.lookup(Request("https", host))
        finally:
            self.warn = warn

    def remember(self, request, username, secret, origin=GIT_STORE):
        """Keep a credential a client obtained elsewhere: git's ``store`` (for a host we
        manage only), ``docker login`` (origin DOCKER_STORE, for the registry it names),
        ``cargo login`` or ``terraform login``."""
        if not username or not secret or secret.startswith("glcbt-"):
            return  # job tokens die with their job: storing one would only serve a dead token
        if any(c in value for value in (username, secret) for c in "\r\n\0"):
            from credhelper.errors import ProtocolError

            raise ProtocolError("refusing to store a credential containing CR, LF or NUL")
        allow_http = self._allow_http(request)
        if not resolver.transport_allowed(request.protocol, allow_http):
            return
        records = self._records()
        if origin == GIT_STORE and not self._manages(records, request.host):
            return
        served = self.lookup_registry(request) if request.service == REGISTRY else None
        if served is not None and (served.username, served.secret) == (username, secret):
            return  # docker login with the very token we serve
        same_login = [r for r in resolver.matching(records, request, allow_http)
                      if r.login_name(username) == username]
        if any(self.secret(r, quiet=True) == secret for r in same_login):
            return  # the client is storing what we just gave it
        record = TokenRecord(id=new_id(), host=request.host, kind=guess_kind(secret),
                             username=username, path=request.path, origin=origin,
                             hint=redact(secret), added_at=self._today())
        store_name, backend = self.default_store()
        record = record.replace(store=store_name, extra={"backend": backend} if backend else {})
        old = []

        def upsert(current):
            old.extend(r for r in current if r.origin == origin and _same_slot(r, record))
            return [r for r in current if r not in old] + [record]

        with self.registry.lock():
            self.store_for(record).set(record, secret)
            current = self.registry.load()
            self.registry.save(upsert(current))
        for stale in old:
            self.delete_secret(stale)

    # -- container registries (docker's protocol) -------------------------------------------

    def lookup_registry(self, request):
        """A credential for a registry: what ``docker login`` stored for it, else the token
        of the GitLab host it belongs to (with the same lifecycle as git's)."""
        records = self._records()       # read once for both hosts: this is docker's hot path
        answer = self.lookup(request, records, explain=False)
        if answer is not None:
            return answer
        owner = container_registries.gitlab_host_for(request.host, records, self.environ, self.config)
        if owner is None or owner == request.host:
            return None
        return self.lookup(Request(request.protocol, owner, service=REGISTRY,
                                   operation=request.operation), records)

    def forget_registry(self, request):
        """``docker logout``: forget what docker stored.  A token the user registered is only
        removed by `credhelper remove`: raise so docker tells the user, never drop it silently.
        Returns the number of credentials forgotten."""
        forgotten = self.forget_stored(request, DOCKER_STORE)
        if forgotten:
            return forgotten
        records = self._records()
        owner = container_registries.gitlab_host_for(request.host, records, self.environ, self.config)
        managed = [r for r in records if r.host == owner and r.origin == ADDED]
        if owner is not None and managed:
            from credhelper.local import audit

            audit.record_event("logout-refused", managed[0], registry=request.host)
            raise CredhelperError(
                "credhelper manages the token for %s (it belongs to %s); it was not removed. "
                "To stop serving it: credhelper remove %s" % (request.host, owner, owner))
        return 0

    def forget_stored(self, request, origin):
        """Forget what a client's login stored for this host (docker/cargo/terraform logout);
        returns how many credentials were forgotten."""
        stored = [r for r in self.registry.load()
                  if r.host == request.host and r.origin == origin]
        if stored:
            ids = {r.id for r in stored}
            self.registry.update(lambda current: [r for r in current if r.id not in ids])
            for record in stored:
                self.delete_secret(record)
        return len(stored)

    def list_registries(self):
        """{registry: username} for everything ``get`` would answer."""
        records = self._records()
        listing = {}
        for registry, owner in container_registries.served_registries(records, self.environ,
                                                            self.config()).items():
            found = resolver.candidates(records, Request("https", owner, service=REGISTRY),
                                        self.clock())
            if found:
                listing[registry] = found[0].login_name()
        for record in records:
            if record.origin == DOCKER_STORE:
                listing[record.host] = record.username
        return listing

    def reject(self, request, username, secret):
        """A client says the server refused this credential (git's ``erase``).

        Tokens the user added are never dropped here: they are marked for re-checking and the
        user is told; credentials git stored are forgotten, as ``git credential-store`` does.
        """
        records = self._records()
        allow_http = self._allow_http(request)
        hits = [r for r in resolver.matching(records, request, allow_http)
                if r.origin != CI_ENV and (not username or r.login_name(username) == username)
                and (secret is None or self.secret(r, quiet=True) == secret)]
        if not hits:
            return
        forget = {r.id for r in hits if r.origin == GIT_STORE}
        flag = {r.id for r in hits if r.origin == ADDED and secret is not None}

        def change(current):
            kept = [r for r in current if r.id not in forget]
            return [r.replace(state=NEEDS_CHECK) if r.id in flag else r for r in kept]

        self.registry.update(change)
        for record in hits:
            if record.id in forget:
                self.delete_secret(record)
            elif record.id in flag:
                self.warn("%s refused the %s %s; it stays registered and will be re-checked "
                          "(to drop it: credhelper remove %s%s)"
                          % (record.host, _kind_name(record), record.hint or "token",
                             record.host, " --path " + record.path if record.path else ""))

    # -- shared plumbing -------------------------------------------------------------------

    def keeper(self):
        if self._keeper is None:
            from credhelper.lifecycle.keeper import Keeper

            self._keeper = Keeper(self)
        return self._keeper

    def config_changed_at(self):
        if self._config_changed_at is False:
            from credhelper.local.config import changed_at

            self._config_changed_at = changed_at()
        return self._config_changed_at

    def config(self):
        if self._config is None:
            from credhelper.local import config

            self._config = config.load()
        return self._config

    def store_for(self, record):
        key = (record.store, record.extra.get("backend"))
        if key not in self._stores:
            self._stores[key] = open_store(record.store, record.extra.get("backend"),
                                           data_dir=self.registry.directory)
        return self._stores[key]

    def default_store(self):
        """(store name, keyring backend or None) for new tokens, as the config asks."""
        choice = self.config().store
        if choice == "file":
            return "file", None
        from credhelper.stores.keyring_store import choose_backend

        backend = choose_backend()
        if backend is None:
            if choice == "keyring":
                raise StoreError("no usable keyring backend; set store = \"file\" in the "
                                 "config or install a Secret Service (gnome-keyring, KeePassXC)")
            return "file", None
        return "keyring", backend

    def _allow_http(self, request):
        """Plain http only where the config allows it for that host (read only then)."""
        return request.protocol == "http" and self.config().host(request.host).allow_http

    def _records(self):
        return self.registry.load() + ci_env.records(self.environ)

    def secret(self, record, quiet=False):
        if record.store == CI:
            return ci_env.secret(record, self.environ)
        try:
            return self.store_for(record).get(record)
        except StoreError as error:
            if not quiet:
                self.warn(str(error))
            return None

    def delete_secret(self, record):
        try:
            self.store_for(record).delete(record)
        except StoreError as error:
            self.warn(str(error))

    def _manages(self, records, host):
        return (any(r.host == host and r.origin in (ADDED, CI_ENV) for r in records)
                or host in self.config().hosts)

    def _explain_nothing(self, records, request, now, allow_http):
        """Say why a host we know gets nothing, so the user is not left with a bare prompt."""
        for record in resolver.matching(records, request, allow_http):
            reason = freshness.unusable_reason(record, now)
            if reason and record.origin == ADDED:
                self.warn(explain_unusable(record, reason))
                return
        if request.protocol == "http" and any(r.host == request.host for r in records):
            self.warn("not sending a token for %s over plain http (set allow_http in the "
                      "config to allow it)" % request.host)

    def _today(self):
        day = int(self.clock() // 86400)
        return dates.date_from_days(day)


def explain_unusable(record, reason):
    """One line: which token, why it is not served, and what to run."""
    if record.state == LOST:
        from credhelper.lifecycle.keeper import recovery_steps

        return recovery_steps(record)
    again = "credhelper add %s%s" % (record.host, " --path " + record.path if record.path else "")
    if record.state == UNKNOWN:
        return ("the %s %s for %s is unknown to the server (deleted, or made on another "
                "instance); check it, then run: %s" % (_kind_name(record), record.hint,
                                                      record.host, again))
    if record.state == REVOKED:
        return ("the %s %s for %s was revoked on the server; create a new one and run: %s"
                % (_kind_name(record), record.hint, record.host, again))
    return ("the %s %s for %s %s; create a new one and run: %s"
            % (_kind_name(record), record.hint or "token", record.host, reason, again))


def new_id():
    return os.urandom(8).hex()


def guess_kind(secret):
    """The kind of a credential git stored: by GitLab's token prefixes, else a password."""
    if secret.startswith("glpat-"):
        return PAT
    if secret.startswith("gldt-"):
        return DEPLOY
    return PASSWORD


def _same_slot(a, b):
    return (a.host, a.path, a.username) == (b.host, b.path, b.username)


def _kind_name(record):
    return KIND_NAMES.get(record.kind, "token")
