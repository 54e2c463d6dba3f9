"""A store in a dict: the protocol tests that run in-process use it."""

from credhelper.stores import SecretStore


class MemoryStore(SecretStore):
    name = "memory"

    def __init__(self, table):
        self._table = table

    def get(self, record):
        return self._table.get(record.id)

    def set(self, record, secret):
        self._table[record.id] = secret

    def delete(self, record):
        self._table.pop(record.id, None)
