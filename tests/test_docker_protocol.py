"""docker's credential helper protocol, through the real executable: JSON shapes, the exact
not-found text, server URL forms, registry-to-GitLab mapping, store/erase/list, bad input."""

import json
import os

import pytest

from tests.conftest import credhelper, run

DEPLOY = "gldt-dockerprotocoldockerproto"
STORED = "glpat-dockerloginstoreddocker0"


def helper(action, text="", check=False):
    return run("docker-credential-gitlab", action, input=text, check=check)


def get(server_url):
    done = helper("get", server_url)
    return json.loads(done.stdout) if done.returncode == 0 else done


def add_registry_token(registry="localhost:5000", scopes="read_registry", token=DEPLOY,
                       *options):
    credhelper("add", "gitlab.example.com", "--username", "puller", "--scopes", scopes,
               "--registry", registry, *options, input=token)


def test_version():
    done = helper("version", check=True)
    assert done.stdout.startswith("docker-credential-gitlab (credhelper) ")


def test_unknown_registry_is_not_found_exactly_as_docker_expects():
    done = helper("get", "https://index.docker.io/v1/")
    assert (done.returncode, done.stdout) == (1, "credentials not found in native keychain\n")


@pytest.mark.parametrize("server_url", ["localhost:5000", "https://localhost:5000",
                                        "https://localhost:5000/", "https://localhost:5000/v2/",
                                        "  localhost:5000\n", "LOCALHOST:5000"])
def test_server_url_forms(server_url):
    add_registry_token()
    answer = get(server_url)
    assert answer == {"ServerURL": server_url.strip(), "Username": "puller", "Secret": DEPLOY}


@pytest.mark.parametrize("server_url", ["localhost:5001", "localhost", "http://localhost:5000",
                                        "evil.test/localhost:5000", "localhost.evil.test:5000"])
def test_other_registries_get_nothing(server_url):
    add_registry_token()
    done = get(server_url)
    assert done.returncode == 1 and done.stdout == "credentials not found in native keychain\n"
    assert DEPLOY not in done.stdout + done.stderr


@pytest.mark.parametrize("server_url", ["localhost:5000.evil.test", "localhost:99999",
                                        "https://@/", "local host:5000"])
def test_malformed_server_urls_are_an_error_and_get_nothing(server_url):
    add_registry_token()
    done = get(server_url)
    assert done.returncode == 1 and done.stdout.startswith("credhelper: ")
    assert DEPLOY not in done.stdout + done.stderr


def test_gitlab_conventions_map_registries_to_their_instance(home):
    """A conventional name is served once proven (tests/test_registry_conventions.py) or
    mapped; these do not resolve here, so they prove nothing until the config maps them."""
    credhelper("add", "gitlab.example.com", "--username", "puller", "--scopes", "read_registry",
               input=DEPLOY)
    for registry in ("registry.gitlab.example.com", "gitlab.example.com:5050"):
        done = get(registry)
        assert done.returncode == 1 and DEPLOY not in done.stdout + done.stderr
        assert "--registry %s" % registry in done.stderr      # how to map it
        config = home / ".config" / "credhelper" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('[hosts."gitlab.example.com"]\nregistry = "%s"\n' % registry)
        assert get(registry)["Secret"] == DEPLOY
    assert get("registry.example.com").returncode == 1   # not a convention: needs --registry
    credhelper("add", "gitlab.com", "--username", "d", "--scopes", "read_registry",
               input=DEPLOY + "x")
    assert get("registry.gitlab.com")["Secret"] == DEPLOY + "x"


def test_config_maps_a_registry(home):
    config = home / ".config" / "credhelper" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[hosts."gitlab.example.com"]\nregistry = "cr.example.net"\n')
    credhelper("add", "gitlab.example.com", "--username", "puller", "--scopes", "read_registry",
               input=DEPLOY)
    assert get("cr.example.net")["Secret"] == DEPLOY


def test_a_token_without_registry_scopes_is_not_served_to_the_registry():
    add_registry_token(scopes="read_repository")
    assert get("localhost:5000").returncode == 1


def test_ci_registry_variables(monkeypatch):
    monkeypatch.setenv("GITLAB_CI", "true")        # in a real job (ci_env.job_present)
    monkeypatch.setenv("CI_SERVER_URL", "https://gitlab.example.com")
    monkeypatch.setenv("CI_JOB_TOKEN", "glcbt-64_cijobtokencijobtoken")
    monkeypatch.setenv("CI_REGISTRY", "registry.example.com")
    monkeypatch.setenv("CI_REGISTRY_USER", "gitlab-ci-token")
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", "glcbt-64_cijobtokencijobtoken")
    assert get("registry.example.com") == {"ServerURL": "registry.example.com",
                                            "Username": "gitlab-ci-token",
                                            "Secret": "glcbt-64_cijobtokencijobtoken"}
    assert json.loads(helper("list", check=True).stdout) == {
        "registry.example.com": "gitlab-ci-token"}


