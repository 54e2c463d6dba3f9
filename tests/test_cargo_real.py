"""The real cargo against a private sparse registry, with ``cargo-credential-gitlab`` as its
only credential provider.

GitLab has no Cargo registry, so the registry is tests/support/cargo_registry.py: HTTPS on
localhost, ``"auth-required": true``, 401 without the right ``Authorization``.  credhelper
knows the registry's host the way a user would set it up (a token added for it, or a
``[hosts]`` table whose API is the fake GitLab, so that credhelper's own first-use check of an
added token goes there and nowhere else).  Cargo has its own CARGO_HOME per test, trusts the
test CA through CARGO_HTTP_CAINFO, and cannot reach crates.io even by mistake: crates.io is
replaced by an empty local directory source.
"""

import json
import os
import shutil
import subprocess
import tomllib
from hashlib import sha256

import pytest

from tests.conftest import VENV_BIN, credhelper, write_config
from tests.support import readme
from tests.support.cargo_registry import CargoRegistry

# Looked up at import, while HOME is still the real one (rustup's proxy lives in ~/.cargo/bin).
CARGO = shutil.which("cargo") or os.path.expanduser("~/.cargo/bin/cargo")

# Cargo's words when no provider had a token (cargo 1.95).  With README's providers the last
# one asked is cargo:token, so cargo says this whether credhelper answered url-not-supported
# (not its index) or not-found (its index, no token).
NO_TOKEN = ("no token found for `gitlab`, please run `cargo login --registry gitlab`\n"
            "  or use environment variable CARGO_REGISTRIES_GITLAB_TOKEN")

_PROXIES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
            "ALL_PROXY")


# README's example index URL, replaced by the test registry's in README's blocks
README_INDEX = "sparse+https://gitlab.example.com/api/v4/projects/ID/packages/cargo/"


def readme_cargo_config(index_url):
    """README's ``~/.cargo/config.toml``, for a registry at *index_url*."""
    return readme.block("# ~/.cargo/config.toml", {README_INDEX: index_url})


class Cargo:
    """cargo in a project that depends on ``small = "0.1"`` from the registry ``gitlab``,
    configured with README's ``~/.cargo/config.toml`` (crates.io replaced by nothing)."""

    def __init__(self, root, registry):
        self.home = root / "cargo-home"
        self.project = root / "app"
        self.registry = registry
        nowhere = root / "no-crates-io"
        for directory in (self.home, self.project / "src", nowhere):
            directory.mkdir(parents=True)
        (self.home / "config.toml").write_text(
            readme_cargo_config(registry.index_url) +
            '\n[source.crates-io]\nreplace-with = "no-crates-io"\n\n'
            '[source.no-crates-io]\ndirectory = "%s"\n' % nowhere)
        (self.project / "Cargo.toml").write_text(
            '[package]\nname = "app"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
            '[dependencies]\nsmall = { version = "0.1", registry = "gitlab" }\n')
        (self.project / "src" / "lib.rs").write_text("")

    def __call__(self, *args, input=""):
        return subprocess.run((CARGO,) + args, input=input, capture_output=True, text=True,
                              cwd=self.project, timeout=120)

    def lock(self):
        """Cargo.lock's registry packages: name -> (version, source, checksum)."""
        packages = tomllib.loads((self.project / "Cargo.lock").read_text())["package"]
        return {p["name"]: (p["version"], p.get("source"), p.get("checksum"))
                for p in packages if p["name"] != "app"}

    def files_holding(self, secret):
        """Files under CARGO_HOME that contain *secret* (cargo's own credentials, caches...)."""
        found = []
        for directory, _, names in os.walk(self.home):
            for name in names:
                path = os.path.join(directory, name)
                with open(path, "rb") as handle:
                    if secret.encode() in handle.read():
                        found.append(path)
        return found


@pytest.fixture
def cargo_registry(gitlab, tmp_path):
    with CargoRegistry(tmp_path / "cargo-registry", ca=gitlab.ca) as registry:
        yield registry


