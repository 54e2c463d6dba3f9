"""The keyring backend: answers for GitLab package URLs of known hosts, steps aside for every
other service so the user's own keyring keeps working, and never recurses into itself."""

import pytest

from tests.conftest import credhelper, run

HOST = "gitlab.example.com"
TOKEN = "gldt-keyringbackendkeyringback"
URL = "https://%s/api/v4/projects/42/packages/pypi/simple/" % HOST


@pytest.fixture
def with_secret_service(secret_service, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])


def keyring_cli(*args, input=None, check=True):
    return run("keyring", *args, input=input, check=check)


def add_token(store="file"):
    credhelper("add", HOST, "--username", "pkg", "--scopes", "read_package_registry",
               "--store", store, input=TOKEN)


def test_keyring_lists_our_backend_in_its_chain(with_secret_service):
    listing = keyring_cli("--list-backends").stdout
    assert "credhelper.protocols.keyring_backend.GitLabPackagesKeyring (priority: 9.5)" in listing
    assert "keyring.backends.SecretService.Keyring" in listing


@pytest.mark.parametrize("store", ["file", "keyring"])
def test_answers_package_urls_of_known_hosts(with_secret_service, store):
    add_token(store)
    assert keyring_cli("get", URL, "__token__").stdout == TOKEN + "\n"
    group = "https://%s/api/v4/groups/acme%%2Ftools/-/packages/pypi/simple" % HOST
    assert keyring_cli("get", group, "anyone").stdout == TOKEN + "\n"
    for other in ("https://%s/group/project.git" % HOST, HOST, "https://pypi.org/simple/",
                  "https://%s.evil.test/api/v4/projects/42/packages/pypi/simple/" % HOST,
                  "http://%s/api/v4/projects/42/packages/pypi/simple/" % HOST):
        done = keyring_cli("get", other, "__token__", check=False)
        assert done.returncode == 1 and TOKEN not in done.stdout


def test_the_users_own_keyring_entries_are_untouched(with_secret_service):
    """Entries of other services go to (and come from) the real Secret Service."""
    keyring_cli("set", "my-app", "me", input="my-own-password\n")
    add_token("keyring")
    assert keyring_cli("get", "my-app", "me").stdout == "my-own-password\n"
    found = run("secret-tool", "lookup", "service", "my-app", "username", "me").stdout
    assert found == "my-own-password"
    keyring_cli("del", "my-app", "me")
    assert keyring_cli("get", "my-app", "me", check=False).returncode == 1


def test_tokens_in_the_keyring_are_read_without_recursion(with_secret_service):
    """Our token lives in the Secret Service; reading it must not loop through our backend."""
    import json
    import os

    add_token("keyring")
    tokens = json.load(open(os.path.join(os.environ["XDG_DATA_HOME"], "credhelper",
                                         "tokens.json")))["tokens"]
    assert [t["backend"] for t in tokens] == [
        "keyring.backends.SecretService.Keyring"]
    assert keyring_cli("get", URL, "__token__").stdout == TOKEN + "\n"


PLANTED = '''open(%r, "w").close()     # proof of import
class Keyring:
    priority = 10
    def get_password(self, service, username):
        return "planted-secret"
'''


@pytest.mark.parametrize("backend", ["planted_backend.Keyring", "os.system",
                                     "keyring.backends.chainer.ChainerBackend",
                                     "credhelper.protocols.keyring_backend.GitLabPackagesKeyring"])
def test_a_backend_named_in_tokens_json_is_never_imported_by_that_name(tmp_path, backend):
    """tokens.json names the keyring backend of a token; a name keyring itself does not offer
    (a module planted on sys.path, a function, the chainer, ourselves) is refused with one line
    and not imported, by git's helper and by the keyring backend in pip's process."""
    import json
    import os

    plant = tmp_path / "plant"
    plant.mkdir()
    marker = tmp_path / "imported"
    (plant / "planted_backend.py").write_text(PLANTED % str(marker))
    pat = "glpat-plantedbackendplantedback"
    credhelper("add", HOST, "--scopes", "api", "--no-check", "--store", "file", input=pat)
    path = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")
    data = json.load(open(path))
    data["tokens"][0].update(store="keyring", backend=backend)
    with open(path, "w") as handle:
        json.dump(data, handle)
    env = dict(os.environ, PYTHONPATH=str(plant))
    git = run("git-credential-gitlab", "get", input="protocol=https\nhost=%s\n\n" % HOST,
              check=False, env=env)
    pip = run("keyring", "get", URL, "__token__", check=False, env=env)
    for done in (git, pip):
        assert "is not one keyring offers here" in done.stderr
        assert "Traceback" not in done.stderr and "planted-secret" not in done.stdout
        assert "password=" not in done.stdout and pat not in done.stdout
    assert not marker.exists()
