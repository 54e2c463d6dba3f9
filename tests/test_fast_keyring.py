"""git's `get` of a token kept in the Secret Service: the fast path's own D-Bus read
(stores/secret_service.py) answers it, exactly as the full path does, without keyring or
jeepney; whatever that read cannot answer (a locked collection, no item, a stopped service,
another backend) goes to the full path, which behaves as it did before.  Against a real
gnome-keyring-daemon on a private bus (tests/support/secret_service.py)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from credhelper.stores.secret_service import READ_DEADLINE
from tests.conftest import credhelper, run
from tests.test_hot_path import FAST, launched

# the full path, as the launcher runs it once the fast path declines
FULL = "import sys; from credhelper.protocols import run_git; sys.exit(run_git())"
SOCKETS = ("socket", "selectors", "jeepney", "keyring", "secretstorage")


def full_path(request):
    done = run(sys.executable, "-c", FULL, "get", input=request, check=False)
    return done.returncode, done.stdout, done.stderr


def fast_or_full(tmp_path, request):
    """(exit code, stdout, stderr, whether the fast path answered) of the launcher."""
    done = []
    out, modules = launched(tmp_path, "run_git", "get", input=request, done=done)
    errors = "".join(line + "\n" for line in done[0].stderr.splitlines()
                     if not line.startswith("import time:"))
    return done[0].returncode, out, errors, "site" not in modules


def lock(env, collection):
    """Lock ``collection`` (no prompt needed, unlike unlocking); True once it is locked."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    service = DBusAddress("/org/freedesktop/secrets", "org.freedesktop.secrets",
                          "org.freedesktop.Secret.Service")
    with open_dbus_connection(env["DBUS_SESSION_BUS_ADDRESS"]) as connection:
        locked, prompt = unwrap_msg(connection.send_and_get_reply(
            new_method_call(service, "Lock", "ao", ([collection],)), timeout=30))
    return locked == [collection] and prompt == "/"


def keyring_token(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, "--store", "keyring", input=token)
    return token, "protocol=https\nhost=%s\n\n" % gitlab_host


def test_a_keyring_token_is_served_by_the_fast_path_as_by_the_full_path(
        gitlab, gitlab_host, secret_service, monkeypatch, tmp_path, home):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    token, request = keyring_token(gitlab, gitlab_host)
    records = json.loads((home / ".local/share/credhelper/tokens.json").read_text())
    assert "secrets.json" not in os.listdir(home / ".local/share/credhelper") or \
        token not in (home / ".local/share/credhelper/secrets.json").read_text()
    assert [r["store"] for r in records["tokens"]] == ["keyring"]
    code, out, errors, fast = fast_or_full(tmp_path, request)
    assert fast and code == 0 and errors == "" and "password=%s\n" % token in out
    assert full_path(request) == (0, out, "")
    _, modules = launched(tmp_path, "run_git", "store", input=request.strip() + "\n" + out)
    assert modules.isdisjoint(FAST + SOCKETS), sorted(modules.intersection(FAST + SOCKETS))


def test_a_locked_collection_is_left_to_the_full_path(gitlab, gitlab_host, private_service,
                                                      tmp_path):
    _, request = keyring_token(gitlab, gitlab_host)
    assert lock(private_service.env, "/org/freedesktop/secrets/collection/login")
    code, out, errors, fast = fast_or_full(tmp_path, request)
    assert not fast and "password=" not in out
    assert (code, out, errors) == full_path(request)


def test_a_missing_item_is_left_to_the_full_path(gitlab, gitlab_host, secret_service,
                                                monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    _, request = keyring_token(gitlab, gitlab_host)
    cleared = subprocess.run(["secret-tool", "clear", "service", "credhelper:" + gitlab_host],
                             env=dict(os.environ), capture_output=True, timeout=60)
    assert cleared.returncode == 0
    code, out, errors, fast = fast_or_full(tmp_path, request)
    assert not fast and "password=" not in out
    assert (code, out, errors) == full_path(request)


def test_a_stopped_service_holds_git_for_one_deadline_and_says_so(gitlab, gitlab_host,
                                                                   private_service, tmp_path):
    """The fast path's read times out, then the full path's gives up at once (the same
    process): one deadline, not two, and the full path's words for it."""
    _, request = keyring_token(gitlab, gitlab_host)
    os.kill(private_service.keyring.pid, signal.SIGSTOP)
    started = time.monotonic()
    code, out, errors, fast = fast_or_full(tmp_path, request)
    elapsed = time.monotonic() - started
    assert READ_DEADLINE <= elapsed < 2 * READ_DEADLINE
    assert not fast and "password=" not in out
    assert "the Secret Service did not answer within 3 s" in errors
    assert (code, out, errors) == full_path(request)


def test_another_keyring_backend_is_left_to_the_full_path(secret_service, monkeypatch):
    """The record names the backend that keeps its secret: only the Secret Service's is read
    here, even when an item of the same name is in the Secret Service."""
    from credhelper import fast_service
    from credhelper.rules.model import PAT, TokenRecord
    from credhelper.stores import open_store
    from credhelper.stores.secret_service import SECRET_SERVICE

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    service = fast_service.FastService(dict(os.environ))
    record = TokenRecord(id="other-backend", host="gitlab.example.com", kind=PAT,
                         store="keyring", extra={"backend": SECRET_SERVICE})
    open_store("keyring", SECRET_SERVICE).set(record, "glpat-otherbackendotherbackend")
    assert service.secret(record) == "glpat-otherbackendotherbackend"
    for backend in ("keyring.backends.kwallet.DBusKeyring", None):
        with pytest.raises(fast_service.Decline):
            service.secret(record.replace(extra={"backend": backend} if backend else {}))
    open_store("keyring", SECRET_SERVICE).delete(record)
