"""docker push and docker pull through a real engine (Debian's dockerd, tests/support/dockerd.py)
with docker-credential-gitlab configured.

This is the path users take, and the one the client-side tests (login, manifest inspect,
skopeo) do not cover: the docker CLI asks our helper for the registry's credentials and hands
them to the engine (X-Registry-Auth); the engine then does the token dance itself, with the
fake GitLab's /jwt/auth, and pushes to or pulls from the real distribution registry.  Requests
the engine makes carry its own User-Agent (``docker/VERSION ... UpstreamClient(Docker-Client/
...)``), which is how the tests tell them from the CLI's.
"""

import itertools
import os
import uuid
from urllib.parse import parse_qs

import pytest

from tests.conftest import run
from tests.support.distribution_registry import write_ca_bundle
from tests.support.dockerd import DockerEngine

_names = (("engine-%s-%d" % (uuid.uuid4().hex[:6], n)) for n in itertools.count())


@pytest.fixture(scope="session")
def engine(gitlab, tmp_path_factory):
    """One dockerd for the whole session; it trusts the test CA through SSL_CERT_FILE."""
    bundle = write_ca_bundle(gitlab.ca, tmp_path_factory.mktemp("dockerd") / "ca-bundle.pem")
    with DockerEngine(bundle) as running:
        yield running


@pytest.fixture
def setup(gitlab, registry, tools, gitlab_host, monkeypatch):
    """credhelper holds the token for the registry, and docker's config names the helper."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tools.docker_config))
    tools.env["PATH"] = os.environ["PATH"]

    def add(token, *options):
        run("credhelper", "add", gitlab_host, "--registry", registry.host, *options,
            input=token)
        run("credhelper", "setup", "docker", registry.host)
    return add


@pytest.fixture
def docker(tools, engine):
    """The docker CLI with the test's DOCKER_CONFIG, talking to the engine."""
    def call(*args):
        return tools.docker(*args, env={"DOCKER_HOST": engine.host})
    return call


def new_project(gitlab, visibility="private"):
    path = "group/%s" % next(_names)
    gitlab.state.add_project(path, members={"alice": "developer"}, visibility=visibility)
    return path


def engine_jwt_requests(gitlab, secret):
    """/jwt/auth requests that carried *secret* and came from the engine, not the CLI."""
    return [r for r in gitlab.requests.carrying(secret) if r.path == "/jwt/auth"
            and (r.user_agent or "").startswith("docker/")
            and "UpstreamClient(Docker-Client/" in (r.user_agent or "")]


def assert_not_shown(secret, engine, *outputs):
    for done in outputs:
        assert secret not in done.stdout + done.stderr
    assert secret not in engine.log_text()


def test_the_engine_pushes_and_pulls_with_a_write_token(gitlab, registry, engine, setup,
                                                         docker):
    path = new_project(gitlab)
    writer = gitlab.state.create_pat("alice", ["read_registry", "write_registry"])
    setup(writer.token)
    reference = "%s/%s/app:v1" % (registry.host, path)
    image_id = engine.import_image(reference, path.encode())
    pushed = docker("push", reference)
    assert pushed.returncode == 0, pushed.stderr
    assert engine_jwt_requests(gitlab, writer.token)
    engine.remove_image(reference)
    assert engine.image_id(reference) is None
    pulled = docker("pull", reference)
    assert pulled.returncode == 0, pulled.stderr
    assert engine.image_id(reference) == image_id
    assert_not_shown(writer.token, engine, pushed, pulled)


def test_a_read_only_deploy_token_pulls_through_the_engine_and_is_refused_on_push(
        gitlab, registry, engine, setup, docker, gitlab_host):
    path = new_project(gitlab)
    writer = gitlab.state.create_pat("alice", ["read_registry", "write_registry"])
    setup(writer.token)
    reference = "%s/%s/app:v1" % (registry.host, path)
    image_id = engine.import_image(reference, path.encode())
    assert docker("push", reference).returncode == 0
    run("credhelper", "remove", gitlab_host)
    reader = gitlab.state.create_deploy_token(path, ["read_registry"], username="image-puller")
    setup(reader.token, "--username", "image-puller")
    engine.remove_image(reference)
    pulled = docker("pull", reference)
    assert pulled.returncode == 0, pulled.stderr
    assert engine.image_id(reference) == image_id
    used = engine_jwt_requests(gitlab, reader.token)
    assert used and {r.username for r in used} == {"image-puller"}
    second = "%s/%s/app:v2" % (registry.host, path)
    engine.import_image(second, b"v2 of " + path.encode())
    refused = docker("push", second)
    assert refused.returncode != 0 and "denied" in refused.stderr, refused.stderr
    # It was our helper's token the engine asked push access with, and was refused.
    asked = engine_jwt_requests(gitlab, reader.token)[len(used):]
    assert any("push" in parse_qs(r.query).get("scope", [""])[0] for r in asked)
    assert_not_shown(reader.token, engine, pulled, refused)


