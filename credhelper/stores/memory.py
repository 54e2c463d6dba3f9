"""A store in a dict: the protocol tests that run in-process use it."""

from __future__ import annotations

from credhelper.stores import SecretStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import TokenRecord


class MemoryStore(SecretStore):
    name = "memory"

    def __init__(self, table: dict[str, str]) -> None:
        self._table = table

    def get(self, record: TokenRecord) -> str | None:
        return self._table.get(record.id)

    def set(self, record: TokenRecord, secret: str) -> None:
        self._table[record.id] = secret

    def delete(self, record: TokenRecord) -> None:
        self._table.pop(record.id, None)
