"""git's everyday ``get``, ``store`` and ``erase``, answered from the compact index
(``local/compact.py``) when the answer is plain, by the very protocol code and rules the full
path runs (``protocols.git.run``, ``rules.resolver``, ``rules.freshness``, ``served``).

``FastService`` stands in for ``Service`` and answers only the common case exactly: a fresh,
usable token from the file store or from the Secret Service (``stores/secret_service.py``),
``store`` of the credential just served (or for a host credhelper does not manage),
``erase`` that matches nothing.  Anything else raises
``Decline``, before anything was written or changed, and the launcher hands the same input to
the full path: a token due for a check, rotation or warning, one not served whose user must be
told, plain http (the config decides), a CI job's variables, a missing or stale index, a
keyring other than the Secret Service or one that must prompt to unlock, macOS and Windows
paths, a request that does not parse.

No ``os``, ``re``, ``enum``, ``json`` or ``typing`` at run time (``launcher.py`` says why):
paths come from the environment by ``paths.py``'s rules, files through ``posix``.
"""

import posix
import sys
import time

from credhelper.local import compact
from credhelper.protocols import git
from credhelper.rules import freshness, resolver
from credhelper.rules.model import ADDED, CI_ENV, GIT_STORE, Answer, TokenRecord
from credhelper.served import is_news

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from credhelper.rules.model import Request

APP = "credhelper"
STORE_CHOICES = ("", "auto", "keyring", "file")    # local/config.py, CREDHELPER_STORE
CI_VARIABLES = ("CI_JOB_TOKEN", "CI_DEPLOY_PASSWORD")   # Service.records adds the job's


def text_environ(raw: "Mapping[bytes, bytes]") -> dict[str, str]:
    """``os.environ`` from ``posix.environ``, without importing ``os``."""
    encoding = sys.getfilesystemencoding()
    return {key.decode(encoding, "surrogateescape"): value.decode(encoding, "surrogateescape")
            for key, value in raw.items()}


class Decline(Exception):
    """The fast path cannot answer this exactly: the full path will."""


class SilentStore(Decline):
    """The Secret Service did not answer within its deadline: the full path must not wait for
    it again (in the launcher's process, ``secret_service`` remembers; the daemon tells the
    client, which tells the launcher: ``daemon/server.py``)."""


def answer(action: str, data: bytes, environ: "Mapping[str, str]",
           clock: "Callable[[], float]" = time.time) -> bytes | None:
    """What ``git-credential-gitlab ACTION`` writes for ``data``, or None: ask the full path.
    Errors (a request that does not parse) propagate: the caller declines on them too."""
    try:
        return answer_or_decline(action, data, environ, clock)
    except Decline:
        return None


def answer_or_decline(action: str, data: bytes, environ: "Mapping[str, str]",
                      clock: "Callable[[], float]" = time.time) -> bytes:
    """``answer``, raising ``Decline`` (or ``SilentStore``) instead of returning None."""
    if len(data) > git.MAX_INPUT:
        raise Decline
    service = FastService(environ, clock)
    return git.run(action, data, lambda: service)


