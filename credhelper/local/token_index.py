"""The token index: ``tokens.json`` in the data dir, the metadata of every registered token.

It holds no secret (those live in a store, keyed by the record id), so a reader needs no lock;
every change happens under ``TokenIndex.lock`` as read-modify-write, written atomically.
"""

from __future__ import annotations

import os

from credhelper.errors import ConfigError
from credhelper.local import paths
from credhelper.local.files import FileLock, read_json, refuse_unsafe_path, write_json
from credhelper.rules.model import TokenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

FORMAT_VERSION = 1
# the file store's files beside the index (stores/file.py, stores/__init__.py)
SECRET_FILES = ("secrets.json", "rescued.json")


class TokenIndex:
    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory or paths.data_dir()
        self.path = os.path.join(self.directory, "tokens.json")

    def load(self) -> list[TokenRecord]:
        """Every record, in registration order."""
        data = read_json(self.path, {"version": FORMAT_VERSION, "tokens": []})
        for name in SECRET_FILES:         # refused now, in one line, not halfway through a get
            refuse_unsafe_path(os.path.join(self.directory, name))
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise ConfigError("%s has an unknown layout; move it away and add tokens again"
                              % self.path)
        if data.get("version", 1) > FORMAT_VERSION:
            raise ConfigError("%s was written by a newer credhelper; upgrade" % self.path)
        return [TokenRecord.from_json(item) for item in data["tokens"] if isinstance(item, dict)]

    def lock(self) -> FileLock:
        return FileLock(os.path.join(self.directory, ".lock"))

    def save(self, records: list[TokenRecord]) -> None:
        """Replace the index; call it with ``lock()`` held."""
        write_json(self.path, {"version": FORMAT_VERSION,
                               "tokens": [record.to_json() for record in records]})

    def update(self, change: Callable[[list[TokenRecord]], list[TokenRecord]]
               ) -> list[TokenRecord]:
        """Apply ``change(records) -> records`` atomically under the lock; returns the result."""
        with self.lock():
            records = change(self.load())
            self.save(records)
            return records
