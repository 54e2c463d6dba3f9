"""Secrets in ``secrets.json``: mode 0600, in the 0700 data dir, replaced atomically.

The same protection as ``git credential-store`` (the file is plain text to anyone who can read
it as you), without its flaw of one line per URL that any tool can rewrite.
"""

import os

from credhelper.errors import StoreError
from credhelper.local import paths
from credhelper.local.files import FileLock, read_json, write_json
from credhelper.stores import SecretStore


class FileStore(SecretStore):
    name = "file"

    def __init__(self, directory=None):
        self.directory = directory or paths.data_dir()
        self.path = os.path.join(self.directory, "secrets.json")

    def get(self, record):
        return self._load().get(record.id)

    def set(self, record, secret):
        with FileLock(os.path.join(self.directory, ".secrets.lock")):
            secrets = self._load()
            secrets[record.id] = secret
            write_json(self.path, {"version": 1, "secrets": secrets})

    def delete(self, record):
        with FileLock(os.path.join(self.directory, ".secrets.lock")):
            secrets = self._load()
            if secrets.pop(record.id, None) is not None:
                write_json(self.path, {"version": 1, "secrets": secrets})

    def describe(self):
        return "file (%s, mode 0600)" % self.path

    def _load(self):
        data = read_json(self.path, {"secrets": {}})
        secrets = data.get("secrets") if isinstance(data, dict) else None
        if not isinstance(secrets, dict):
            raise StoreError("%s has an unknown layout" % self.path)
        return secrets
