"""Secrets in ``secrets.json``: mode 0600, in the 0700 data dir, replaced atomically.

The same protection as ``git credential-store`` (the file is plain text to anyone who can read
it as you), without its flaw of one line per URL that any tool can rewrite.  Each write of
``secrets.json`` also writes its compact copy for the ``get`` fast path (``local/compact.py``),
with the same protection.
"""

from __future__ import annotations

import os

from credhelper.errors import StoreError
from credhelper.local import compact, compact_write, paths
from credhelper.local.files import FileLock, read_json, write_json
from credhelper.stores import SecretStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.rules.model import TokenRecord


class FileStore(SecretStore):
    name = "file"

    def __init__(self, directory: str | None = None, filename: str = "secrets.json") -> None:
        self.directory = directory or paths.data_dir()
        self.path = os.path.join(self.directory, filename)
        self.copied = filename == "secrets.json"     # the rescue file has no compact copy

    def get(self, record: TokenRecord) -> str | None:
        return self._load().get(record.id)

    def set(self, record: TokenRecord, secret: str) -> None:
        with FileLock(self.path + ".lock"):
            secrets = self._load()
            secrets[record.id] = secret
            self._write(secrets)

    def delete(self, record: TokenRecord) -> None:
        with FileLock(self.path + ".lock"):
            secrets = self._load()
            if secrets.pop(record.id, None) is not None:
                self._write(secrets)

    def reindex(self) -> None:
        """Write the compact copy when it is missing or stale (secrets.json is written only
        when a secret changes: an install upgraded from a version without the copy gets one
        at its next token save)."""
        if not self.copied or compact.secrets_fresh(self.directory) or \
                not os.path.exists(self.path):
            return
        with FileLock(self.path + ".lock"):
            compact_write.write_secrets(self.directory, self._load())

    def _write(self, secrets: dict[str, Any]) -> None:
        write_json(self.path, {"version": 1, "secrets": secrets})
        if self.copied:
            compact_write.write_secrets(self.directory, secrets)

    def describe(self) -> str:
        return "file (%s, mode 0600)" % self.path

    def _load(self) -> dict[str, Any]:
        data = read_json(self.path, {"secrets": {}})
        secrets = data.get("secrets") if isinstance(data, dict) else None
        if not isinstance(secrets, dict):
            raise StoreError("%s has an unknown layout" % self.path)
        return secrets