def login(server_url="registry.example.org", username="me", secret=STORED):
    return helper("store", json.dumps({"ServerURL": server_url, "Username": username,
                                       "Secret": secret}))


def test_store_get_list_erase_round_trip():
    assert login().returncode == 0
    assert get("registry.example.org") == {"ServerURL": "registry.example.org",
                                           "Username": "me", "Secret": STORED}
    add_registry_token()
    assert json.loads(helper("list", check=True).stdout) == {
        "localhost:5000": "puller", "registry.example.org": "me"}
    assert helper("erase", "registry.example.org").returncode == 0
    assert get("registry.example.org").returncode == 1
    again = helper("erase", "registry.example.org")
    assert again.stdout == "credentials not found in native keychain\n"


def test_docker_login_wins_over_the_managed_token_until_logout():
    add_registry_token()
    login("localhost:5000", "someone", STORED)
    assert get("localhost:5000")["Username"] == "someone"
    helper("erase", "https://localhost:5000")
    assert get("localhost:5000")["Secret"] == DEPLOY


def test_erase_never_silently_drops_a_managed_token():
    add_registry_token()
    done = helper("erase", "localhost:5000")
    assert done.returncode == 1
    assert "credhelper manages the token for localhost:5000" in done.stdout
    assert "credhelper remove gitlab.example.com" in done.stdout
    assert get("localhost:5000")["Secret"] == DEPLOY


@pytest.mark.parametrize("payload, message", [
    ("", "not valid JSON"),
    ("{junk", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"Username": "u", "Secret": "s"}', "no credentials server URL"),
    ('{"ServerURL": "r.example", "Secret": "s"}', "no credentials username"),
    ('{"ServerURL": "r.example", "Username": "u"}', "no credentials secret"),
    ('{"ServerURL": "r.example\\nhost=evil", "Username": "u", "Secret": "s"}', "CR, LF or NUL"),
    ('{"ServerURL": "r.example", "Username": "u", "Secret": "s\\u0000x"}', "CR, LF or NUL"),
    ('{"ServerURL": "ftp://r.example", "Username": "u", "Secret": "s"}', "scheme"),
    ("x" * (2 << 20), "larger than"),
])
def test_bad_store_input_is_one_error_on_stdout_and_changes_nothing(payload, message):
    login("keep.example.org", "keeper", STORED)
    before = credhelper("status", "--json").stdout
    done = helper("store", payload)
    assert done.returncode == 1 and message in done.stdout
    assert done.stdout.count("\n") == 1 and "Traceback" not in done.stdout + done.stderr
    assert credhelper("status", "--json").stdout == before
    assert get("keep.example.org")["Secret"] == STORED


@pytest.mark.parametrize("action", ["get", "erase"])
def test_empty_server_url(action):
    done = helper(action, "  \n")
    assert (done.returncode, done.stdout) == (1, "no credentials server URL\n")


def test_usage():
    done = helper("frobnicate")
    assert done.returncode == 1 and done.stdout.startswith("Usage:")


# -- credhelper setup docker ------------------------------------------------------------------

def test_setup_docker_adds_cred_helpers_and_keeps_everything_else(home, monkeypatch):
    docker_dir = home / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_dir))
    docker_dir.mkdir()
    original = {"auths": {"other.example": {"auth": "dXNlcjpwYXNz"}}, "credsStore": "pass",
                "credHelpers": {"gcr.io": "gcloud"}, "psFormat": "table {{.ID}}"}
    (docker_dir / "config.json").write_text(json.dumps(original))
    add_registry_token("localhost:5000", "read_registry", DEPLOY, "--no-setup")
    done = credhelper("setup", "docker")
    assert "credHelpers[localhost:5000] = gitlab" in done.stdout
    written = json.loads((docker_dir / "config.json").read_text())
    assert written == dict(original, credHelpers={"gcr.io": "gcloud", "localhost:5000": "gitlab"})
    assert "already set up" in credhelper("setup", "docker").stdout
    credhelper("setup", "docker", "https://registry.example.net/")
    assert json.loads((docker_dir / "config.json").read_text())["credHelpers"][
        "registry.example.net"] == "gitlab"
    doctor = credhelper("doctor", check=False).stdout
    assert "credHelpers for credhelper: localhost:5000, registry.example.net" in doctor


def test_setup_docker_refuses_a_broken_config_and_leaves_it(home, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(home / "d"))
    (home / "d").mkdir()
    (home / "d" / "config.json").write_text("{broken")
    done = credhelper("setup", "docker", "localhost:5000", check=False)
    assert done.returncode == 1 and "not valid JSON" in done.stderr
    assert (home / "d" / "config.json").read_text() == "{broken"
    assert os.listdir(home / "d") == ["config.json"]
