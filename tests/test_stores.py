"""Every secret store passes the same contract; the file store is private and atomic; the
keyring store is the real Secret Service (gnome-keyring on a private D-Bus)."""

import os
import stat
import subprocess
import sys

import pytest

from credhelper.errors import StoreError
from credhelper.local.files import write_private
from credhelper.rules.model import PAT, TokenRecord
from credhelper.stores import open_store
from credhelper.stores.keyring_store import choose_backend

SECRET = "glpat-storecontractstorecontract"


@pytest.fixture(params=["file", "keyring", "memory"])
def any_store(request, tmp_path, monkeypatch):
    if request.param == "keyring":
        env = request.getfixturevalue("secret_service")
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env["DBUS_SESSION_BUS_ADDRESS"])
        return open_store("keyring", choose_backend())
    return open_store(request.param, data_dir=str(tmp_path / "data"))


def record(id, host="gitlab.example.com"):
    return TokenRecord(id=id, host=host, kind=PAT)


def test_contract_set_get_replace_delete(any_store):
    first, second = record("a%s" % os.getpid()), record("b%s" % os.getpid(), "other.example")
    assert any_store.get(first) is None
    any_store.set(first, SECRET)
    any_store.set(second, SECRET + "2")
    assert any_store.get(first) == SECRET and any_store.get(second) == SECRET + "2"
    any_store.set(first, SECRET + "new")
    assert any_store.get(first) == SECRET + "new"
    any_store.delete(first)
    any_store.delete(first)  # idempotent
    assert any_store.get(first) is None and any_store.get(second) == SECRET + "2"
    any_store.delete(second)


def test_keyring_backend_is_the_secret_service(secret_service, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    assert choose_backend() == "keyring.backends.SecretService.Keyring"


def test_no_usable_keyring_means_the_file_store(monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    assert choose_backend() is None


def test_keyring_entries_are_readable_by_other_secret_service_clients(secret_service,
                                                                      monkeypatch):
    """What we store is a normal Secret Service item, visible to secret-tool and Seahorse."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    store = open_store("keyring", choose_backend())
    store.set(record("visible"), SECRET)
    found = subprocess.run(["secret-tool", "lookup", "service", "credhelper:gitlab.example.com",
                            "username", "visible"], capture_output=True, text=True, timeout=30)
    assert found.stdout == SECRET
    store.delete(record("visible"))


def test_a_broken_keyring_is_a_store_error_not_a_crash(monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    store = open_store("keyring", "keyring.backends.SecretService.Keyring")
    with pytest.raises(StoreError) as raised:
        store.get(record("x"))
    assert "keyring" in str(raised.value)


def test_file_store_modes(tmp_path):
    os.umask(0o022)
    store = open_store("file", data_dir=str(tmp_path / "data"))
    store.set(record("m"), SECRET)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "secrets.json").stat().st_mode) == 0o600


def test_an_existing_directory_is_used_as_it_is(tmp_path):
    """Never chmodded (issue 11: it may not be ours to change); doctor reports it readable."""
    loose = tmp_path / "data"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    open_store("file", data_dir=str(loose)).set(record("t"), SECRET)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o755
    assert stat.S_IMODE((loose / "secrets.json").stat().st_mode) == 0o600


def test_atomic_write_leaves_old_content_when_the_writer_dies(tmp_path):
    """Kill a writer between writing the temp file and renaming it: the old file is intact."""
    target = tmp_path / "d" / "f.json"
    write_private(str(target), b"old")
    script = (
        "import os, sys, signal\n"
        "sys.path.insert(0, %r)\n"
        "from credhelper.local import files\n"
        "real = os.replace\n"
        "def dying_replace(a, b):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.replace = dying_replace\n"
        "files.write_private(%r, b'new')\n") % (os.getcwd(), str(target))
    done = subprocess.run([sys.executable, "-c", script], timeout=30)
    assert done.returncode == -9
    assert target.read_bytes() == b"old"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_secret_service_fast_path_reads_what_keyring_wrote(secret_service, monkeypatch):
    """The hot path reads keyring's own items over D-Bus without importing keyring."""
    from credhelper.stores import secret_service as fast

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    store = open_store("keyring", choose_backend())
    store.set(record("fast"), SECRET)
    assert fast.read("credhelper:gitlab.example.com", "fast", os.environ) == SECRET
    assert fast.read("credhelper:gitlab.example.com", "absent", os.environ) is None
    store.delete(record("fast"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    assert fast.read("credhelper:gitlab.example.com", "fast", os.environ) is None
