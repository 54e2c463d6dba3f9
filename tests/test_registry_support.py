"""The container registry test bed: the fake GitLab's ``/jwt/auth``, a real
distribution registry that trusts it, a tiny OCI image, and the real skopeo
and docker CLI going through the whole token dance.

No mocks: the registry is Debian's ``docker-registry`` listening with TLS on
127.0.0.1, tokens are RS256 JWTs it verifies against the fake GitLab's
signing certificate, and clients get credentials from files only (an
``--authfile`` for skopeo, a ``DOCKER_CONFIG`` for docker), never from argv.
"""

from __future__ import annotations

import base64
import json
import re
import stat
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography import x509

from tests.fake_gitlab import registry_auth
from tests.support.distribution_registry import DistributionRegistry, write_ca_bundle
from tests.support.oci_image import build_oci_image, read_layout

SERVICE = "container_registry"
DENIED_403 = {"errors": [{"code": "DENIED", "message": "access forbidden"}], "http_status": 403}
KID = re.compile(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}")

_counter = iter(range(1, 10**6))
_RUN = uuid.uuid4().hex[:6]


def unique(prefix: str = "reg") -> str:
    """A project name no other test module uses on the shared fake GitLab."""
    return f"{prefix}-{_RUN}-{next(_counter)}"


@pytest.fixture
def state(gitlab):
    yield gitlab.state
    gitlab.state.set_clock(None)


# --- helpers -----------------------------------------------------------------------------


def jwt_auth(gitlab, *scopes: str, creds: tuple[str, str] | None = None, service: str = SERVICE,
             extra: dict | None = None) -> requests.Response:
    params: list[tuple[str, str]] = [("service", service)] if service is not None else []
    params += [("scope", s) for s in scopes]
    params += list((extra or {}).items())
    return requests.get(f"https://localhost:{gitlab.port}/jwt/auth", params=params, auth=creds,
                        verify=gitlab.ca.ca_file, timeout=10)


def verify(gitlab, token: str) -> dict:
    """Check a registry token with PyJWT against the certificate the registry trusts."""
    cert = x509.load_pem_x509_certificate(Path(gitlab.registry_signing_cert).read_bytes())
    return jwt.decode(token, cert.public_key(), algorithms=["RS256"], audience=SERVICE,
                      issuer=gitlab.registry_issuer)


def granted(gitlab, scope_path: str, actions: str, creds) -> list[str] | int:
    """The actions /jwt/auth grants on *scope_path*, or the HTTP status when not 200."""
    r = jwt_auth(gitlab, f"repository:{scope_path}:{actions}", creds=creds)
    if r.status_code != 200:
        return r.status_code
    claims = verify(gitlab, r.json()["token"])
    assert [a["name"] for a in claims["access"]] in ([], [scope_path.lower()])
    return claims["access"][0]["actions"] if claims["access"] else []


def access_denied(base_url: str) -> dict:
    return {"errors": [{"code": "UNAUTHORIZED", "message": (
        "HTTP Basic: Access denied. If a password was provided for Git authentication, the password "
        "was incorrect or you're required to use a token instead of a password. If a token was "
        "provided, it was either incorrect, expired, or improperly scoped. See "
        f"{base_url}/help/user/profile/account/two_factor_authentication_troubleshooting.md"
        "#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-")}]}


# --- the registry process ------------------------------------------------------------------


def test_registry_starts_fast_demands_a_token_and_stops_cleanly(gitlab, tmp_path):
    registry = DistributionRegistry(tmp_path / "reg", gitlab, gitlab.ca)
    with registry:
        assert registry.startup_seconds < 10
        assert re.fullmatch(r"localhost:\d+", registry.host)
        assert registry.gitlab_host == f"gitlab.example.com:{gitlab.port}"
        assert registry.host_mapping == {registry.host: registry.gitlab_host}
        pids = registry.running_processes()
        assert pids

        r = requests.get(registry.url + "/v2/", verify=gitlab.ca.ca_file, timeout=10)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == (
            f'Bearer realm="https://localhost:{gitlab.port}/jwt/auth",service="container_registry"')
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"

        r = requests.get(registry.url + "/v2/group/project/app/tags/list", verify=gitlab.ca.ca_file,
                         timeout=10)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == (
            f'Bearer realm="https://localhost:{gitlab.port}/jwt/auth",service="container_registry",'
            'scope="repository:group/project/app:pull"')

        config = registry.config_file.read_text()
        assert "notifications" not in config and "redis" not in config and "proxy" not in config
        assert "addr: 127.0.0.1:0" in config
    assert not registry.running()
    assert registry.running_processes() == []


