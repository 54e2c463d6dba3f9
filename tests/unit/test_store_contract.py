"""One contract every secret store keeps (stores/__init__.py's ``SecretStore``), run against
each store: the file store, the memory store and the OS keyring (a real Secret Service).
A new store gets its test by adding a ten-line subclass here."""

from __future__ import annotations

import pytest

from credhelper.rules.model import ADDED, PAT, TokenRecord
from credhelper.stores import open_store

SECRET = "glpat-contractcontractcontract"


def record(record_id, host="gitlab.example.com"):
    return TokenRecord(id=record_id, host=host, kind=PAT, origin=ADDED)


class StoreContract:
    """The tests; subclasses provide the ``store`` fixture."""

    def test_a_missing_secret_is_none(self, store):
        assert store.get(record("absent")) is None

    def test_what_is_set_is_got(self, store):
        store.set(record("a"), SECRET)
        assert store.get(record("a")) == SECRET

    def test_set_replaces(self, store):
        store.set(record("a"), SECRET)
        store.set(record("a"), SECRET + "2")
        assert store.get(record("a")) == SECRET + "2"

    def test_records_do_not_share_secrets(self, store):
        store.set(record("a"), SECRET)
        store.set(record("b", host="other.example.com"), SECRET + "b")
        assert store.get(record("a")) == SECRET
        assert store.get(record("b", host="other.example.com")) == SECRET + "b"

    def test_delete_forgets_and_is_idempotent(self, store):
        store.set(record("a"), SECRET)
        store.delete(record("a"))
        assert store.get(record("a")) is None
        store.delete(record("a"))          # deleting what is gone is not an error

    def test_routable_tokens_keep_their_dots(self, store):
        routable = "glpat-" + "A" * 60 + ".01" + "abcdefg"
        store.set(record("r"), routable)
        assert store.get(record("r")) == routable

    def test_describe_is_one_line(self, store):
        assert "\n" not in store.describe()


class TestFileStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        return open_store("file", data_dir=str(tmp_path / "data"))


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        from credhelper.stores import _memory

        _memory.clear()
        return open_store("memory")


class TestSecretServiceStore(StoreContract):
    @pytest.fixture
    def store(self, secret_service, monkeypatch):
        from credhelper.stores.keyring_store import choose_backend

        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
        backend = choose_backend()
        assert backend == "keyring.backends.SecretService.Keyring"
        store = open_store("keyring", backend)
        yield store
        for name in ("absent", "a", "b", "r"):
            for host in ("gitlab.example.com", "other.example.com"):
                store.delete(record(name, host))