@pytest.fixture
def cargo(tmp_path, monkeypatch, home, cargo_registry):
    assert os.access(CARGO, os.X_OK), "these tests need cargo (rustup's proxy) on PATH"
    for name in list(os.environ):
        if name.startswith(("CARGO_", "RUSTUP_TOOLCHAIN")) or name in _PROXIES:
            monkeypatch.delenv(name)
    # the provider is found on PATH, first in the venv as after install.sh
    monkeypatch.setenv("PATH", os.pathsep.join((VENV_BIN, os.path.dirname(CARGO),
                                                os.environ["PATH"])))
    tool = Cargo(tmp_path / "cargo", cargo_registry)
    monkeypatch.setenv("CARGO_HOME", str(tool.home))
    monkeypatch.setenv("CARGO_HTTP_CAINFO", cargo_registry.ca_file)
    monkeypatch.setenv("CARGO_NET_RETRY", "0")          # a failure is final at once
    monkeypatch.setenv("CARGO_TERM_COLOR", "never")
    monkeypatch.setenv("CARGO_TERM_PROGRESS_WHEN", "never")
    return tool


def know_host(home, gitlab, registry, listed=None):
    """credhelper's table for the registry's host as README writes it, its index being one
    cargo may get a token for (or only ``listed``); its API is the fake GitLab's."""
    table = readme.block("# ~/.config/credhelper/config.toml", {
        README_INDEX: listed or registry.index_url, "gitlab.example.com": registry.host})
    write_config(home, table + 'api_url = "https://localhost:%d/api/v4"\nca_file = "%s"\n'
                 'allow_api_origin = "https://localhost:%d"\n'
                 % (gitlab.port, gitlab.ca.ca_file, gitlab.port))


def fetched_with(registry, token):
    """What the registry saw of a first fetch: config.json without a token (401, which tells
    cargo the registry is private), then everything with it."""
    first, *rest = registry.requests
    assert (first.path, first.authorization, first.status) == ("/index/config.json", None, 401)
    assert {(s.path, s.authorization, s.status) for s in rest} == {
        (path, token, 200) for path in ("/index/config.json", "/index/sm/al/small",
                                        "/index/3/x/xyz", "/dl/small/0.1.1/download",
                                        "/dl/xyz/1.0.0/download")}


def test_cargo_fetch_gets_the_token_from_credhelper(home, gitlab, cargo_registry, cargo):
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    cargo_registry.token = token
    know_host(home, gitlab, cargo_registry)
    credhelper("add", cargo_registry.host, "--kind", "pat", "--no-check", input=token + "\n")

    done = cargo("fetch")
    assert done.returncode == 0, done.stderr
    source = cargo_registry.index_url
    assert cargo.lock() == {
        "small": ("0.1.1", source, sha256(cargo_registry.crate_file("small", "0.1.1")).hexdigest()),
        "xyz": ("1.0.0", source, sha256(cargo_registry.crate_file("xyz", "1.0.0")).hexdigest())}
    fetched_with(cargo_registry, token)
    unpacked = list((cargo.home / "registry" / "src").glob("*/small-0.1.1/src/lib.rs"))
    assert len(unpacked) == 1 and '"0.1.1"' in unpacked[0].read_text()
    # credhelper checked the --no-check token on first use, with GitLab and nowhere else
    assert gitlab.requests.carrying(token)
    assert cargo_registry.errors == []
    assert token not in done.stdout + done.stderr
    assert cargo.files_holding(token) == []


def test_an_index_the_user_did_not_list_gets_no_token(home, gitlab, cargo_registry, cargo):
    """Any project on a GitLab host can serve an index whose config.json names a foreign
    download URL, so a known host alone gets cargo nothing: only the listed indexes do."""
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    cargo_registry.token = token
    know_host(home, gitlab, cargo_registry, listed=cargo_registry.base_url + "/other/index/")
    credhelper("add", cargo_registry.host, "--kind", "pat", "--no-check", input=token + "\n")

    done = cargo("generate-lockfile")
    assert done.returncode != 0 and NO_TOKEN in done.stderr, done.stderr
    assert [(s.path, s.authorization) for s in cargo_registry.requests] == [
        ("/index/config.json", None)]
    assert token not in done.stdout + done.stderr