def test_registry_accepts_fake_gitlab_tokens_and_checks_their_scope(gitlab, state, registry):
    path = f"group/{unique()}"
    other = f"group/{unique()}"
    state.add_project(path, members={"rose": "developer"})
    state.add_project(other, members={"rose": "developer"})
    pat = state.create_pat("rose", ["api"])
    ca = gitlab.ca.ca_file

    token = jwt_auth(gitlab, f"repository:{path}/app:pull", creds=("rose", pat.token)).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(registry.url + "/v2/", headers=bearer, verify=ca, timeout=10).status_code == 200
    r = requests.get(f"{registry.url}/v2/{path}/app/tags/list", headers=bearer, verify=ca, timeout=10)
    assert r.status_code == 404  # authorized; the repository just does not exist yet
    assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    # The same token does not open another repository.
    r = requests.get(f"{registry.url}/v2/{other}/app/tags/list", headers=bearer, verify=ca, timeout=10)
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]

    # A token signed by another key, with the same kid, is refused.
    from cryptography.hazmat.primitives.asymmetric import rsa

    claims = verify(gitlab, token)
    forged = jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                        algorithm="RS256", headers={"kid": gitlab.registry_auth.kid})
    r = requests.get(f"{registry.url}/v2/{path}/app/tags/list", headers={"Authorization": f"Bearer {forged}"},
                     verify=ca, timeout=10)
    assert r.status_code == 401


# --- /jwt/auth: the token -----------------------------------------------------------------------


