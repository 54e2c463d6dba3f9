"""The token index: ``tokens.json`` in the data dir, the metadata of every registered token.

It holds no secret (those live in a store, keyed by the record id), so a reader needs no lock;
every change happens under ``TokenIndex.lock`` as read-modify-write, written atomically.  Every
save also writes the compact copy the ``get`` fast path reads (``local/compact.py``).
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
    from typing import Any

FORMAT_VERSION = 1
# the file store's files beside the index (stores/file.py, stores/__init__.py)
SECRET_FILES = ("secrets.json", "rescued.json")
# the JSON types of the fields credhelper writes; fields it does not know are kept as they are
FIELD_TYPES: dict[str, Any] = dict(
    dict.fromkeys(TokenRecord.__slots__ + ("backend",), str), scopes=list,
    pending=dict, extra=object, default_account=bool, **dict.fromkeys((
        "checked_at", "next_check_at", "backoff_until", "warned_at", "expires_utc", "created_utc",
        "config_mtime", "token_id", "user_id"), (int, float)))


class TokenIndex:
    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory or paths.data_dir()
        self.path = os.path.join(self.directory, "tokens.json")

    def load(self, host: str | None = None) -> list[TokenRecord]:
        """Every record, in registration order; with ``host``, that host's only, from the
        compact copy while it equals tokens.json (what it holds passed ``_checked`` when it
        was written), and no other host's record is built: a get costs the same beside a
        thousand tokens of other hosts."""
        if host is not None:
            from credhelper.local import compact

            found = compact.host_records(self.directory, host)
            if found is not None and not compact.has_unread(found):   # the JSON has those
                return [TokenRecord.from_json(item) for item in found]
        data = read_json(self.path, {"version": FORMAT_VERSION, "tokens": []})
        for name in SECRET_FILES:         # refused now, in one line, not halfway through a get
            refuse_unsafe_path(os.path.join(self.directory, name))
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list) or \
                not isinstance(data.get("version", 1), int):
            raise ConfigError("%s has an unknown layout; move it away and add tokens again"
                              % self.path)
        if data.get("version", 1) > FORMAT_VERSION:
            raise ConfigError("%s was written by a newer credhelper; upgrade" % self.path)
        return [TokenRecord.from_json(self._checked(item)) for item in data["tokens"]
                if isinstance(item, dict) and (host is None or item.get("host") == host)]

    def _checked(self, item: dict[str, Any]) -> dict[str, Any]:
        """The record, when its fields have the types credhelper writes: a number for a host
        is one line here, not a crash further on."""
        wrong = _wrong_fields(item)
        if wrong:
            raise ConfigError("%s: a token's %s is missing, of the wrong type or holds a NUL; "
                              "fix or move the file away" % (self.path, wrong[0][:40]))
        return item

    def lock(self) -> FileLock:
        return FileLock(os.path.join(self.directory, ".lock"))

    def save(self, records: list[TokenRecord]) -> None:
        """Replace the index and its compact copy; call it with ``lock()`` held."""
        from credhelper.local import compact_write
        from credhelper.stores.file import FileStore

        items = [record.to_json() for record in records]
        write_json(self.path, {"version": FORMAT_VERSION, "tokens": items})
        if not any(_wrong_fields(item) for item in items):   # else load refuses: no copy
            compact_write.write_tokens(self.directory, items)
        FileStore(self.directory).reindex()   # the secrets' copy, once after an upgrade

    def reindex(self) -> None:
        """Write the compact copies when they are missing or stale.  Every save writes them,
        so this matters once: after an upgrade from a version without them (install.sh runs
        it), or after a hand edit of tokens.json, which ``get`` then reads the slow way."""
        from credhelper.local import compact
        from credhelper.stores.file import FileStore

        if os.path.exists(self.path) and not compact.tokens_fresh(self.directory):
            self.update(lambda records: records)     # save writes both copies
        else:
            FileStore(self.directory).reindex()

    def update(self, change: Callable[[list[TokenRecord]], list[TokenRecord]]
               ) -> list[TokenRecord]:
        """Apply ``change(records) -> records`` atomically under the lock; returns the result."""
        with self.lock():
            records = change(self.load())
            self.save(records)
            return records


def _wrong_fields(item: dict[str, Any]) -> list[str]:
    wrong = [k for k, v in item.items() if not _typed(k, v)]
    return wrong + [k for k in ("id", "host", "kind") if not isinstance(item.get(k), str)]


def _typed(name: str, value: object) -> bool:
    if isinstance(value, str) and "\0" in value:
        return False      # no field credhelper writes holds one; a path with it cannot open
    if name == "pending" and isinstance(value, dict):   # a rotation's journal (journal.py)
        return isinstance(value.get("new_id"), str) and isinstance(value.get(
            "started_at", 0), (int, float)) and isinstance(value.get("expires_at") or "", str)
    if name == "scopes" and isinstance(value, list):
        return all(isinstance(scope, str) and "\0" not in scope for scope in value)
    return value is None or isinstance(value, FIELD_TYPES.get(name, object))