def test_a_registry_the_helper_does_not_serve_is_pulled_anonymously(
        gitlab, registry, engine, setup, docker, gitlab_host):
    """credHelpers still names credhelper after `credhelper remove`: its exact not-found answer
    makes the CLI send no credentials, and the engine pulls a public image anonymously."""
    path = new_project(gitlab, visibility="public")
    writer = gitlab.state.create_pat("alice", ["read_registry", "write_registry"])
    setup(writer.token)
    reference = "%s/%s/app:pub" % (registry.host, path)
    image_id = engine.import_image(reference, path.encode())
    assert docker("push", reference).returncode == 0
    run("credhelper", "remove", gitlab_host)
    before = len(gitlab.requests.filter(path="/jwt/auth"))
    engine.remove_image(reference)
    pulled = docker("pull", reference)
    assert pulled.returncode == 0, pulled.stderr
    assert engine.image_id(reference) == image_id
    anonymous = gitlab.requests.filter(path="/jwt/auth")[before:]
    assert anonymous and all(r.username is None and not r.secrets for r in anonymous)


def test_an_engine_stopped_leaves_no_process_mount_or_file(gitlab, tmp_path):
    """The fixture's own promise: nothing of a stopped engine stays on the machine (the data
    root is bind-mounted while it runs; containerd runs in a session of its own)."""
    from tests.support.dockerd import MARKER_VARIABLE
    from tests.support.processes import marked_processes

    key_existed = os.path.exists("/etc/docker/key.json")
    engine = DockerEngine(write_ca_bundle(gitlab.ca, tmp_path / "ca-bundle.pem")).start()
    directory = str(engine.directory)
    assert engine.ping() and len(marked_processes(MARKER_VARIABLE, directory)) >= 2
    engine.stop()
    assert marked_processes(MARKER_VARIABLE, directory) == []
    with open("/proc/self/mountinfo") as mounts:
        assert directory not in mounts.read()
    assert not os.path.exists(directory)
    assert os.path.exists("/etc/docker/key.json") == key_existed


def test_two_accounts_registries_each_push_with_their_own_accounts_token(
        gitlab, registry, engine, tools, gitlab_host, docker, monkeypatch):
    """Issue 12: `--registry` binds a registry to the token it was added with, not to its
    host's other tokens.  Two accounts on one GitLab host, each with its own registry name
    (the one registry, as localhost:PORT and as 127.0.0.1:PORT), each pushing to a project only
    its account may write: the engine asks /jwt/auth with that account's token only."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tools.docker_config))
    tools.env["PATH"] = os.environ["PATH"]
    accounts = {}
    for name in (registry.host, "127.0.0.1:%d" % registry.port):
        user = gitlab.state.add_user(next(_names)).username
        path = "%s/app" % user
        gitlab.state.add_project(path, members={user: "developer"})
        token = gitlab.state.create_pat(user, ["read_api", "read_registry", "write_registry"])
        run("credhelper", "add", gitlab_host, "--registry", name, input=token.token)
        accounts[name] = (path, token.token)
    run("credhelper", "setup", "docker")
    for name, (path, token) in accounts.items():
        before = len(gitlab.requests)
        reference = "%s/%s/app:v1" % (name, path)
        engine.import_image(reference, reference.encode())
        pushed = docker("push", reference)
        assert pushed.returncode == 0, pushed.stderr
        assert engine_jwt_requests(gitlab, token)
        asked = [r for r in list(gitlab.requests)[before:] if r.path == "/jwt/auth" and r.secrets]
        assert asked and all(r.carries(token) for r in asked), name
        assert_not_shown(token, engine, pushed)