def test_token_header_claims_and_signature(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"tess": "developer"})
    pat = state.create_pat("tess", ["read_registry", "write_registry"])
    r = jwt_auth(gitlab, f"repository:{path}/app:pull,push", creds=("tess", pat.token),
                 extra={"account": "tess"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    body = r.json()
    assert list(body) == ["token"]  # GitLab sends nothing else

    token = body["token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert KID.fullmatch(header["kid"]) and header["kid"] == gitlab.registry_auth.kid

    claims = verify(gitlab, token)
    project = state.project(path)
    assert list(claims) == ["auth_type", "access", "user", "jti", "aud", "sub", "iss", "iat", "nbf", "exp"]
    assert claims["auth_type"] == "personal_access_token"
    assert claims["access"] == [{
        "type": "repository", "name": f"{path}/app", "actions": ["pull", "push"],
        "meta": {"project_path": path, "project_id": project.id,
                 "root_namespace_id": state.find_group("group").id},
    }]
    assert claims["aud"] == SERVICE and claims["sub"] == "tess" and claims["iss"] == "gitlab-issuer"
    assert claims["exp"] - claims["iat"] == 300 and claims["iat"] - claims["nbf"] == 5
    uuid.UUID(claims["jti"])
    nested = verify_nested(gitlab, claims["user"])
    assert nested["user_info"] == {"token_type": "personal_access_token", "username": "tess",
                                   "user_id": state.user("tess").id}
    # Every token is new.
    again = verify(gitlab, jwt_auth(gitlab, f"repository:{path}/app:pull",
                                    creds=("tess", pat.token)).json()["token"])
    assert again["jti"] != claims["jti"]


def verify_nested(gitlab, token: str) -> dict:
    cert = x509.load_pem_x509_certificate(Path(gitlab.registry_signing_cert).read_bytes())
    return jwt.decode(token, cert.public_key(), algorithms=["RS256"], options={"verify_aud": False})


def test_signing_certificate_and_key_id(gitlab):
    cert = x509.load_pem_x509_certificate(Path(gitlab.registry_signing_cert).read_bytes())
    assert Path(gitlab.registry_signing_cert).is_relative_to(gitlab.workdir)
    assert cert.public_key().key_size == 2048
    assert registry_auth.libtrust_key_id(cert.public_key()) == gitlab.registry_auth.kid
    assert gitlab.registry_realm("localhost") == f"https://localhost:{gitlab.port}/jwt/auth"


# --- /jwt/auth: who may do what -----------------------------------------------------------------


def test_pat_scopes_and_roles(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"dev1": "developer", "rep1": "reporter", "guest1": "guest",
                                     "main1": "maintainer"})
    scope = f"{path}/app"

    def pat(user, *scopes):
        return (user, state.create_pat(user, scopes).token)

    assert granted(gitlab, scope, "pull,push", pat("dev1", "read_registry")) == ["pull"]
    assert granted(gitlab, scope, "pull,push", pat("dev1", "write_registry")) == ["push"]
    assert granted(gitlab, scope, "pull,push", pat("dev1", "read_registry", "write_registry")) == ["pull", "push"]
    assert granted(gitlab, scope, "pull,push,delete,*", pat("dev1", "api")) == ["pull", "push", "delete", "*"]
    assert granted(gitlab, scope, "pull,push", pat("dev1", "read_api")) == ["pull"]
    assert granted(gitlab, scope, "pull,push", pat("rep1", "api")) == ["pull"]
    assert granted(gitlab, scope, "pull,push", pat("main1", "api")) == ["pull", "push"]
    # Valid credentials with a registry ability but no right here: a token granting nothing.
    assert granted(gitlab, scope, "pull,push", pat("guest1", "api")) == []
    state.add_user("stranger1")
    assert granted(gitlab, scope, "pull", pat("stranger1", "read_registry")) == []
    # No registry ability at all: 403.
    r = jwt_auth(gitlab, f"repository:{scope}:pull", creds=pat("dev1", "read_repository"))
    assert (r.status_code, r.json()) == (403, DENIED_403)


def test_oauth_password_and_bot_tokens(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"olga": "developer"})
    state.add_user("paul", password="s3cret-Passw0rd")
    state.add_member(path, "paul", "reporter")
    oauth = state.create_oauth_token("olga", ["api"])
    assert granted(gitlab, path, "pull,push", ("oauth2", oauth.token)) == ["pull", "push"]
    assert granted(gitlab, path, "pull,push", ("paul", "s3cret-Passw0rd")) == ["pull"]
    bot = state.create_project_access_token(path, ["read_registry"], access_level="reporter")
    assert granted(gitlab, path, "pull,push", ("anything", bot.token)) == ["pull"]


def test_deploy_tokens(gitlab, state):
    path = f"{unique('grp')}/{unique()}"
    other = f"group/{unique()}"
    state.add_project(path)
    state.add_project(other)
    read = state.create_deploy_token(path, ["read_registry"], username="ci-reader")
    write = state.create_deploy_token(path, ["write_registry"])
    both = state.create_deploy_token(path, ["read_registry", "write_registry"], username="both")
    repo_only = state.create_deploy_token(path, ["read_repository"])
    group = state.create_deploy_token(path.split("/")[0], ["read_registry"])

    assert granted(gitlab, f"{path}/app", "pull,push", ("ci-reader", read.token)) == ["pull"]
    assert granted(gitlab, f"{path}/app", "pull,push", (write.username, write.token)) == ["push"]
    assert write.username == f"gitlab+deploy-token-{write.id}"
    assert granted(gitlab, f"{path}/app", "pull,push,delete", ("both", both.token)) == ["pull", "push"]
    assert granted(gitlab, f"{path}/app", "pull", (group.username, group.token)) == ["pull"]
    # Another project: a token granting nothing (a deploy token is an actor).
    assert granted(gitlab, other, "pull", ("ci-reader", read.token)) == []
    # Its username is part of the credential.
    r = jwt_auth(gitlab, f"repository:{path}:pull", creds=("someone-else", read.token))
    assert (r.status_code, r.json()) == (401, access_denied(f"https://localhost:{gitlab.port}"))
    r = jwt_auth(gitlab, f"repository:{path}:pull", creds=(repo_only.username, repo_only.token))
    assert (r.status_code, r.json()) == (403, DENIED_403)

    claims = verify(gitlab, jwt_auth(gitlab, f"repository:{path}:pull",
                                     creds=("ci-reader", read.token)).json()["token"])
    assert "sub" not in claims  # GitLab's current_user is nil for deploy tokens
    assert claims["auth_type"] == "deploy_token"
    assert verify_nested(gitlab, claims["user"])["user_info"] == {
        "token_type": "deploy_token", "username": "ci-reader", "deploy_token_id": read.id}


def test_job_tokens(gitlab, state):
    own = f"group/{unique()}"
    private = f"group/{unique()}"
    allowing = f"group/{unique()}"
    public = f"group/{unique()}"
    state.add_project(own, members={"jo": "developer"})
    state.add_project(private, members={"jo": "developer"})
    state.add_project(allowing, members={"jo": "reporter"})
    state.add_project(public, visibility="public")
    state.allow_job_token_access(allowing, own)
    job = state.create_job_token("jo", own)
    creds = ("gitlab-ci-token", job.token)

    assert granted(gitlab, f"{own}/app", "pull,push,delete,*", creds) == ["pull", "push", "delete"]
    assert granted(gitlab, private, "pull,push", creds) == []  # not allowlisted
    assert granted(gitlab, allowing, "pull,push", creds) == ["pull"]
    assert granted(gitlab, public, "pull,push", creds) == ["pull"]
    claims = verify(gitlab, jwt_auth(gitlab, f"repository:{own}:pull", creds=creds).json()["token"])
    assert claims["sub"] == "jo" and claims["auth_type"] == "build"
    # Only under the name gitlab-ci-token, and only while the job runs.
    assert granted(gitlab, own, "pull", ("jo", job.token)) == 401
    state.finish_job(job)
    assert granted(gitlab, own, "pull", creds) == 401


def test_anonymous_public_and_private(gitlab, state):
    public = f"group/{unique()}"
    private = f"group/{unique()}"
    state.add_project(public, visibility="public")
    state.add_project(private)
    r = jwt_auth(gitlab, f"repository:{public}/app:pull,push")
    assert r.status_code == 200
    claims = verify(gitlab, r.json()["token"])
    assert [(a["name"], a["actions"]) for a in claims["access"]] == [(f"{public}/app", ["pull"])]
    assert "sub" not in claims and claims["auth_type"] == "none"
    assert verify_nested(gitlab, claims["user"])["user_info"] is None
    for scopes in ([f"repository:{private}:pull"], []):
        r = jwt_auth(gitlab, *scopes)
        assert (r.status_code, r.json()) == (403, DENIED_403)


def test_401_for_bad_expired_revoked_and_blocked_credentials(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"eve1": "developer", "blocked1": "developer"})
    expired = state.create_pat("eve1", ["api"])
    revoked = state.create_pat("eve1", ["api"])
    blocked = state.create_pat("blocked1", ["api"])
    state.revoke(revoked)
    state.block_user("blocked1")
    state.advance(days=400)
    expired.expires_at = state.today()
    expected = access_denied(f"https://localhost:{gitlab.port}")
    for creds in (("eve1", "glpat-wrong"), ("eve1", expired.token), ("eve1", revoked.token),
                  ("blocked1", blocked.token), ("eve1", "")):
        r = jwt_auth(gitlab, f"repository:{path}:pull", creds=creds)
        assert (r.status_code, r.json()) == (401, expected), creds
        assert "WWW-Authenticate" not in r.headers  # GitLab sends no challenge here
    # Checked before the service: a bad credential is 401 even for an unknown service.
    assert jwt_auth(gitlab, creds=("eve1", "nope"), service="other").status_code == 401


