"""The private Secret Service used by the keyring tests really works.

These run real daemons (dbus-daemon, gnome-keyring-daemon) and real clients
(keyring's SecretService backend in a child process, secret-tool).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.secret_service import (
    MARKER_VARIABLE,
    SESSION_VARIABLES,
    SecretService,
    secret_service_session,
    start_secret_service,
)

SERVICE = "credhelper-test/gitlab.example.com"
USER = "token"

KEYRING_SCRIPT = """
import sys
from keyring.backends.SecretService import Keyring

action, service, user, *rest = sys.argv[1:]
backend = Keyring()
if action == "set":
    backend.set_password(service, user, rest[0])
elif action == "get":
    value = backend.get_password(service, user)
    print("<none>" if value is None else value)
elif action == "delete":
    backend.delete_password(service, user)
"""


def keyring_cli(env: dict, *args: str) -> str:
    """Run keyring's SecretService backend in a child process."""
    result = subprocess.run(
        [sys.executable, "-c", KEYRING_SCRIPT, *args],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


def secret_tool(env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["secret-tool", *args], env=env, input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def service(tmp_path):
    svc = SecretService(tmp_path / "ss")
    svc.start()
    yield svc
    svc.stop()


def test_environment_is_private(service, tmp_path):
    env = service.env
    for name in SESSION_VARIABLES:
        assert env[name], name
    assert "DISPLAY" not in env and "WAYLAND_DISPLAY" not in env
    assert env["HOME"].startswith(str(tmp_path))
    assert env["XDG_DATA_HOME"].startswith(str(tmp_path))
    assert env["DBUS_SESSION_BUS_ADDRESS"] != os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    assert MARKER_VARIABLE not in env  # only the daemons carry the marker
    # The login keyring was created on disk inside the session directory.
    assert (service.keyrings_dir / "login.keyring").is_file()


def test_keyring_backend_set_get_delete_in_child_process(service):
    env = service.env
    assert keyring_cli(env, "get", SERVICE, USER) == "<none>"
    keyring_cli(env, "set", SERVICE, USER, "glpat-secret-1")
    assert keyring_cli(env, "get", SERVICE, USER) == "glpat-secret-1"
    keyring_cli(env, "set", SERVICE, USER, "glpat-secret-2")
    assert keyring_cli(env, "get", SERVICE, USER) == "glpat-secret-2"
    keyring_cli(env, "delete", SERVICE, USER)
    assert keyring_cli(env, "get", SERVICE, USER) == "<none>"


def test_keyring_backend_is_selected_by_default(service):
    """With no keyring config, keyring stores in the SecretService backend: it is the one
    real store in keyring's chain (credhelper's own package backend stores nothing)."""
    probe = ("import keyring\n"
             "from keyring.backends import chainer\n"
             "kr = keyring.get_keyring()\n"
             "chain = kr.backends if isinstance(kr, chainer.ChainerBackend) else [kr]\n"
             "print(' '.join(type(b).__module__ for b in chain))\n")
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={k: v for k, v in service.env.items() if k != "PYTHON_KEYRING_BACKEND"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["credhelper.protocols.keyring_backend", "keyring.backends.SecretService"]


def test_secret_tool_and_keyring_see_the_same_store(service):
    env = service.env
    stored = secret_tool(env, "store", "--label=credhelper test", "service", SERVICE,
                         "username", USER, input="from-secret-tool")
    assert stored.returncode == 0, stored.stderr
    # keyring's SecretService backend looks items up by service/username.
    assert keyring_cli(env, "get", SERVICE, USER) == "from-secret-tool"
    cleared = secret_tool(env, "clear", "service", SERVICE, "username", USER)
    assert cleared.returncode == 0, cleared.stderr
    assert keyring_cli(env, "get", SERVICE, USER) == "<none>"

    keyring_cli(env, "set", SERVICE, USER, "from-keyring")
    looked_up = secret_tool(env, "lookup", "service", SERVICE, "username", USER)
    assert looked_up.returncode == 0, looked_up.stderr
    assert looked_up.stdout == "from-keyring"
    keyring_cli(env, "delete", SERVICE, USER)
    looked_up = secret_tool(env, "lookup", "service", SERVICE, "username", USER)
    assert looked_up.stdout == ""


def test_in_process_keyring_after_updating_environ(service, monkeypatch):
    from keyring.backends.SecretService import Keyring

    for name in SESSION_VARIABLES:
        monkeypatch.setenv(name, service.env[name])
    backend = Keyring()
    backend.set_password(SERVICE, USER, "in-process")
    assert backend.get_password(SERVICE, USER) == "in-process"
    assert keyring_cli(service.env, "get", SERVICE, USER) == "in-process"


def test_secret_does_not_survive_into_a_fresh_session(tmp_path):
    with secret_service_session(tmp_path / "first") as env:
        keyring_cli(env, "set", SERVICE, USER, "first-session-secret")
        assert keyring_cli(env, "get", SERVICE, USER) == "first-session-secret"
    with secret_service_session(tmp_path / "second") as env:
        assert keyring_cli(env, "get", SERVICE, USER) == "<none>"
        lookup = secret_tool(env, "lookup", "service", SERVICE, "username", USER)
        assert lookup.stdout == ""


def test_teardown_leaves_no_daemons(tmp_path):
    svc = SecretService(tmp_path / "ss")
    env = svc.start()
    pids = svc.pids
    assert len(pids) == 2
    assert sorted(svc.running_processes()) == sorted(pids)
    names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids}
    assert names == {"dbus-daemon", "gnome-keyring-d"}  # comm is 15 chars
    # Use it, so the daemons have done real work before being stopped.
    keyring_cli(env, "set", SERVICE, USER, "x")

    svc.stop()

    assert svc.running_processes() == []
    assert svc.dbus.returncode is not None and svc.keyring.returncode is not None
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), f"pid {pid} still exists"
    # The bus is gone: clients fail instead of reaching a stale daemon.
    result = subprocess.run(
        [sys.executable, "-c", KEYRING_SCRIPT, "get", SERVICE, USER],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    svc.stop()  # idempotent


def test_start_secret_service_fixture_factory(tmp_path_factory):
    env, stop = start_secret_service(tmp_path_factory)
    svc = stop.__self__
    try:
        keyring_cli(env, "set", SERVICE, USER, "factory")
        assert keyring_cli(env, "get", SERVICE, USER) == "factory"
    finally:
        stop()
    assert svc.running_processes() == []
    stop()


def test_long_directory_paths_are_fine(tmp_path):
    """Unix socket paths are limited to 107 bytes; deep tmp dirs must work."""
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 4)
    with secret_service_session(deep) as env:
        keyring_cli(env, "set", SERVICE, USER, "deep")
        assert keyring_cli(env, "get", SERVICE, USER) == "deep"
        runtime = env["XDG_RUNTIME_DIR"]
        assert len(runtime) < 90
    assert not os.path.exists(runtime)
