"""docker-credential-gitlab with the real docker CLI, skopeo and distribution registry: the
registry sends clients to the fake GitLab's /jwt/auth, the clients ask our helper."""

import itertools
import json
import os
import uuid

import pytest

from credhelper.local.audit import read_events
from tests.conftest import run
from tests.support.oci_image import build_oci_image, read_layout

_names = (("dock-%s-%d" % (uuid.uuid4().hex[:6], n)) for n in itertools.count())


@pytest.fixture
def setup(gitlab, registry, tools, gitlab_host, monkeypatch):
    """Point docker (and skopeo, through the same file) at credhelper for the registry."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tools.docker_config))
    tools.env["PATH"] = os.environ["PATH"]

    def add(token, *options):
        run("credhelper", "add", gitlab_host, "--registry", registry.host, *options,
            input=token)
        run("credhelper", "setup", "docker", registry.host)
    return add


def project(gitlab, members=None, visibility="private"):
    path = "group/%s" % next(_names)
    gitlab.state.add_project(path, members=members or {"alice": "developer"},
                             visibility=visibility)
    return path


def push(tools, registry, path, tmp_path, tag="v1"):
    image = build_oci_image(tmp_path / ("image-" + tag), tag=tag, seed=path)
    done = tools.skopeo("copy", "--authfile", str(tools.docker_config / "config.json"),
                        image.reference, "docker://%s/%s/app:%s" % (registry.host, path, tag))
    return image, done


def jwt_requests(gitlab, secret):
    return [r for r in gitlab.requests.carrying(secret) if r.path == "/jwt/auth"]


def test_skopeo_pushes_with_a_write_token_and_pulls_with_a_read_deploy_token(
        gitlab, registry, tools, setup, tmp_path, gitlab_host):
    path = project(gitlab)
    writer = gitlab.state.create_pat("alice", ["read_registry", "write_registry"])
    setup(writer.token)
    image, done = push(tools, registry, path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert jwt_requests(gitlab, writer.token)
    run("credhelper", "remove", gitlab_host)
    reader = gitlab.state.create_deploy_token(path, ["read_registry"], username="image-puller")
    setup(reader.token, "--username", "image-puller")
    back = tmp_path / "back"
    done = tools.skopeo("copy", "--authfile", str(tools.docker_config / "config.json"),
                        "docker://%s/%s/app:v1" % (registry.host, path), "oci:%s:v1" % back)
    assert done.returncode == 0, done.stderr
    assert read_layout(back, "v1")["manifest_digest"] == image.manifest_digest
    used = jwt_requests(gitlab, reader.token)
    assert used and {r.username for r in used} == {"image-puller"}
    assert reader.token not in done.stdout + done.stderr


def test_a_read_only_token_cannot_push(gitlab, registry, tools, setup, tmp_path):
    path = project(gitlab)
    reader = gitlab.state.create_deploy_token(path, ["read_registry"], username="ro")
    setup(reader.token, "--username", "ro")
    _, done = push(tools, registry, path, tmp_path)
    assert done.returncode != 0 and "denied" in done.stderr
    assert jwt_requests(gitlab, reader.token)      # it was our helper's token that was refused


def test_docker_manifest_inspect_reads_through_get(gitlab, registry, tools, setup, tmp_path):
    path = project(gitlab)
    token = gitlab.state.create_pat("alice", ["api"])
    setup(token.token)
    image, done = push(tools, registry, path, tmp_path)
    assert done.returncode == 0, done.stderr
    config = json.loads((tools.docker_config / "config.json").read_text())
    assert config == {"credHelpers": {registry.host: "gitlab"}}   # no secret in docker's file
    shown = tools.docker("manifest", "inspect", "--verbose",
                         "%s/%s/app:v1" % (registry.host, path))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["Descriptor"]["digest"] == image.manifest_digest
    assert any(r.user_agent.startswith("Docker-Client/")
               for r in jwt_requests(gitlab, token.token))


def test_docker_login_stores_and_logout_erases(gitlab, registry, tools, setup, tmp_path):
    path = project(gitlab, {"bob": "developer"})
    managed = gitlab.state.create_pat("alice", ["read_registry"])
    setup(managed.token)
    own = gitlab.state.create_pat("bob", ["read_registry", "write_registry"])
    login = tools.docker("login", "--username", "bob", "--password-stdin", registry.host,
                         input=own.token)
    assert login.returncode == 0, login.stderr
    rows = json.loads(run("credhelper", "status", "--json").stdout)
    assert [(r["origin"], r["username"], r["host"]) for r in rows if r["origin"] == "docker"] \
        == [("docker", "bob", registry.host)]
    assert own.token not in (tools.docker_config / "config.json").read_text()
    _, pushed = push(tools, registry, path, tmp_path)        # bob's login is what is used now
    assert pushed.returncode == 0, pushed.stderr
    logout = tools.docker("logout", registry.host)
    assert logout.returncode == 0, logout.stderr
    assert [r for r in json.loads(run("credhelper", "status", "--json").stdout)
            if r["origin"] == "docker"] == []
    # The managed token is not logged out of: the helper refuses with the command to run
    # (docker 28 hides a helper's erase error, so it is also written to the terminal and to
    # the audit log).
    refused = [e for e in read_events() if e["event"] == "logout-refused"]
    again = tools.docker("logout", registry.host)
    assert again.returncode == 0
    now_refused = [e for e in read_events() if e["event"] == "logout-refused"]
    assert len(now_refused) > len(refused)
    assert {e["registry"] for e in now_refused} == {registry.host}
    assert any(r["origin"] == "added" for r in json.loads(
        run("credhelper", "status", "--json").stdout))
    assert run("docker-credential-gitlab", "get", input=registry.host).returncode == 0


def test_an_unknown_registry_falls_back_to_anonymous(gitlab, registry, tools, monkeypatch,
                                                     tmp_path):
    """credHelpers names credhelper, but it serves nothing there: docker goes on without
    credentials, as it would with no helper, and a public image still reads."""
    path = project(gitlab, visibility="public")
    writer = gitlab.state.create_pat("alice", ["api"])
    authfile = tools.write_authfile({registry.host: ("alice", writer.token)})
    image = build_oci_image(tmp_path / "image", tag="pub", seed=path)
    assert tools.skopeo("copy", "--authfile", authfile, image.reference,
                        "docker://%s/%s/app:pub" % (registry.host, path)).returncode == 0
    tools.write_docker_config(cred_helpers={registry.host: "gitlab"})
    tools.env["PATH"] = os.environ["PATH"]
    helper = run("docker-credential-gitlab", "get", input=registry.host, check=False)
    assert helper.stdout == "credentials not found in native keychain\n"
    shown = tools.docker("manifest", "inspect", "%s/%s/app:pub" % (registry.host, path))
    assert shown.returncode == 0, shown.stderr


def test_a_registry_token_due_for_rotation_rotates_and_the_pull_succeeds(
        gitlab, registry, tools, setup, tmp_path):
    import datetime

    path = project(gitlab)
    pusher = gitlab.state.create_pat("alice", ["api"])
    authfile = tools.write_authfile({registry.host: ("alice", pusher.token)})
    image = build_oci_image(tmp_path / "image", tag="r1", seed=path)
    assert tools.skopeo("copy", "--authfile", authfile, image.reference,
                        "docker://%s/%s/app:r1" % (registry.host, path)).returncode == 0
    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    old = gitlab.state.create_pat("alice", ["api"], expires_at=tomorrow)
    setup(old.token)
    shown = tools.docker("manifest", "inspect", "%s/%s/app:r1" % (registry.host, path))
    assert shown.returncode == 0, shown.stderr
    (new,) = gitlab.state.descendants(old)
    assert gitlab.state.is_active(new) and not gitlab.state.is_active(
        gitlab.state.find_token(old.token))
    assert jwt_requests(gitlab, new.token) and not jwt_requests(gitlab, old.token)
