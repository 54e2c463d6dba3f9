"""The fake GitLab's package registries (PyPI, npm, Go proxy, generic, Terraform modules) over
real HTTPS, with requests and with the real pip and npm clients.

Every status, header and body asserted here is the one GitLab sends (see
tests/fake_gitlab/packages.py for where each comes from), so a credential helper
tested against the fake behaves the same against GitLab.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from types import SimpleNamespace

import pytest
import requests

from credhelper.selftest.tls import TestCA
from tests.fake_gitlab import FakeGitLab
from tests.support.packages import (
    build_npm_tarball,
    build_sdist,
    build_wheel,
    publish_go_module,
    publish_npm,
    publish_sdist,
    publish_terraform_module,
    publish_wheel,
    twine_form,
)

REALM = 'Basic realm="GitLab Packages Registry"'
UNAUTHORIZED = {"message": "401 Unauthorized"}
FORBIDDEN = {"message": "403 Forbidden"}
NOT_FOUND = {"message": "404 Not Found"}
PROJECT_NOT_FOUND = {"message": "404 Project Not Found"}
BLOCKED = {"message": "403 Forbidden - Your account has been blocked."}
INSUFFICIENT_SCOPE = {"error": "insufficient_scope",
                      "error_description": "The request requires higher privileges than provided by the access token.",
                      "scope": "api read_api"}
EXPIRED = "Token is expired. You can either do re-authorization or token refresh."
REVOKED = "Token was revoked. You have to re-authorize from the user."
GO_MODULE = "gitlab.example.com/pkgs/private"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake-gitlab-packages")
    ca = TestCA(base / "tls", names=["gitlab.example.com"])
    with FakeGitLab(base / "server", ca) as server:
        yield server


@pytest.fixture(scope="module")
def world(gitlab):
    """Users, projects and packages shared by the tests (read-only for them)."""
    st = gitlab.state
    private = st.add_project("pkgs/private", members={
        "dev": "developer", "reporter": "reporter", "guest": "guest", "blockee": "reporter"})
    public = st.add_project("pkgs/public", visibility="public", members={"dev": "developer"})
    other = st.add_project("other/app", members={"dev": "developer"})
    st.add_group("pkgs", members={"groupreporter": "reporter"})
    st.add_user("outsider")
    st.block_user("blockee")

    wheel, wheel_file = publish_wheel(st, private, "Demo.Pkg", "1.0.0", requires_python=">=3.8")
    sdist, _ = publish_sdist(st, private, "Demo.Pkg", "1.0.0", requires_python=">=3.8")
    public_wheel, _ = publish_wheel(st, public, "public-pkg", "0.1.0")
    npm_old, _ = publish_npm(st, private, "@pkgs/demo", "1.0.0", tags=("beta",))
    npm_new, _ = publish_npm(st, private, "@pkgs/demo", "1.1.0")
    plain_npm, _ = publish_npm(st, private, "plain", "2.0.0")
    publish_go_module(st, private, GO_MODULE, "v1.0.0")
    publish_go_module(st, private, GO_MODULE, "v1.10.0")
    publish_go_module(st, private, GO_MODULE, "v1.2.0")
    infra = st.add_project("infra/modules", members={"reporter": "reporter", "guest": "guest"})
    tf_old, _ = publish_terraform_module(st, infra, "vpc", "aws", "1.0.0")
    tf_new, _ = publish_terraform_module(st, infra, "vpc", "aws", "1.2.0", main_tf='output "v" {\n  value = 2\n}\n')
    generic = st.add_package_file(private, "generic", "tool", "1.0.0", "tool.bin", b"\x00binary tool\xff")
    return SimpleNamespace(private=private, public=public, other=other, infra=infra, wheel=wheel, wheel_file=wheel_file,
                           sdist=sdist, public_wheel=public_wheel, npm_old=npm_old, npm_new=npm_new,
                           plain_npm=plain_npm, tf_old=tf_old, tf_new=tf_new, generic=generic)


@pytest.fixture
def registry(gitlab):
    """The server's package registry; its settings are put back after each test."""
    yield gitlab.packages
    gitlab.packages.reset()


class Client:
    """requests against https://localhost:PORT, verifying the test CA only."""

    def __init__(self, gitlab):
        self.base = f"https://localhost:{gitlab.port}"
        self.session = requests.Session()
        self.session.trust_env = False  # no REQUESTS_CA_BUNDLE, proxies or netrc from outside
        self.session.verify = gitlab.ca.ca_file

    def __call__(self, method, path, *, headers=None, **kwargs):
        return self.session.request(method, self.base + path, headers=headers or {}, timeout=10,
                                    allow_redirects=False, **kwargs)

    def get(self, path, **kwargs):
        return self("GET", path, **kwargs)


@pytest.fixture(scope="module")
def client(gitlab):
    return Client(gitlab)


