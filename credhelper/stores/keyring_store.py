"""Secrets in the OS keyring through the ``keyring`` library.

``keyring.get_keyring()`` discovers backends through entry points, which costs ~230 ms; on the
hot path we load the one backend class recorded when the token was added instead (see
``choose_backend``).  Entries are ``service="credhelper:HOST"``, ``username=<record id>`` so
they are recognisable in Seahorse or Keychain Access.
"""

from __future__ import annotations

from credhelper.errors import StoreError
from credhelper.stores import SecretStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from credhelper.rules.model import TokenRecord

SERVICE_PREFIX = "credhelper:"
# Wall-clock limits for keyring calls; writes may wait for an unlock prompt.
CALL_DEADLINES = {"read": 5.0, "write": 60.0, "delete": 20.0}


class KeyringStore(SecretStore):
    name = "keyring"

    def __init__(self, backend: str | None = None) -> None:
        self.backend_name = backend
        self._backend: Any = None

    def get(self, record: TokenRecord) -> str | None:
        if self.backend_name == "keyring.backends.SecretService.Keyring":
            from credhelper.stores.secret_service import READ_DEADLINE, NoAnswer, read

            try:
                secret = read(_service(record), record.id)     # fast path: jeepney only
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
    """The backend class ``module.Class`` when given (fast), else keyring's own choice."""
    if name:
        module_name, _, class_name = name.rpartition(".")
        try:
            import importlib

            backend = getattr(importlib.import_module(module_name), class_name)()
        except Exception as error:
            raise StoreError("keyring backend %s is not available: %s"
                             % (name, _one_line(error))) from None
        return backend
    import keyring

    return keyring.get_keyring()


def choose_backend() -> str | None:
    """The keyring backend to record for new tokens, or None when no usable one exists.

    "Usable" means a real store: keyring's ``fail`` backend, the ``null`` one and chainers with
    nothing behind them are not.
    """
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, chainer.ChainerBackend):
        backends = [b for b in backend.backends if b.priority > 0 and not _ours(b)]
        if not backends:
            return None
        backend = backends[0]
    if _ours(backend):
        return None   # our own package backend stores nothing: never store secrets "in" it
    if isinstance(backend, fail.Keyring) or backend.__class__.__module__ == "keyring.backends.null":
        return None
    try:
        if backend.priority <= 0:
            return None
    except Exception:
        return None
    return "%s.%s" % (backend.__class__.__module__, backend.__class__.__name__)


def _ours(backend: Any) -> bool:
    return backend.__class__.__module__.startswith("credhelper.")


def _one_line(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    return " ".join(text.split())[:300]
