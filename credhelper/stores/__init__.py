"""Secret stores: where the token strings themselves live, keyed by record.

One small interface (``get``, ``set``, ``delete``), three implementations:

    file     0600 JSON file in the 0700 data dir, like ``git credential-store`` (fast)
    keyring  the OS keyring through the ``keyring`` library (Secret Service, macOS Keychain...)
    memory   a dict, for tests that run the protocol in-process

Each record names its store, so tokens added under different settings keep working.
"""

FILE = "file"
KEYRING = "keyring"
MEMORY = "memory"
CI = "env"   # the CI job's environment: nothing stored, see ci_env.py

NAMES = (FILE, KEYRING)


class SecretStore:
    """Interface.  ``get`` returns None when the secret is missing."""

    name = "?"

    def get(self, record):
        raise NotImplementedError

    def set(self, record, secret):
        raise NotImplementedError

    def delete(self, record):
        raise NotImplementedError

    def describe(self):
        """One line for `credhelper doctor`."""
        return self.name


_memory = {}


def open_store(name, backend=None, data_dir=None):
    """The store called ``name``; imports only that store's module (keyring is slow to load)."""
    if name == FILE:
        from .file import FileStore

        return FileStore(data_dir)
    if name == KEYRING:
        from .keyring_store import KeyringStore

        return KeyringStore(backend)
    if name == MEMORY:
        from .memory import MemoryStore

        return MemoryStore(_memory)
    from ..errors import ConfigError

    raise ConfigError("unknown store %r (use one of: %s)" % (name, ", ".join(NAMES)))