@pytest.mark.parametrize("known", [False, True], ids=["unknown-host", "known-host-no-token"])
def test_cargo_gets_no_token_unless_credhelper_has_one_for_the_host(
        home, gitlab, cargo_registry, cargo, known):
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    cargo_registry.token = token
    credhelper("add", "gitlab.example.com", "--kind", "pat", "--no-check", input=token + "\n")
    if known:
        know_host(home, gitlab, cargo_registry)

    done = cargo("generate-lockfile")
    assert done.returncode != 0
    # unknown: our provider said url-not-supported; known but no token for it: not-found;
    # either way cargo:token had nothing either
    assert NO_TOKEN in done.stderr, done.stderr
    assert not (cargo.project / "Cargo.lock").exists()
    assert [(s.path, s.authorization, s.status) for s in cargo_registry.requests] == [
        ("/index/config.json", None, 401)]
    assert token not in done.stdout + done.stderr
    assert not gitlab.requests.carrying(token)       # another host's token was not even looked at


def test_cargo_login_and_logout_go_through_the_provider(home, gitlab, cargo_registry, cargo):
    know_host(home, gitlab, cargo_registry)
    token = "glpat-cargologin%s" % os.urandom(6).hex()
    cargo_registry.token = token

    done = cargo("login", "--registry", "gitlab", input=token + "\n")
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr
    status = credhelper("status", "--json").stdout
    assert token not in status
    assert [(r["host"], r["origin"], r["kind"]) for r in json.loads(status)] == [
        (cargo_registry.host, "cargo", "pat")]
    # login asked for config.json without a token, to learn the login URL
    assert [(s.path, s.authorization, s.status) for s in cargo_registry.requests] == [
        ("/index/config.json", None, 401)]

    cargo_registry.requests.clear()
    done = cargo("fetch")                             # cargo now gets what it stored
    assert done.returncode == 0, done.stderr
    fetched_with(cargo_registry, token)

    done = cargo("logout", "--registry", "gitlab")
    assert done.returncode == 0, done.stderr
    assert json.loads(credhelper("status", "--json").stdout) == []
    cargo_registry.requests.clear()
    done = cargo("generate-lockfile")
    # cargo remembers from config.json that the registry wants a token and asks first
    assert done.returncode != 0, done.stderr
    assert NO_TOKEN in done.stderr, done.stderr
    assert cargo_registry.requests == []
    assert token not in done.stdout + done.stderr
    assert cargo.files_holding(token) == []           # cargo never wrote it (credentials.toml)
    assert cargo_registry.errors == []


def test_a_registry_credhelper_does_not_serve_still_gets_cargo_s_own_token(
        home, gitlab, cargo_registry, cargo, monkeypatch):
    """README keeps cargo:token in the providers: for an index credhelper says
    url-not-supported to, cargo's own token (here CARGO_REGISTRIES_GITLAB_TOKEN) still works."""
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    cargo_registry.token = token
    monkeypatch.setenv("CARGO_REGISTRIES_GITLAB_TOKEN", token)

    done = cargo("fetch")
    assert done.returncode == 0, done.stderr
    fetched_with(cargo_registry, token)
    assert json.loads(credhelper("status", "--json").stdout) == []


def test_credhelper_s_token_wins_over_a_stale_one_in_credentials_toml(
        home, gitlab, cargo_registry, cargo):
    """cargo asks providers from the end of the list: README puts credhelper last, so its
    current token is used even when cargo:token still has an old one for the registry."""
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    cargo_registry.token = token
    know_host(home, gitlab, cargo_registry)
    credhelper("add", cargo_registry.host, "--kind", "pat", "--no-check", input=token + "\n")
    (cargo.home / "credentials.toml").write_text(
        '[registries.gitlab]\ntoken = "glpat-revokedlongago0000"\n')

    done = cargo("fetch")
    assert done.returncode == 0, done.stderr
    fetched_with(cargo_registry, token)