def test_scope_parsing_paths_and_services(gitlab, state):
    path = f"group/{unique()}"
    second = f"group/{unique()}"
    state.add_project(path, members={"sam": "developer"})
    state.add_project(second, members={"sam": "reporter"})
    pat = ("sam", state.create_pat("sam", ["api"]).token)

    # Repeated scope parameters, and space-delimited scopes in one parameter.
    r = jwt_auth(gitlab, f"repository:{path}/a:pull,push", f"repository:{second}:push,pull "
                 f"repository:group/nonexistent:pull registry:catalog:*", creds=pat)
    claims = verify(gitlab, r.json()["token"])
    assert [(a["name"], a["actions"]) for a in claims["access"]] == [
        (f"{path}/a", ["pull", "push"]), (second, ["pull"])]
    # Images up to two levels below the project; names are lower-cased.
    assert granted(gitlab, f"{path}/a/b", "pull", pat) == ["pull"]
    assert granted(gitlab, f"{path.upper()}/App", "pull", pat) == ["pull"]
    assert granted(gitlab, f"{path}/a/b/c", "pull", pat) == []
    # docker login: no scope, offline_token: a token with no access.
    r = jwt_auth(gitlab, creds=pat, extra={"account": "sam", "client_id": "docker", "offline_token": "true"})
    assert r.status_code == 200 and verify(gitlab, r.json()["token"])["access"] == []
    # Unknown or missing service: 404 with an empty body.
    for service in ("other", None):
        r = jwt_auth(gitlab, f"repository:{path}:pull", creds=pat, service=service)
        assert (r.status_code, r.content) == (404, b"")
    r = requests.post(f"https://localhost:{gitlab.port}/jwt/auth", verify=gitlab.ca.ca_file, timeout=10)
    assert r.status_code == 404
    # Admins may list the catalog.
    state.add_user("root1", admin=True)
    admin = ("root1", state.create_pat("root1", ["api"]).token)
    claims = verify(gitlab, jwt_auth(gitlab, "registry:catalog:*", creds=admin).json()["token"])
    assert claims["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]


def test_registry_switches(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"vic": "developer"})
    pat = ("vic", state.create_pat("vic", ["api"]).token)
    settings = gitlab.registry_auth
    try:
        settings.disabled_projects.add(path)
        assert granted(gitlab, path, "pull", pat) == []
        settings.disabled_projects.clear()
        settings.enabled = False
        r = jwt_auth(gitlab, f"repository:{path}:pull", creds=pat)
        assert (r.status_code, r.json()) == (404, {
            "errors": [{"code": "UNAVAILABLE", "message": "registry not enabled"}], "http_status": 404})
        settings.enabled = True
        settings.expire_delay_minutes = 1
        claims = verify(gitlab, jwt_auth(gitlab, f"repository:{path}:pull", creds=pat).json()["token"])
        assert claims["exp"] - claims["iat"] == 60
    finally:
        settings.enabled = True
        settings.expire_delay_minutes = 5
        settings.disabled_projects.clear()