class FastService:
    def __init__(self, environ: "Mapping[str, str]",
                 clock: "Callable[[], float]" = time.time) -> None:
        self.environ = environ
        self.clock = clock
        self._records: dict[str, list[TokenRecord]] = {}

    def lookup(self, request: "Request") -> Answer | None:
        """``Service.lookup`` when no token on the way needs the keeper or a warning."""
        records = self.host_records(request.host)
        now, allow_http = self.clock(), self.allow_http(request)
        if freshness.unusable_added(resolver.matching(records, request, allow_http), now):
            raise Decline          # the full path names the token that is not served
        candidates = resolver.candidates(records, request, now, allow_http)
        if not candidates:
            return None            # why_nothing has nothing to say over https
        first = candidates[0]
        if freshness.needs_attention(first, now, self.config_mtime()):
            raise Decline
        return Answer(first.login_name(request.username), self.secret(first),
                      freshness.expiry_utc(first), first)

    def remember(self, request: "Request", username: str | None, secret: str | None,
                 origin: str = GIT_STORE, expires_utc: int | None = None) -> None:
        """``Service.remember`` when there is nothing to keep."""
        if is_news(self, request, username, secret, origin,
                   lambda: self.host_records(request.host)):
            raise Decline

    def reject(self, request: "Request", username: str | None, secret: str | None) -> None:
        """``Service.reject`` when no record is concerned."""
        if resolver.matching(self.host_records(request.host), request,
                             self.allow_http(request)):
            raise Decline

    # -- what the rules ask of a service --------------------------------------------------

    def allow_http(self, request: "Request") -> bool:
        if request.protocol == "http":
            raise Decline          # the config says (Service.allow_http)
        return False

    def manages(self, host: str, records: list[TokenRecord]) -> bool:
        """``Service.manages``: a token for ``host``, else no config file (which could name
        it) and a valid CREDHELPER_STORE (which loading the config checks)."""
        if any(r.host == host and r.origin in (ADDED, CI_ENV) for r in records):
            return True
        if self.environ.get("CREDHELPER_STORE", "") not in STORE_CHOICES:
            raise Decline
        try:
            posix.stat(self.config_file())
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            pass
        raise Decline

    def secret(self, record: TokenRecord, quiet: bool = False) -> str:
        """The file store's secret, from its compact copy, or the Secret Service's when the
        record was stored there (absent: the full path also looks in the rescue file; the
        keyring can prompt to unlock; another backend is keyring's to read)."""
        found = None
        if record.store == "file":
            found = compact.secret(self.data_dir(), record.id)
        elif record.store == "keyring":
            found = self._secret_service(record)
        if not found:
            raise Decline
        return found

    def _secret_service(self, record: TokenRecord) -> str | None:
        """``KeyringStore.get`` for a record whose backend is the Secret Service: its own
        D-Bus read (imported only here: the file store's ``get`` has no use for it)."""
        from credhelper.stores import secret_service as ss

        if record.extra.get("backend") != ss.SECRET_SERVICE:
            return None
        try:
            return ss.read(ss.SERVICE_PREFIX + record.host, record.id, self.environ)
        except ss.NoAnswer:
            raise SilentStore from None     # the full path's read then says so, at once

    def host_records(self, host: str) -> list[TokenRecord]:
        """The index's records for ``host`` (what ``Service.records`` has for it)."""
        if host not in self._records:
            if any(name in self.environ for name in CI_VARIABLES):
                raise Decline      # the job's own records join the index's (stores/ci_env.py)
            found = compact.host_records(self.data_dir(), host)
            if found is None:
                raise Decline
            self._records[host] = [TokenRecord.from_json(item) for item in found]
        return self._records[host]

    def config_mtime(self) -> float | None:
        """``settings.config_mtime``: what a token's policy was applied under."""
        try:
            return posix.stat(self.config_file()).st_mtime
        except OSError:
            return None

    # -- paths.py's rules, on this environment ------------------------------------------------

    def data_dir(self) -> str:
        return self._xdg("XDG_DATA_HOME", "/.local/share")

    def config_file(self) -> str:
        return self.environ.get("CREDHELPER_CONFIG") or \
            self._xdg("XDG_CONFIG_HOME", "/.config") + "/config.toml"

    def _xdg(self, variable: str, fallback: str) -> str:
        """``os.path.join(value or os.path.expanduser("~" + fallback), APP)``."""
        if sys.platform == "darwin" or sys.platform.startswith("win"):
            raise Decline          # platformdirs decides there
        value = self.environ.get(variable, "").strip()
        if not value:
            home = self.environ.get("HOME")
            if home is None:
                raise Decline      # expanduser asks the password database
            value = home.rstrip("/") + fallback
        return value + APP if value.endswith("/") else value + "/" + APP