def basic(username, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def pat(gitlab, user, scopes=("api",), **kwargs):
    return gitlab.state.create_pat(user, list(scopes), **kwargs).token


def assert_json(response, status, body, *, realm=False):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == body
    if realm:
        assert response.headers["WWW-Authenticate"] == REALM
    else:
        assert "WWW-Authenticate" not in response.headers


def assert_invalid_token(response, description):
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": description}
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="{description}"')


def html_page(title, links):
    return ("<!DOCTYPE html>\n        <html>\n          <head>\n"
            f"            <title>Links for {title}</title>\n          </head>\n          <body>\n"
            f"            <h1>Links for {title}</h1>\n            {''.join(links)}\n"
            "          </body>\n        </html>\n")


_names = itertools.count(1)


def unique(prefix):
    return f"{prefix}{next(_names)}"


# --- PyPI: routes and bodies -------------------------------------------------------------------


def pypi(project, rest=""):
    return f"/api/v4/projects/{project.id}/packages/pypi{rest}"


def test_pypi_simple_index_is_gitlabs_html(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    response = client.get(pypi(world.private, "/simple/"), headers=basic("anyone", token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    base = f"{client.base}/api/v4/projects/{world.private.id}/packages/pypi"
    link = f'<a href="{base}/simple/demo-pkg" data-requires-python="&gt;=3.8">Demo.Pkg</a>'
    # One link per package version, named as uploaded, pointing at the normalized name.
    assert response.text == html_page("private", [link])
    assert client.get(pypi(world.private, "/simple"), headers=basic("x", token)).text == response.text


def test_pypi_package_page_links_every_file_with_its_sha256(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    base = f"{client.base}/api/v4/projects/{world.private.id}/packages/pypi/files"
    links = [f'<a href="{base}/{d.sha256}/{d.filename}#sha256={d.sha256}" data-requires-python="&gt;=3.8">'
             f'{d.filename}</a>' for d in (world.wheel, world.sdist)]
    for name in ("demo-pkg/", "demo-pkg", "Demo-Pkg/"):
        response = client.get(pypi(world.private, f"/simple/{name}"), headers=basic("x", token))
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.text == html_page("Demo.Pkg", links)


def test_pypi_file_download(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    wheel = world.wheel
    response = client.get(pypi(world.private, f"/files/{wheel.sha256}/{wheel.filename}"), headers=basic("x", token))
    assert response.status_code == 200
    assert response.content == wheel.data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=\"{wheel.filename}\"; filename*=UTF-8''{wheel.filename}")
    assert response.headers["Content-Transfer-Encoding"] == "binary"
    wrong = client.get(pypi(world.private, f"/files/{'0' * 64}/{wheel.filename}"), headers=basic("x", token))
    assert_json(wrong, 404, {"message": "404 Package Not Found"})


def test_pypi_project_by_url_encoded_path(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    response = client.get("/api/v4/projects/pkgs%2Fprivate/packages/pypi/simple/demo-pkg/",
                          headers=basic("x", token))
    assert response.status_code == 200
    # Links always use the numeric id.
    assert f"/api/v4/projects/{world.private.id}/packages/pypi/files/" in response.text
    # A literal slash in :id matches no route; a path without a slash is no project.
    assert_json(client.get("/api/v4/projects/pkgs/private/packages/pypi/simple/", headers=basic("x", token)),
                404, NOT_FOUND)
    assert_json(client.get("/api/v4/projects/private/packages/pypi/simple/", headers=basic("x", token)),
                404, NOT_FOUND)


def test_pypi_unknown_project_is_404_before_authentication(client):
    assert_json(client.get("/api/v4/projects/9999/packages/pypi/simple/"), 404, NOT_FOUND)
    assert_json(client.get("/api/v4/projects/9999/packages/pypi/simple/", headers=basic("x", "bogus")),
                404, NOT_FOUND)


def test_pypi_unknown_package_is_forwarded_to_pypi_org(gitlab, world, client, registry):
    token = pat(gitlab, "reporter", ["read_api"])
    response = client.get(pypi(world.private, "/simple/no-such-thing/"), headers=basic("x", token))
    assert response.status_code == 302
    assert response.headers["Location"] == "https://pypi.org/simple/no-such-thing/"
    registry.pypi_package_requests_forwarding = False
    response = client.get(pypi(world.private, "/simple/no-such-thing/"), headers=basic("x", token))
    assert_json(response, 404, {"message": "404 Package Not Found"})


# --- PyPI: who may read -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {},
    basic("__token__", "glpat-not-a-token"),  # unknown Basic password: anonymous, then 401
    {"PRIVATE-TOKEN": "glpat-not-a-token"},  # unknown PAT in a PAT position: 401 at once
    bearer("glpat-not-a-token"),
    {"Deploy-Token": "gldt-not-a-token"},
    {"Job-Token": "glcbt-not-a-token"},  # PyPI takes job tokens only through Basic
], ids=["none", "basic", "private-token", "bearer", "deploy-token", "job-token"])
def test_pypi_private_project_without_valid_credentials_is_401_with_the_packages_realm(world, client, headers):
    assert_json(client.get(pypi(world.private, "/simple/"), headers=headers), 401, UNAUTHORIZED, realm=True)


def test_pypi_personal_access_token_in_every_position(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    for headers, params in [(basic("whatever-user", token), {}), ({"PRIVATE-TOKEN": token}, {}),
                            (bearer(token), {}), ({}, {"private_token": token})]:
        response = client.get(pypi(world.private, "/simple/demo-pkg/"), headers=headers, params=params)
        assert response.status_code == 200, (headers, params)


def test_pypi_scopes(gitlab, world, client):
    for scopes in (["api"], ["read_api"], ["read_api", "read_repository"]):
        response = client.get(pypi(world.private, "/simple/"), headers=basic("x", pat(gitlab, "reporter", scopes)))
        assert response.status_code == 200, scopes
    for scopes in (["read_repository"], ["read_registry"], ["read_user"]):
        response = client.get(pypi(world.private, "/simple/"), headers=basic("x", pat(gitlab, "reporter", scopes)))
        assert_json(response, 403, INSUFFICIENT_SCOPE)


def test_pypi_expired_and_revoked_tokens(gitlab, world, client):
    st = gitlab.state
    expired = pat(gitlab, "reporter", ["api"], expires_at=st.today())
    assert_invalid_token(client.get(pypi(world.private, "/simple/"), headers=basic("x", expired)), EXPIRED)
    revoked = pat(gitlab, "reporter", ["api"])
    st.revoke(revoked)
    assert_invalid_token(client.get(pypi(world.private, "/simple/"), headers={"PRIVATE-TOKEN": revoked}), REVOKED)


def test_pypi_membership(gitlab, world, client):
    def get(user):
        return client.get(pypi(world.private, "/simple/"), headers=basic(user, pat(gitlab, user, ["read_api"])))

    assert get("reporter").status_code == 200
    assert get("dev").status_code == 200
    assert_json(get("guest"), 403, FORBIDDEN)  # may read the project, not its packages
    assert_json(get("outsider"), 404, NOT_FOUND)
    assert get("groupreporter").status_code == 200  # reporter through the group
    blocked = gitlab.state.create_pat("blockee", ["api"]).token
    assert_json(client.get(pypi(world.private, "/simple/"), headers=basic("x", blocked)), 403, BLOCKED)


def test_pypi_dpop_applies_to_pat_positions_not_to_basic_passwords(gitlab, world, client):
    st = gitlab.state
    st.add_user("dpopper")
    st.add_member("pkgs/private", "dpopper", "reporter")
    st.enable_dpop("dpopper")
    token = pat(gitlab, "dpopper", ["read_api"])
    missing = {"error": "dpop_error", "error_description": "DPoP validation error: DPoP header is missing"}
    for headers in ({"PRIVATE-TOKEN": token}, bearer(token)):
        response = client.get(pypi(world.private, "/simple/"), headers=headers)
        assert response.status_code == 401 and response.json() == missing
    # GitLab looks for the PAT to bind only in private_token, PRIVATE-TOKEN and Bearer.
    assert client.get(pypi(world.private, "/simple/"), headers=basic("__token__", token)).status_code == 200


def test_pypi_guests_may_pull_behind_the_feature_flag(gitlab, world, client, registry):
    registry.guests_can_pull_packages = True
    response = client.get(pypi(world.private, "/simple/"), headers=basic("guest", pat(gitlab, "guest", ["read_api"])))
    assert response.status_code == 200


def test_pypi_deploy_tokens(gitlab, world, client):
    st = gitlab.state
    token = st.create_deploy_token("pkgs/private", ["read_package_registry"]).token
    # The Basic username does not matter on package routes (unlike Git).
    for headers in (basic("someone-else", token), {"Deploy-Token": token}, bearer(token)):
        assert client.get(pypi(world.private, "/simple/"), headers=headers).status_code == 200
    group_token = st.create_deploy_token("pkgs", ["write_package_registry"]).token
    assert client.get(pypi(world.private, "/simple/"), headers=basic("x", group_token)).status_code == 200
    # Valid deploy tokens that do not reach the packages: authenticated, so 404.
    repo_only = st.create_deploy_token("pkgs/private", ["read_repository"]).token
    assert_json(client.get(pypi(world.private, "/simple/"), headers=basic("x", repo_only)), 404, NOT_FOUND)
    elsewhere = st.create_deploy_token("other/app", ["read_package_registry"]).token
    assert_json(client.get(pypi(world.private, "/simple/"), headers=basic("x", elsewhere)), 404, NOT_FOUND)
    # An expired deploy token is simply not found: anonymous.
    expired = st.create_deploy_token("pkgs/private", ["read_package_registry"],
                                     expires_at=st.now() - dt.timedelta(seconds=1)).token
    assert_json(client.get(pypi(world.private, "/simple/"), headers=basic("x", expired)), 401, UNAUTHORIZED,
                realm=True)
    # As a Bearer value, an unknown token is looked up as a PAT: 401 at once.
    assert_json(client.get(pypi(world.private, "/simple/"), headers=bearer(expired)), 401, UNAUTHORIZED,
                realm=True)


def test_pypi_job_tokens(gitlab, world, client):
    st = gitlab.state
    job = st.create_job_token("reporter", "pkgs/private").token
    assert client.get(pypi(world.private, "/simple/"), headers=basic("gitlab-ci-token", job)).status_code == 200
    assert client.get(pypi(world.private, "/simple/"), headers=bearer(job)).status_code == 200
    # Under another username the password is tried as a PAT only: anonymous.
    assert_json(client.get(pypi(world.private, "/simple/"), headers=basic("ci", job)), 401, UNAUTHORIZED,
                realm=True)
    st.finish_job(job)
    assert_json(client.get(pypi(world.private, "/simple/"), headers=basic("gitlab-ci-token", job)), 401,
                UNAUTHORIZED, realm=True)
    # A job of another project needs the target's allowlist.
    foreign = st.create_job_token("dev", "other/app").token
    assert_json(client.get(pypi(world.private, "/simple/"), headers=basic("gitlab-ci-token", foreign)),
                404, NOT_FOUND)
    st.allow_job_token_access("pkgs/private", "other/app")
    try:
        assert client.get(pypi(world.private, "/simple/"),
                          headers=basic("gitlab-ci-token", foreign)).status_code == 200
    finally:
        st.project("pkgs/private").job_token_allowlist.clear()


def test_pypi_public_project_is_readable_by_anyone(world, client):
    response = client.get(pypi(world.public, "/simple/public-pkg/"))
    assert response.status_code == 200
    assert world.public_wheel.filename in response.text
    # Credentials that match nothing leave the request anonymous: still readable.
    assert client.get(pypi(world.public, "/simple/public-pkg/"), headers=basic("x", "nope")).status_code == 200
    file = client.get(pypi(world.public, f"/files/{world.public_wheel.sha256}/{world.public_wheel.filename}"))
    assert file.content == world.public_wheel.data


# --- PyPI: uploads (the form twine sends) ------------------------------------------------------------


def upload(client, project, dist, headers):
    data, files = twine_form(dist)
    return client("POST", pypi(project), headers=headers, data=data, files=files)


def test_pypi_upload_then_index(gitlab, world, client):
    name = unique("uploaded-")
    dist = build_wheel(name, "1.0.0", requires_python=">=3.10")
    token = pat(gitlab, "dev", ["api"])
    assert_json(upload(client, world.private, dist, basic("__token__", token)), 201, {"message": "201 Created"})
    package = gitlab.state.find_package(world.private, "pypi", name, "1.0.0")
    assert package.files[0].data == dist.data and package.files[0].sha256 == dist.sha256
    page = client.get(pypi(world.private, f"/simple/{name}/"), headers=basic("x", token))
    assert (f'/files/{dist.sha256}/{dist.filename}#sha256={dist.sha256}" '
            f'data-requires-python="&gt;=3.10">{dist.filename}</a>') in page.text
    # The same file again: GitLab's validation error.
    assert_json(upload(client, world.private, dist, basic("__token__", token)), 400,
                {"message": "400 Bad request - Validation failed: File name has already been taken"})
    # Another file of the same version is fine.
    sdist = build_sdist(name, "1.0.0")
    assert upload(client, world.private, sdist, basic("__token__", token)).status_code == 201


def test_pypi_upload_needs_write_access(gitlab, world, client):
    st = gitlab.state
    dist = build_wheel(unique("denied-"), "1.0.0")
    assert_json(upload(client, world.private, dist, {}), 401, UNAUTHORIZED, realm=True)
    assert_json(upload(client, world.public, dist, {}), 401, UNAUTHORIZED, realm=True)
    assert_json(upload(client, world.private, dist, basic("x", pat(gitlab, "dev", ["read_api"]))), 403,
                INSUFFICIENT_SCOPE)
    assert_json(upload(client, world.private, dist, basic("x", pat(gitlab, "reporter", ["api"]))), 403, FORBIDDEN)
    assert_json(upload(client, world.private, dist, basic("x", pat(gitlab, "outsider", ["api"]))), 404, NOT_FOUND)
    read_only = st.create_deploy_token("pkgs/private", ["read_package_registry"]).token
    assert_json(upload(client, world.private, dist, basic("x", read_only)), 403, FORBIDDEN)
    writer = st.create_deploy_token("pkgs/private", ["write_package_registry"]).token
    assert_json(upload(client, world.private, dist, basic("deployer", writer)), 201, {"message": "201 Created"})
    job = st.create_job_token("dev", "pkgs/private").token
    dist2 = build_wheel(unique("from-ci-"), "1.0.0")
    assert upload(client, world.private, dist2, basic("gitlab-ci-token", job)).status_code == 201


def test_pypi_upload_parameter_errors(gitlab, world, client):
    token = pat(gitlab, "dev", ["api"])
    response = client("POST", pypi(world.private), headers=basic("x", token), data={"x": "y"},
                      files={"unrelated": ("a", b"b")})
    assert_json(response, 400, {"error": "content is missing, name is missing, version is missing"})
    dist = build_wheel(unique("bad-"), "1.0.0")
    data, files = twine_form(dist)
    response = client("POST", pypi(world.private), headers=basic("x", token),
                      data={**data, "sha256_digest": "abc"}, files=files)
    assert_json(response, 400, {"error": "sha256_digest is invalid"})
    response = client("POST", pypi(world.private), headers=basic("x", token),
                      data={**data, "version": "not a version"}, files=files)
    assert_json(response, 400, {"message": "400 Bad request - Validation failed: Version is invalid"})


# --- PyPI: group endpoint --------------------------------------------------------------------------------


def test_pypi_group_index(gitlab, world, client):
    group = gitlab.state.find_group("pkgs")
    path = f"/api/v4/groups/{group.id}/-/packages/pypi"
    token = pat(gitlab, "groupreporter", ["read_api"])
    response = client.get(path + "/simple/demo-pkg/", headers=basic("x", token))
    assert response.status_code == 200
    file_base = f"{client.base}{path}/files"
    assert (f'<a href="{file_base}/{world.wheel.sha256}/{world.wheel.filename}#sha256={world.wheel.sha256}"'
            in response.text)
    file = client.get(f"{path}/files/{world.wheel.sha256}/{world.wheel.filename}", headers=basic("x", token))
    assert file.content == world.wheel.data
    # By path, too; and the index lists the public project's packages as well.
    index = client.get("/api/v4/groups/pkgs/-/packages/pypi/simple", headers=basic("x", token))
    assert f"{client.base}{path}/simple/public-pkg\"" in index.text
    assert "<title>Links for pkgs</title>" in index.text
    # Anonymous: the group is public (it holds a public project), its registry too.
    assert client.get(path + "/simple/").status_code == 200
    assert_json(client.get("/api/v4/groups/nope/-/packages/pypi/simple/"), 404, NOT_FOUND)


def test_pypi_group_of_private_projects(gitlab, client):
    st = gitlab.state
    project = st.add_project("secret/lib", members={"dev": "developer"})
    publish_wheel(st, project, "secret-lib", "1.0.0")
    group = st.find_group("secret")
    path = f"/api/v4/groups/{group.id}/-/packages/pypi/simple/"
    assert_json(client.get(path), 401, UNAUTHORIZED, realm=True)
    assert_json(client.get(path, headers=basic("x", pat(gitlab, "outsider", ["read_api"]))), 404, NOT_FOUND)
    # A project member who is no group member sees the group, not its package registry.
    assert_json(client.get(path, headers=basic("x", pat(gitlab, "dev", ["read_api"]))), 403, FORBIDDEN)
    st.add_member("secret", "dev", "reporter")
    assert "secret-lib" in client.get(path, headers=basic("x", pat(gitlab, "dev", ["read_api"]))).text
    deploy = st.create_deploy_token("secret", ["read_package_registry"]).token
    assert "secret-lib" in client.get(path, headers=basic("x", deploy)).text


# --- PyPI: the real pip ---------------------------------------------------------------------------------


def pip_env(home):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(HOME=str(home), PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1", PIP_KEYRING_PROVIDER="disabled", PIP_NO_CACHE_DIR="1")
    return env


def run_pip(gitlab, home, *args):
    done = subprocess.run([sys.executable, "-m", "pip", *args, "--cert", gitlab.ca.ca_file, "--retries", "0",
                           "--timeout", "20"], capture_output=True, text=True, env=pip_env(home), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_pip_installs_from_the_project_index(gitlab, world, tmp_path, home):
    token = pat(gitlab, "reporter", ["read_api"])
    index = gitlab.packages.pypi_index_url(f"https://__token__:{token}@localhost:{gitlab.port}", world.private)
    before = len(gitlab.packages.identities)
    run_pip(gitlab, home, "install", "--no-deps", "--only-binary", ":all:", "--target", str(tmp_path / "t"),
            "--index-url", index, "demo-pkg==1.0.0")
    assert (tmp_path / "t" / "demo_pkg" / "__init__.py").read_text() == 'VERSION = "1.0.0"\n'
    done = subprocess.run([sys.executable, "-c", "import demo_pkg; print(demo_pkg.VERSION)"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(tmp_path / "t")}, timeout=60)
    assert done.stdout == "1.0.0\n"
    # pip sent the token on every request (index page and file), as Basic credentials.
    used = [(path, kind) for _, path, kind, _ in gitlab.packages.identities[before:]]
    assert used == [(pypi(world.private, "/simple/demo-pkg/"), "pat"),
                    (pypi(world.private, f"/files/{world.wheel.sha256}/{world.wheel.filename}"), "pat")]


def test_pip_downloads_with_a_group_deploy_token(gitlab, world, tmp_path, home):
    token = gitlab.state.create_deploy_token("pkgs", ["read_package_registry"]).token
    group = gitlab.state.find_group("pkgs")
    index = f"https://deployer:{token}@localhost:{gitlab.port}/api/v4/groups/{group.id}/-/packages/pypi/simple"
    run_pip(gitlab, home, "download", "--no-deps", "--only-binary", ":all:", "-d", str(tmp_path / "d"),
            "--index-url", index, "demo-pkg==1.0.0")
    assert (tmp_path / "d" / world.wheel.filename).read_bytes() == world.wheel.data


# --- npm ------------------------------------------------------------------------------------------------------


def npm(project, rest):
    return f"/api/v4/projects/{project.id}/packages/npm/{rest}"


def test_npm_packument(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    response = client.get(npm(world.private, "@pkgs%2fdemo"), headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    tarballs = f"{client.base}/api/v4/projects/{world.private.id}/packages/npm/@pkgs/demo/-/@pkgs"
    assert response.json() == {
        "name": "@pkgs/demo",
        "versions": {
            "1.0.0": {"name": "@pkgs/demo", "version": "1.0.0",
                      "dist": {"shasum": world.npm_old.shasum, "tarball": f"{tarballs}/demo-1.0.0.tgz"}},
            "1.1.0": {"name": "@pkgs/demo", "version": "1.1.0",
                      "dist": {"shasum": world.npm_new.shasum, "tarball": f"{tarballs}/demo-1.1.0.tgz"}},
        },
        "dist-tags": {"beta": "1.0.0", "latest": "1.1.0"},
    }
    # The exact bytes, key order included.
    assert response.text.startswith('{"name":"@pkgs/demo","versions":{"1.0.0":{"name":"@pkgs/demo",'
                                    '"version":"1.0.0","dist":{"shasum":')
    plain = client.get(npm(world.private, "plain"), headers=bearer(token)).json()
    assert plain["versions"]["2.0.0"]["dist"]["tarball"].endswith("/packages/npm/plain/-/plain-2.0.0.tgz")


def test_npm_tarball_and_dist_tags(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    response = client.get(npm(world.private, "@pkgs/demo/-/@pkgs/demo-1.0.0.tgz"), headers=bearer(token))
    assert response.status_code == 200
    assert response.content == world.npm_old.data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"%40pkgs%2Fdemo-1.0.0.tgz\"; filename*=UTF-8''%40pkgs%2Fdemo-1.0.0.tgz")
    assert_json(client.get(npm(world.private, "@pkgs/demo/-/@pkgs/demo-9.9.9.tgz"), headers=bearer(token)),
                404, {"message": "404 Package Not Found"})
    tags = client.get(npm(world.private, "-/package/@pkgs%2fdemo/dist-tags"), headers=bearer(token))
    assert_json(tags, 200, {"beta": "1.0.0", "latest": "1.1.0"})


def test_npm_authentication(gitlab, world, client):
    st = gitlab.state
    meta, tarball = npm(world.private, "@pkgs%2fdemo"), npm(world.private, "@pkgs/demo/-/@pkgs/demo-1.0.0.tgz")
    # No challenge on npm routes; the metadata route asks non-public requests to authenticate,
    # the tarball route answers as if the project did not exist.
    assert_json(client.get(meta), 401, UNAUTHORIZED)
    assert_json(client.get(tarball), 404, PROJECT_NOT_FOUND)
    assert_json(client.get(meta, headers=bearer("glpat-unknown")), 401, UNAUTHORIZED)
    reporter = pat(gitlab, "reporter", ["read_api"])
    for headers in (bearer(reporter), {"PRIVATE-TOKEN": reporter}):
        assert client.get(meta, headers=headers).status_code == 200
        assert client.get(tarball, headers=headers).status_code == 200
    # npm routes do not take a PAT as a Basic password.
    assert_json(client.get(meta, headers=basic("x", reporter)), 401, UNAUTHORIZED)
    assert_json(client.get(meta, headers=bearer(pat(gitlab, "guest", ["read_api"]))), 403, FORBIDDEN)
    assert_json(client.get(meta, headers=bearer(pat(gitlab, "outsider", ["read_api"]))), 404, PROJECT_NOT_FOUND)
    assert_json(client.get(meta, headers=bearer(pat(gitlab, "reporter", ["read_repository"]))), 403,
                INSUFFICIENT_SCOPE)
    deploy = st.create_deploy_token("pkgs/private", ["read_package_registry"]).token
    for headers in (bearer(deploy), {"Deploy-Token": deploy}, basic("anything", deploy)):
        assert client.get(meta, headers=headers).status_code == 200
    job = st.create_job_token("reporter", "pkgs/private").token
    assert client.get(meta, headers={"Job-Token": job}).status_code == 200
    assert client.get(meta, headers=bearer(job)).status_code == 200
    assert client.get(tarball, params={"job_token": job}).status_code == 200
    assert_json(client.get(meta, headers={"Job-Token": "glcbt-unknown"}), 401, UNAUTHORIZED)


def test_npm_unknown_package_is_forwarded_before_authentication(gitlab, world, client, registry):
    response = client.get(npm(world.private, "@pkgs%2fnope"))
    assert response.status_code == 302
    assert response.headers["Location"] == "https://registry.npmjs.org/@pkgs/nope"
    registry.npm_package_requests_forwarding = False
    assert_json(client.get(npm(world.private, "@pkgs%2fnope")), 401, UNAUTHORIZED)
    response = client.get(npm(world.private, "@pkgs%2fnope"), headers=bearer(pat(gitlab, "reporter", ["read_api"])))
    assert_json(response, 404, {"message": "404 Packages Not Found"})


def test_npm_scoped_name_needs_the_encoded_slash(gitlab, world, client):
    response = client.get(npm(world.private, "@pkgs/demo"), headers=bearer(pat(gitlab, "reporter", ["read_api"])))
    assert_json(response, 404, NOT_FOUND)


def test_npm_install_with_an_auth_token_from_npmrc(gitlab, world, tmp_path):
    token = pat(gitlab, "reporter", ["read_api"])
    registry_url = gitlab.packages.npm_registry_url(f"https://localhost:{gitlab.port}", world.private)
    npmrc = tmp_path / "npmrc"
    npmrc.write_text(f"//localhost:{gitlab.port}/api/v4/projects/{world.private.id}/packages/npm/"
                     f":_authToken=${{GITLAB_NPM_TOKEN}}\ncafile={gitlab.ca.ca_file}\n")
    empty = tmp_path / "globalnpmrc"
    empty.write_text("")
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "package.json").write_text('{"name": "consumer", "version": "1.0.0", "private": true}\n')
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(GITLAB_NPM_TOKEN=token, npm_config_userconfig=str(npmrc), npm_config_globalconfig=str(empty),
               npm_config_cache=str(tmp_path / "npm-cache"), npm_config_update_notifier="false",
               npm_config_fetch_retries="0", npm_config_audit="false", npm_config_fund="false")
    before = len(gitlab.packages.identities)
    done = subprocess.run(["npm", "install", "--registry", registry_url, "--no-audit", "--no-fund",
                           "@pkgs/demo@1.0.0"], cwd=project, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    installed = project / "node_modules" / "@pkgs" / "demo"
    assert json.loads((installed / "package.json").read_text())["version"] == "1.0.0"
    assert "module.exports" in (installed / "index.js").read_text()
    # npm sent the token as a Bearer token, to the metadata and to the tarball URL.
    used = gitlab.packages.identities[before:]
    assert [(path, kind) for _, path, kind, _ in used] == [
        (f"/api/v4/projects/{world.private.id}/packages/npm/@pkgs/demo", "pat"),
        (f"/api/v4/projects/{world.private.id}/packages/npm/@pkgs/demo/-/@pkgs/demo-1.0.0.tgz", "pat")]


# --- Go proxy ---------------------------------------------------------------------------------------------------


def go(project, rest):
    return f"/api/v4/projects/{project.id}/packages/go/{GO_MODULE}/@v/{rest}"


def test_go_proxy_list_and_info(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    response = client.get(go(world.private, "list"), headers=basic("x", token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain"
    assert response.text == "v1.0.0\nv1.2.0\nv1.10.0"
    info = client.get(go(world.private, "v1.2.0.info"), headers=bearer(token))
    assert info.status_code == 200 and info.json()["Version"] == "v1.2.0"
    mod = client.get(go(world.private, "v1.2.0.mod"), headers=bearer(token))
    assert mod.text == f"module {GO_MODULE}\n\ngo 1.21\n"
    archive = zipfile.ZipFile(io.BytesIO(client.get(go(world.private, "v1.2.0.zip"), headers=bearer(token)).content))
    assert f"{GO_MODULE}@v1.2.0/go.mod" in archive.namelist()
    assert_json(client.get(f"/api/v4/projects/{world.private.id}/packages/go/example.com/nope/@v/list",
                           headers=bearer(token)), 404, NOT_FOUND)


def test_go_proxy_authentication(gitlab, world, client, registry):
    st = gitlab.state
    path = go(world.private, "list")
    # Go proxy 401s carry no challenge.
    assert_json(client.get(path), 401, UNAUTHORIZED)
    job = st.create_job_token("reporter", "pkgs/private").token
    assert client.get(path, headers={"Job-Token": job}).status_code == 200
    assert client.get(path, headers=bearer(job)).status_code == 200
    # No job token through Basic here (GOAUTH=git's gitlab-ci-token:TOKEN), and no deploy tokens.
    assert_json(client.get(path, headers=basic("gitlab-ci-token", job)), 401, UNAUTHORIZED)
    deploy = st.create_deploy_token("pkgs/private", ["read_package_registry"]).token
    assert_json(client.get(path, headers=basic("x", deploy)), 401, UNAUTHORIZED)
    assert_json(client.get(path, headers=bearer(deploy)), 401, UNAUTHORIZED)
    assert_json(client.get(path, headers=basic("x", pat(gitlab, "outsider", ["read_api"]))), 404, PROJECT_NOT_FOUND)
    assert_json(client.get(path, headers=basic("x", pat(gitlab, "guest", ["read_api"]))), 403, FORBIDDEN)
    registry.go_proxy_enabled = False
    assert_json(client.get(path, headers=basic("x", pat(gitlab, "reporter", ["read_api"]))), 404, NOT_FOUND)


# --- generic packages ---------------------------------------------------------------------------------------------


def test_generic_packages(gitlab, world, client):
    st = gitlab.state
    path = f"/api/v4/projects/{world.private.id}/packages/generic/tool/1.0.0/tool.bin"
    assert_json(client.get(path), 401, UNAUTHORIZED, realm=True)
    job = st.create_job_token("reporter", "pkgs/private").token
    deploy = st.create_deploy_token("pkgs/private", ["read_package_registry"]).token
    reporter = pat(gitlab, "reporter", ["read_api"])
    for headers in ({"Job-Token": job}, basic("gitlab-ci-token", job), {"Deploy-Token": deploy},
                    basic("x", reporter), {"PRIVATE-TOKEN": reporter}):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, headers
        assert response.content == b"\x00binary tool\xff"
        assert response.headers["X-Checksum-SHA256"] == world.generic.sha256
    name = unique("built-")
    target = f"/api/v4/projects/{world.private.id}/packages/generic/{name}/2.0.0/out.tar.gz"
    assert_json(client("PUT", target, data=b"payload"), 401, UNAUTHORIZED, realm=True)
    assert_json(client("PUT", target, data=b"payload", headers={"Job-Token": job}), 403, FORBIDDEN)
    writer = st.create_job_token("dev", "pkgs/private").token
    assert_json(client("PUT", target, data=b"payload", headers={"Job-Token": writer}), 201,
                {"message": "201 Created"})
    assert client.get(target, headers={"Job-Token": writer}).content == b"payload"
    assert_json(client.get(f"/api/v4/projects/{world.private.id}/packages/generic/{name}/9.9.9/out.tar.gz",
                           headers={"Job-Token": writer}), 404, {"message": "404 Not found"})


# --- Terraform module registry --------------------------------------------------------------------------------------


TF = "/api/v4/packages/terraform/modules/v1/infra/vpc/aws"


def test_terraform_service_discovery(client):
    response = client.get("/.well-known/terraform.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.content == b'{"modules.v1":"/api/v4/packages/terraform/modules/v1/"}'


def test_terraform_versions(gitlab, world, client):
    response = client.get(TF + "/versions", headers=bearer(pat(gitlab, "reporter", ["read_api"])))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    version = {"submodules": [], "root": {"dependencies": [], "providers": [{"name": "aws", "version": ""}]}}
    assert response.json() == {"modules": [{
        "versions": [{"version": "1.0.0", **version}, {"version": "1.2.0", **version}],
        "source": f"{client.base}/infra/modules"}]}
    assert response.text.startswith('{"modules":[{"versions":[{"version":"1.0.0","submodules":[],"root":')


def test_terraform_authentication(gitlab, world, client):
    st = gitlab.state
    # Anonymous on a group of private projects: the packages realm challenge.
    assert_json(client.get(TF + "/versions"), 401, UNAUTHORIZED, realm=True)
    assert_json(client.get(TF + "/versions", headers=bearer("glpat-unknown")), 401, UNAUTHORIZED, realm=True)
    # Only the Authorization header's last word counts: "Basic base64(user:token)" is no token.
    reporter = pat(gitlab, "reporter", ["read_api"])
    assert_json(client.get(TF + "/versions", headers=basic("x", reporter)), 401, UNAUTHORIZED, realm=True)
    assert client.get(TF + "/versions", headers={"Authorization": f"Token {reporter}"}).status_code == 200
    assert_json(client.get(TF + "/versions", headers={"PRIVATE-TOKEN": reporter}), 401, UNAUTHORIZED, realm=True)
    assert_json(client.get(TF + "/versions", headers=bearer(pat(gitlab, "outsider", ["read_api"]))), 403, FORBIDDEN)
    assert_json(client.get(TF + "/versions", headers=bearer(pat(gitlab, "reporter", ["read_repository"]))), 403,
                INSUFFICIENT_SCOPE)
    expired = pat(gitlab, "reporter", ["api"], expires_at=st.today())
    assert_invalid_token(client.get(TF + "/versions", headers=bearer(expired)), EXPIRED)
    deploy = st.create_deploy_token("infra", ["read_package_registry"]).token
    job = st.create_job_token("reporter", "infra/modules").token
    for token in (deploy, job):
        assert len(client.get(TF + "/versions", headers=bearer(token)).json()["modules"][0]["versions"]) == 2


def test_terraform_download(gitlab, world, client):
    token = pat(gitlab, "reporter", ["read_api"])
    latest = client.get(TF + "/download", headers=bearer(token))
    assert latest.status_code == 302
    assert latest.headers["Location"] == TF + "/1.2.0/download"
    response = client.get(TF + "/1.2.0/download", headers=bearer(token))
    assert response.status_code == 204
    location = response.headers["X-Terraform-Get"]
    assert location.startswith(TF + "/1.2.0/file?token=") and location.endswith("&archive=tgz")
    # The file URL authenticates by its token parameter alone.
    file = client.get(location)
    assert file.status_code == 200
    assert file.content == world.tf_new
    with tarfile.open(fileobj=io.BytesIO(file.content)) as archive:
        assert archive.extractfile("main.tf").read() == b'output "v" {\n  value = 2\n}\n'
    assert_json(client.get(TF + "/1.2.0/file"), 401, UNAUTHORIZED, realm=True)
    assert_json(client.get(TF + "/1.2.0/file?token=not-a-jwt"), 401, UNAUTHORIZED, realm=True)
    details = client.get(TF + "/1.0.0", headers=bearer(token)).json()
    assert details == {"name": "vpc/aws", "provider": "aws", "providers": ["aws"], "root": {"dependencies": []},
                       "source": f"{client.base}/infra/modules", "submodules": [], "version": "1.0.0",
                       "versions": ["1.0.0"]}
    assert_json(client.get(TF + "/9.9.9/download", headers=bearer(token)), 404, NOT_FOUND)


def test_terraform_init_installs_a_module_with_a_token_from_the_cli_config(gitlab, world, tmp_path):
    """The real terraform: discovery, versions, download, then the file URL from X-Terraform-Get.
    A registry host needs a dot: the loopback address (in the server certificate) has some."""
    token = pat(gitlab, "reporter", ["read_api"])
    host = f"127.0.0.1:{gitlab.port}"
    config = tmp_path / "terraform.rc"
    config.write_text(f'credentials "{host}" {{\n  token = "{token}"\n}}\n')
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.tf").write_text(f'module "vpc" {{\n  source  = "{host}/infra/vpc/aws"\n  version = "1.0.0"\n}}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SSL_CERT"))}
    env.update(TF_CLI_CONFIG_FILE=str(config), SSL_CERT_FILE=gitlab.ca.ca_file, CHECKPOINT_DISABLE="1",
               TF_IN_AUTOMATION="1")
    before = len(gitlab.packages.identities)
    done = subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=work, capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / ".terraform" / "modules" / "vpc" / "main.tf").read_text() == 'output "hello" {\n  value = "world"\n}\n'
    used = [(path, kind) for method, path, kind, _ in gitlab.packages.identities[before:] if method == "GET"]
    assert used == [(TF + "/versions", "pat"), (TF + "/1.0.0/download", "pat"), (TF + "/1.0.0/file", "pat")]


# --- fixtures themselves -------------------------------------------------------------------------------------------


def test_built_packages_are_well_formed():
    wheel = build_wheel("My_Pkg", "2.0", requires_python=">=3.9")
    assert wheel.filename == "my_pkg-2.0-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(wheel.data)) as archive:
        names = archive.namelist()
        assert "my_pkg-2.0.dist-info/RECORD" in names and "my_pkg/__init__.py" in names
        metadata = archive.read("my_pkg-2.0.dist-info/METADATA").decode()
        assert "Name: My_Pkg\n" in metadata and "Requires-Python: >=3.9\n" in metadata
    assert build_wheel("My_Pkg", "2.0", requires_python=">=3.9").data == wheel.data  # reproducible
    tarball = build_npm_tarball("@a/b", "1.0.0")
    assert tarball.filename == "@a/b-1.0.0.tgz"
    assert tarball.integrity.startswith("sha512-") and len(tarball.shasum) == 40
    with tarfile.open(fileobj=io.BytesIO(tarball.data)) as archive:
        assert json.load(archive.extractfile("package/package.json"))["name"] == "@a/b"
