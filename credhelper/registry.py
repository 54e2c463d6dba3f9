"""The token registry: ``tokens.json`` in the data dir, the metadata of every registered token.

It holds no secret (those live in a store, keyed by the record id), so a reader needs no lock;
every change happens under ``registry.lock`` as read-modify-write, written atomically.
"""

import os

from . import paths
from .errors import ConfigError
from .files import FileLock, read_json, write_json
from .model import TokenRecord

FORMAT_VERSION = 1


class Registry:
    def __init__(self, directory=None):
        self.directory = directory or paths.data_dir()
        self.path = os.path.join(self.directory, "tokens.json")

    def load(self):
        """Every record, in registration order."""
        data = read_json(self.path, {"version": FORMAT_VERSION, "tokens": []})
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise ConfigError("%s has an unknown layout; move it away and add tokens again"
                              % self.path)
        if data.get("version", 1) > FORMAT_VERSION:
            raise ConfigError("%s was written by a newer credhelper; upgrade" % self.path)
        return [TokenRecord.from_json(item) for item in data["tokens"] if isinstance(item, dict)]

    def lock(self):
        return FileLock(os.path.join(self.directory, ".lock"))

    def save(self, records):
        """Replace the registry; call it with ``lock()`` held."""
        write_json(self.path, {"version": FORMAT_VERSION,
                               "tokens": [record.to_json() for record in records]})

    def update(self, change):
        """Apply ``change(records) -> records`` atomically under the lock; returns the result."""
        with self.lock():
            records = change(self.load())
            self.save(records)
            return records
