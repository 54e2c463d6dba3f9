"""Shared fixtures: an isolated home for every test, the fake GitLab over real HTTPS, a real
Secret Service (gnome-keyring in a private D-Bus session), and helpers to run the installed
executables the way git and users do."""

import os
import signal
import subprocess
import sys

import pytest

from credhelper.selftest.tls import TestCA
from tests.fake_gitlab import FakeGitLab
from tests.support.secret_service import SecretService

# The venv's bin (console scripts: credhelper, git-credential-gitlab...) comes first on PATH,
# so git finds the helper exactly as it would after install.sh.
VENV_BIN = os.path.dirname(sys.executable)
# rustup's cargo proxy finds its toolchains under the real home; tests move HOME
RUSTUP_HOME = os.environ.get("RUSTUP_HOME") or os.path.expanduser("~/.rustup")
HOSTS = ("gitlab.example.com", "gitlab.example.com.evil.test", "other.example.com")

_SCRUBBED = ("CI", "CI_SERVER_URL", "CI_SERVER_HOST", "CI_SERVER_PORT", "CI_JOB_TOKEN",
             "CI_DEPLOY_USER", "CI_DEPLOY_PASSWORD", "CI_REGISTRY", "CI_REGISTRY_USER",
             "CI_REGISTRY_PASSWORD", "CREDHELPER_STORE", "CREDHELPER_CONFIG", "CREDHELPER_DEBUG",
             "GIT_ASKPASS", "SSH_ASKPASS", "DISPLAY", "PYTHON_KEYRING_BACKEND",
             "DBUS_SESSION_BUS_ADDRESS", "GIT_CONFIG_GLOBAL", "XDG_RUNTIME_DIR",
             # a machine's own proxy would carry the API calls to the fake GitLab (tests that
             # want one set it: tests/test_proxy.py)
             "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "http_proxy",
             "no_proxy", "NO_PROXY")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Every test gets its own HOME and XDG dirs; nothing of the real user is read or written."""
    home = tmp_path / "home"
    home.mkdir()
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("PATH", VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("CREDHELPER_STORE", "file")   # the `store` fixture switches it
    monkeypatch.setenv("RUSTUP_HOME", RUSTUP_HOME)
    return home


@pytest.fixture(autouse=True)
def forget_keyring_choice():
    """keyring caches its backend choice per process; an in-process test that ran without a
    Secret Service must not decide it for the next one."""
    yield
    if "keyring.core" in sys.modules:
        import keyring.backend
        import keyring.core

        vars(keyring.backend.get_all_keyring).pop("saved_result", None)
        keyring.core._keyring_backend = None


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory):
    """A real Secret Service (gnome-keyring-daemon) on a private session bus."""
    service = SecretService(tmp_path_factory.mktemp("secret-service"))
    env = service.start()
    yield env
    service.stop()


@pytest.fixture
def private_service(tmp_path, monkeypatch):
    """A Secret Service of this test's own, to lock or stop (SIGSTOP: resumed after)."""
    service = SecretService(tmp_path / "ss")
    env = service.start()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env["DBUS_SESSION_BUS_ADDRESS"])
    yield service
    for pid in service.pids:
        os.kill(pid, signal.SIGCONT)
    service.stop()


@pytest.fixture(params=["file", "keyring"])
def store(request, monkeypatch):
    """Run the test once with the 0600 file store and once with the Secret Service."""
    if request.param == "keyring":
        env = request.getfixturevalue("secret_service")
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env["DBUS_SESSION_BUS_ADDRESS"])
    monkeypatch.setenv("CREDHELPER_STORE", request.param)
    return request.param


@pytest.fixture(scope="session")
def gitlab(tmp_path_factory):
    """The fake GitLab, on HTTPS and plain HTTP, answering under several host names."""
    root = tmp_path_factory.mktemp("gitlab")
    ca = TestCA(root / "tls", names=HOSTS)
    with FakeGitLab(root / "server", ca, hostnames=HOSTS, http_port=True) as server:
        server.state.add_user("alice")
        yield server


@pytest.fixture
def gitlab_restored(gitlab):
    """The test server as the test found it: no faults left armed, its own clock again."""
    yield gitlab
    gitlab.faults.clear()
    gitlab.state.set_clock(None)


_project_names = iter(range(1, 1 << 30))


@pytest.fixture
def project(gitlab):
    """A fresh private project with alice as developer; returns its path."""
    path = "team%d/app" % next(_project_names)
    gitlab.state.add_project(path, members={"alice": "developer"})
    return path


@pytest.fixture(scope="session")
def registry(gitlab, tmp_path_factory):
    """The real distribution registry, trusting the fake GitLab's /jwt/auth (as localhost)."""
    from tests.support.distribution_registry import DistributionRegistry

    with DistributionRegistry(tmp_path_factory.mktemp("registry"), gitlab, gitlab.ca) as running:
        yield running


@pytest.fixture
def tools(tmp_path, gitlab, home):
    """docker and skopeo, trusting the test CA, with their own DOCKER_CONFIG in this test."""
    from tests.support.distribution_registry import RegistryClients

    return RegistryClients(tmp_path / "clients", gitlab.ca)


@pytest.fixture
def gitlab_host(gitlab, home):
    """``gitlab.example.com:PORT``, with a config that reaches its API (the name resolves only
    inside git, through curloptResolve; the API is reached as localhost) and trusts the test CA
    for that host only, as a user of a self-managed instance would set it up."""
    host = "gitlab.example.com:%d" % gitlab.port
    write_config(home, '[hosts."%s"]\napi_url = "https://localhost:%d/api/v4"\nca_file = "%s"\n'
                 'allow_api_origin = "https://localhost:%d"\n'
                 % (host, gitlab.port, gitlab.ca.ca_file, gitlab.port))
    return host


def write_config(home, text, append=True):
    config = home / ".config" / "credhelper" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    with open(config, "a" if append else "w") as handle:
        handle.write(text)
    return config


def run(*args, input=None, check=True, env=None):
    """Run a command with the test's environment; returns the CompletedProcess (text)."""
    done = subprocess.run(args, input=input, capture_output=True, text=True, timeout=120,
                          env=env)
    if check and done.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (args, done.returncode, done.stdout,
                                                       done.stderr))
    return done


def credhelper(*args, input="", check=True):
    return run("credhelper", *args, input=input, check=check)
