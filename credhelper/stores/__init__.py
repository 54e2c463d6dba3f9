"""Secret stores: where the token strings themselves live, keyed by record.

One small interface (``get``, ``set``, ``delete``), three implementations:

    file     0600 JSON file in the 0700 data dir, like ``git credential-store`` (fast)
    keyring  the OS keyring through the ``keyring`` library (Secret Service, macOS Keychain...)
    memory   a dict, for tests that run the protocol in-process

Each record names its store, so tokens added under different settings keep working.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from credhelper.rules.model import TokenRecord

FILE = "file"
KEYRING = "keyring"
MEMORY = "memory"
CI = "env"   # the CI job's environment: nothing stored, see ci_env.py

NAMES = (FILE, KEYRING)


class SecretStore:
    """Interface.  ``get`` returns None when the secret is missing."""

    name = "?"

    def get(self, record: TokenRecord) -> str | None:
        raise NotImplementedError

    def set(self, record: TokenRecord, secret: str) -> None:
        raise NotImplementedError

    def delete(self, record: TokenRecord) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for `credhelper doctor`."""
        return self.name


class Secrets:
    """Every record's secret, in the store its record names (each store opened once), and the
    CI job's variables for the records ``ci_env`` makes.  The one way the rest of credhelper
    reads, writes and deletes secrets."""

    def __init__(self, data_dir: str | None = None, environ: Mapping[str, str] | None = None
                 ) -> None:
        self.data_dir = data_dir
        self.environ: Mapping[str, str] = environ if environ is not None else {}
        self._open: dict[tuple[str, str | None], SecretStore] = {}

    def store_for(self, record: TokenRecord) -> SecretStore:
        key = (record.store, record.extra.get("backend"))
        if key not in self._open:
            self._open[key] = open_store(record.store, record.extra.get("backend"),
                                         data_dir=self.data_dir)
        return self._open[key]

    def get(self, record: TokenRecord, warn: Callable[[str], None] | None = None) -> str | None:
        """The secret, or None when it is missing or its store fails (``warn`` is told why)."""
        if record.store == CI:
            from .ci_env import secret

            return secret(record, self.environ)
        from ..errors import StoreError

        try:
            return self.store_for(record).get(record)
        except StoreError as error:
            if warn is not None:
                warn(str(error))
            return None

    def set(self, record: TokenRecord, secret: str) -> None:
        self.store_for(record).set(record, secret)

    def delete(self, record: TokenRecord, warn: Callable[[str], None] | None = None) -> None:
        from ..errors import StoreError

        try:
            self.store_for(record).delete(record)
        except StoreError as error:
            if warn is not None:
                warn(str(error))


_memory: dict[str, str] = {}


def open_store(name: str, backend: str | None = None, data_dir: str | None = None
               ) -> SecretStore:
    """The store called ``name``; imports only that store's module (keyring is slow to load)."""
    if name == FILE:
        from credhelper.stores.file import FileStore

        return FileStore(data_dir)
    if name == KEYRING:
        from credhelper.stores.keyring_store import KeyringStore

        return KeyringStore(backend)
    if name == MEMORY:
        from credhelper.stores.memory import MemoryStore

        return MemoryStore(_memory)
    from credhelper.errors import ConfigError

    raise ConfigError("unknown store %r (use one of: %s)" % (name, ", ".join(NAMES)))
