"""Secrets in the OS keyring through the ``keyring`` library.

``keyring.get_keyring()`` discovers backends through entry points, which costs ~230 ms; on the
hot path we load the one backend class recorded when the token was added instead (see
``choose_backend``).  Entries are ``service="credhelper:HOST"``, ``username=<record id>`` so
they are recognisable in Seahorse or Keychain Access.
"""

from __future__ import annotations

from credhelper.errors import StoreError
from credhelper.stores import SecretStore
from credhelper.stores.secret_service import SECRET_SERVICE, SERVICE_PREFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from credhelper.rules.model import TokenRecord

NOT_STORES = ("keyring.backends.fail", "keyring.backends.null", "keyring.backends.chainer")
# Wall-clock limits for keyring calls; writes may wait for an unlock prompt.
CALL_DEADLINES = {"read": 5.0, "write": 60.0, "delete": 20.0}


class KeyringStore(SecretStore):
    name = "keyring"

    def __init__(self, backend: str | None = None) -> None:
        self.backend_name = backend
        self._backend: Any = None

    def get(self, record: TokenRecord) -> str | None:
        if self.backend_name == SECRET_SERVICE:
            import os

            from credhelper.stores.secret_service import READ_DEADLINE, NoAnswer, read

            try:
                secret = read(_service(record), record.id, os.environ)   # D-Bus, no keyring
            except NoAnswer:
                raise StoreError("the Secret Service did not answer within %.0f s (is it "
                                 "stopped?); the token for %s could not be read"
                                 % (READ_DEADLINE, record.host)) from None
            if secret is not None:
                return secret
        return self._call("read", record, lambda kr: kr.get_password(_service(record), record.id))

    def set(self, record: TokenRecord, secret: str) -> None:
        self._call("write", record,
                   lambda kr: kr.set_password(_service(record), record.id, secret))

    def delete(self, record: TokenRecord) -> None:
        import keyring.errors

        def delete(kr: Any) -> None:
            try:
                kr.delete_password(_service(record), record.id)
            except keyring.errors.PasswordDeleteError:
                pass  # already gone: deleting is idempotent

        self._call("delete", record, delete)

    def describe(self) -> str:
        return "keyring (%s)" % self.backend().__class__.__module__

    def backend(self) -> Any:
        if self._backend is None:
            self._backend = load_backend(self.backend_name)
        return self._backend

    def _call(self, verb: str, record: TokenRecord, action: Callable[[Any], Any]) -> Any:
        """``action(backend)`` within a wall-clock deadline: keyring's own calls have none,
        and a hung keyring daemon must not hang git.  A call still running at the deadline
        is left to finish on its own (its thread does not keep the process alive)."""
        import threading

        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, action(self.backend())))
            except Exception as error:  # any backend failure: D-Bus down, locked, denied...
                outcome.append((False, error))

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(CALL_DEADLINES[verb])
        if not outcome:
            raise StoreError("the keyring did not %s the token for %s within %.0f s"
                             % (verb, record.host, CALL_DEADLINES[verb]))
        ok, value = outcome[0]
        if ok:
            return value
        if isinstance(value, StoreError):
            raise value
        raise StoreError("cannot %s the token for %s in the keyring: %s"
                         % (verb, record.host, _one_line(value)))


def _service(record: TokenRecord) -> str:
    return SERVICE_PREFIX + record.host


def load_backend(name: str | None = None) -> Any:
    """The backend recorded as ``module.Class`` when given, else keyring's own choice.

    The name comes from tokens.json, so it is never imported as such (that would import any
    module named there): Secret Service, the common case, is built by its fixed name without
    keyring's entry-point discovery (fast); any other name must be one of the backends keyring
    itself discovers (``keyring.backend.get_all_keyring``), or it is refused."""
    if not name:
        import keyring

        return keyring.get_keyring()
    try:
        if name == SECRET_SERVICE:
            from keyring.backends import SecretService

            return SecretService.Keyring()
        from keyring.backend import get_all_keyring

        found = [b for b in get_all_keyring() if backend_name(b) == name and real_store(b)]
    except Exception as error:
        raise StoreError("keyring backend %s is not available: %s"
                         % (name[:100], _one_line(error))) from None
    if not found:
        raise StoreError("keyring backend %r (named in tokens.json) is not one keyring offers "
                         "here; run credhelper doctor" % name[:100])
    return found[0]


def backend_name(backend: Any) -> str:
    return "%s.%s" % (backend.__class__.__module__, backend.__class__.__name__)


def choose_backend() -> str | None:
    """The keyring backend to record for new tokens, or None when no usable one exists."""
    try:
        import keyring
        from keyring.backends import chainer

        chosen: Any = keyring.get_keyring()
        if isinstance(chosen, chainer.ChainerBackend):
            chosen = next((b for b in chosen.backends if real_store(b)), None)
        return backend_name(chosen) if chosen is not None and real_store(chosen) else None
    except Exception:
        return None


def real_store(backend: Any) -> bool:
    """A backend that keeps secrets: not our own package backend (it stores nothing), not
    keyring's ``fail`` or ``null`` ones, not a chainer (it would ask ours), priority > 0."""
    module = backend.__class__.__module__
    if module.startswith("credhelper.") or module in NOT_STORES:
        return False
    try:
        return bool(backend.priority > 0)
    except Exception:
        return False


def _one_line(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    return " ".join(text.split())[:300]