def test_issued_tokens_are_recorded(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"ivy": "developer"})
    pat = state.create_pat("ivy", ["read_registry"])
    before = len(gitlab.registry_auth.issued)
    jwt_auth(gitlab, f"repository:{path}:pull,push", creds=("ivy", pat.token))
    issued = gitlab.registry_auth.issued[before:]
    assert len(issued) == 1
    assert (issued[0].identity_kind, issued[0].token_id) == ("pat", pat.id)
    assert issued[0].actions(path) == ["pull"]
    assert issued[0].requested_scopes == (f"repository:{path}:pull,push",)
    assert pat.token not in repr(issued[0]) and issued[0].token not in repr(issued[0])


# --- the OCI image -----------------------------------------------------------------------------


def test_oci_image_is_deterministic_and_valid(tmp_path):
    one = build_oci_image(tmp_path / "one", tag="v1", seed="abc")
    two = build_oci_image(tmp_path / "two", tag="v1", seed="abc")
    other = build_oci_image(tmp_path / "three", tag="v1", seed="xyz")
    assert one.manifest_digest == two.manifest_digest
    assert one.manifest_digest != other.manifest_digest
    assert json.loads((tmp_path / "one" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    back = read_layout(tmp_path / "one", "v1")
    assert back["manifest_digest"] == one.manifest_digest
    assert back["config"]["rootfs"] == {"type": "layers", "diff_ids": [one.diff_id]}
    assert back["files"] == {"hello.txt": b"hello from credhelper tests abc\n"}
    # A second tag in the same layout.
    build_oci_image(tmp_path / "one", tag="v2", content="second\n")
    assert read_layout(tmp_path / "one", "v2")["files"] == {"hello.txt": b"second\n"}
    assert read_layout(tmp_path / "one", "v1")["manifest_digest"] == one.manifest_digest


# --- real clients -------------------------------------------------------------------------------


def test_client_files_are_private_and_bundle_has_both_roots(tools, tmp_path, gitlab):
    authfile = tools.write_authfile({"localhost:1": ("u", "secret-value")})
    assert stat.S_IMODE(Path(authfile).stat().st_mode) == 0o600
    assert json.loads(Path(authfile).read_text()) == {
        "auths": {"localhost:1": {"auth": base64.b64encode(b"u:secret-value").decode()}}}
    bundle = Path(tools.ca_bundle).read_text()
    assert Path(gitlab.ca.ca_file).read_text().strip() in bundle
    assert bundle.count("BEGIN CERTIFICATE") > 1  # the system roots too
    assert tools.env["SSL_CERT_FILE"] == tools.ca_bundle
    assert tools.env["DOCKER_CONFIG"] == str(tools.docker_config)
    assert write_ca_bundle(gitlab.ca, tmp_path / "b.pem", system_bundle="/nonexistent") == str(tmp_path / "b.pem")


def test_skopeo_push_with_write_token_and_pull_with_read_deploy_token(gitlab, state, registry, tools, tmp_path):
    path = f"group/{unique()}"
    state.add_project(path, members={"wendy": "developer"})
    writer = state.create_pat("wendy", ["read_registry", "write_registry"])
    reader = state.create_deploy_token(path, ["read_registry"], username="puller")
    image = build_oci_image(tmp_path / "image", tag="v1", seed=path)
    target = f"docker://{registry.host}/{path}/app:v1"

    push_auth = tools.write_authfile({registry.host: ("wendy", writer.token)})
    done = tools.skopeo("copy", "--authfile", push_auth, image.reference, target)
    assert done.returncode == 0, done.stderr
    assert writer.token not in done.stdout + done.stderr

    pull_auth = tools.write_authfile({registry.host: ("puller", reader.token)})
    done = tools.skopeo("inspect", "--raw", "--authfile", pull_auth, target)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(image.manifest)
    done = tools.skopeo("copy", "--authfile", pull_auth, target, f"oci:{tmp_path / 'back'}:v1")
    assert done.returncode == 0, done.stderr
    back = read_layout(tmp_path / "back", "v1")
    assert back["manifest_digest"] == image.manifest_digest
    assert back["files"] == {"hello.txt": f"hello from credhelper tests {path}\n".encode()}

    # Both credentials went to the fake GitLab's /jwt/auth (as localhost), and nowhere else.
    for secret, user in ((writer.token, "wendy"), (reader.token, "puller")):
        carried = gitlab.requests.carrying(secret)
        assert carried and all(r.path == "/jwt/auth" and r.host == f"localhost:{gitlab.port}"
                               and r.scheme == "https" and r.username == user for r in carried)
        assert all("service=container_registry" in r.query for r in carried)
    pushes = [r for r in gitlab.requests.carrying(writer.token)
              if f"scope=repository%3A{path.replace('/', '%2F')}%2Fapp%3Apull%2Cpush" in r.query]
    assert pushes and all(r.status == 200 and r.user_agent.startswith("skopeo/") for r in pushes)


def test_read_only_token_cannot_push(gitlab, state, registry, tools, tmp_path):
    path = f"group/{unique()}"
    state.add_project(path, members={"rob": "developer"})
    reader = state.create_deploy_token(path, ["read_registry"], username="ro-deployer")
    image = build_oci_image(tmp_path / "image", tag="v1", seed=path)
    authfile = tools.write_authfile({registry.host: ("ro-deployer", reader.token)})
    done = tools.skopeo("copy", "--authfile", authfile, image.reference,
                        f"docker://{registry.host}/{path}/app:v1")
    assert done.returncode != 0
    # The registry's answer to the blob upload, relayed by skopeo.
    assert "denied: requested access to the resource is denied" in done.stderr, done.stderr
    assert reader.token not in done.stderr
    # GitLab granted pull only; nothing arrived in the registry.
    asked = [t for t in gitlab.registry_auth.issued if t.token_id == reader.id]
    assert asked and all(t.actions(f"{path}/app") in ([], ["pull"]) for t in asked)
    assert not (registry.storage / "docker/registry/v2/repositories" / path / "app" / "_manifests").exists()


def test_docker_manifest_inspect_with_docker_config_auths(gitlab, state, registry, tools, tmp_path):
    path = f"group/{unique()}"
    state.add_project(path, members={"dora": "developer"})
    writer = state.create_pat("dora", ["api"])
    reader = state.create_pat("dora", ["read_registry"])
    image = build_oci_image(tmp_path / "image", tag="v2", seed=path)
    push_auth = tools.write_authfile({registry.host: ("dora", writer.token)})
    assert tools.skopeo("copy", "--authfile", push_auth, image.reference,
                        f"docker://{registry.host}/{path}/app:v2").returncode == 0

    tools.write_docker_config(auths={registry.host: ("dora", reader.token)})
    done = tools.docker("manifest", "inspect", "--verbose", f"{registry.host}/{path}/app:v2")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["Descriptor"]["digest"] == image.manifest_digest
    assert shown["Descriptor"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    carried = gitlab.requests.carrying(reader.token)
    assert carried and all(r.user_agent.startswith("Docker-Client/") and r.path == "/jwt/auth"
                           for r in carried)

    # Without credentials docker gets an anonymous token, which GitLab refuses for a private project.
    tools.write_docker_config()
    done = tools.docker("manifest", "inspect", f"{registry.host}/{path}/app:v2")
    assert done.returncode != 0
    # docker shows GitLab's 403 body from /jwt/auth.
    assert "denied: access forbidden" in done.stderr, done.stderr


def test_docker_passes_host_and_port_to_credential_helpers(gitlab, state, registry, tools, tmp_path):
    """What a docker credential helper is asked for a registry on localhost:PORT (a probe
    helper, standing in for the project's own)."""
    path = f"group/{unique()}"
    state.add_project(path, members={"hal": "developer"})
    pat = state.create_pat("hal", ["api"])
    image = build_oci_image(tmp_path / "image", tag="v1", seed=path)
    assert tools.skopeo("copy", "--authfile", tools.write_authfile({registry.host: ("hal", pat.token)}),
                        image.reference, f"docker://{registry.host}/{path}/app:v1").returncode == 0

    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "probe.log"
    probe = bindir / "docker-credential-probe"
    probe.write_text(
        "#!/bin/sh\n"
        'input=$(cat)\n'
        f'printf "%s %s\\n" "$1" "$input" >> "{log}"\n'
        'if [ "$1" = get ]; then\n'
        '  printf \'{"ServerURL":"%s","Username":"hal","Secret":"%s"}\' "$input" "$PROBE_SECRET"\n'
        "fi\n")
    probe.chmod(0o755)
    env = {"PATH": f"{bindir}:{tools.env['PATH']}", "PROBE_SECRET": pat.token}
    tools.write_docker_config(cred_helpers={registry.host: "probe"})

    done = tools.docker("manifest", "inspect", f"{registry.host}/{path}/app:v1", env=env)
    assert done.returncode == 0, done.stderr
    done = tools.docker("login", "--username", "hal", "--password-stdin", registry.host, env=env,
                        input=pat.token + "\n")
    assert done.returncode == 0, done.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == f"get {registry.host}"  # host:port, no scheme, no path
    stored = json.loads(lines[-1].split(" ", 1)[1])
    assert lines[-1].startswith("store ") and stored["ServerURL"] == registry.host
    assert stored["Username"] == "hal"
    # docker login asked /jwt/auth for a token without scope (offline_token=true).
    logins = [r for r in gitlab.requests.carrying(pat.token) if "offline_token=true" in r.query]
    assert logins and all("scope=" not in r.query and "client_id=docker" in r.query for r in logins)
