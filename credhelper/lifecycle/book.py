"""The keeper's view of local state: the token index, the secrets, and one lock per token slot.

A slot is what a token answers for (``TokenRecord.slot``), so its lock survives the record's
id changing when the token rotates.
"""

from __future__ import annotations

import hashlib
import os

from credhelper.local import paths
from credhelper.local.files import FileLock
from credhelper.rules.model import ADDED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.lifecycle.context import RequestContext
    from credhelper.local.token_index import TokenIndex
    from credhelper.rules.model import TokenRecord
    from credhelper.stores import Secrets

LOCK_WAIT = 8.0       # seconds to wait for another process busy with the same token


class TokenBook:
    def __init__(self, tokens: TokenIndex, secrets: Secrets) -> None:
        self.tokens = tokens
        self.secrets = secrets

    def slot_lock(self, record: TokenRecord) -> FileLock:
        slot = "\0".join(str(part or "") for part in record.slot())
        name = hashlib.sha256(slot.encode()).hexdigest()[:24]
        return FileLock(os.path.join(paths.state_dir(), "locks", name + ".lock"),
                        timeout=LOCK_WAIT)

    def reload(self, record: TokenRecord) -> TokenRecord | None:
        """The index's current record for ``record``'s slot (its id may have changed)."""
        for current in self.tokens.load():
            if current.origin == ADDED and current.slot() == record.slot():
                return current
        return None

    def save(self, record: TokenRecord, replaces: str | None = None) -> TokenRecord:
        """Write ``record`` in place of the record with id ``replaces`` (default: its own)."""
        old_id = replaces or record.id
        self.tokens.update(lambda records: [record if r.id == old_id else r for r in records])
        return record

    def secret(self, record: TokenRecord, ctx: RequestContext | None = None) -> str | None:
        """The record's secret; a store failure is told to ``ctx`` (None: say nothing)."""
        return self.secrets.get(record, ctx.warn if ctx is not None else None)

    def delete_secret(self, record: TokenRecord, ctx: RequestContext) -> None:
        self.secrets.delete(record, ctx.warn)
