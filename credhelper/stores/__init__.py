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
    from credhelper.stores.file import FileStore

FILE = "file"
KEYRING = "keyring"
MEMORY = "memory"
CI = "env"   # the CI job's environment: nothing stored, see ci_env.py

NAMES = (FILE, KEYRING)
# Every secret read, stored, sent or received in this process: rules/redact.scrub replaces them
# in whatever is shown to a person or written to the audit log (README, "Threat model");
# it skips "" and other strings too short to be a token.
KNOWN_SECRETS: set[str] = set()


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
        self._held: dict[str, str] = {}      # what ``keep`` could not store, for this process

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

            found = secret(record, self.environ)
            KNOWN_SECRETS.add(found or "")
            return found
        from ..errors import StoreError

        try:
            found = self.store_for(record).get(record)
        except StoreError as error:
            found = self.rescued(record)
            if found is None and warn is not None:
                warn(str(error))
        else:
            found = found if found is not None else self.rescued(record)
        KNOWN_SECRETS.add(found or "")
        return found

    def set(self, record: TokenRecord, secret: str) -> None:
        KNOWN_SECRETS.add(secret)
        self.store_for(record).set(record, secret)

    def keep(self, record: TokenRecord, secret: str, warn: Callable[[str], None]) -> bool:
        """Store a secret that must not be lost (a token the server just issued, the old one
        already revoked): in its store, or else in the 0600 rescue file, or at least in this
        process, which hands it out.  Returns True when it is not in its own store."""
        from ..errors import StoreError

        KNOWN_SECRETS.add(secret)
        self._held[record.id] = secret
        try:
            self.store_for(record).set(record, secret)
            return False
        except (StoreError, OSError) as error:
            reason = str(error)
        try:
            self._rescue().set(record, secret)
        except (StoreError, OSError) as error:
            warn("the new token for %s could not be stored (%s; %s); it is used for this "
                 "request only" % (record.host, reason, error))
            return True
        warn("the %s store could not take the new token for %s (%s); it is kept in %s (0600) "
             "and moved to its store when that works again"
             % (record.store, record.host, reason, self._rescue().path))
        return True

    def probe(self, record: TokenRecord) -> str | None:
        """Can the record's store take a new secret right now?  None if it can, else why not
        (a full or read-only disk, a locked keyring).  Asked before a step that cannot be
        undone: a rotation revokes the old token the moment the server commits it."""
        import os

        from ..errors import StoreError

        probe = record.replace(id=record.id + ".probe")
        try:
            self.store_for(probe).set(probe, "probe-" + os.urandom(8).hex())
            self.store_for(probe).delete(probe)
        except (StoreError, OSError) as error:
            return str(error) or error.__class__.__name__
        return None

    def rescued(self, record: TokenRecord) -> str | None:
        """A secret ``keep`` could not put in its store, if any (only looked for on a miss)."""
        if record.id in self._held:
            return self._held[record.id]
        import os

        rescue = self._rescue()
        if not os.path.exists(rescue.path):
            return None
        from ..errors import StoreError

        try:
            return rescue.get(record)
        except StoreError:
            return None

    def bring_home(self, record: TokenRecord) -> bool:
        """Move a rescued secret into its store; True once it is there (or gone)."""
        from ..errors import StoreError

        secret = self.rescued(record)
        if secret is None:
            return True
        try:
            self.store_for(record).set(record, secret)
            self._rescue().delete(record)
        except (StoreError, OSError):
            return False
        self._held.pop(record.id, None)
        return True

    def delete(self, record: TokenRecord, warn: Callable[[str], None] | None = None) -> None:
        from ..errors import StoreError

        try:
            self.store_for(record).delete(record)
        except StoreError as error:
            if warn is not None:
                warn(str(error))
        import os

        self._held.pop(record.id, None)
        rescue = self._rescue()
        if os.path.exists(rescue.path):
            rescue.delete(record)

    def _rescue(self) -> FileStore:
        from .file import FileStore

        return FileStore(self.data_dir, "rescued.json")


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


def default_store(choice: str) -> tuple[str, str | None]:
    """(store name, keyring backend or None) for the config's ``store`` choice."""
    if choice == "file":
        return "file", None
    from credhelper.stores.keyring_store import choose_backend

    backend = choose_backend()
    if backend is None:
        if choice == "keyring":
            from credhelper.errors import StoreError

            raise StoreError("no usable keyring backend; set store = \"file\" in the config "
                             "or install a Secret Service (gnome-keyring, KeePassXC)")
        return "file", None
    return "keyring", backend
