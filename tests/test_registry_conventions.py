"""Which container registries get a GitLab host's token without being named: GitLab's naming
conventions (``registry.H``, ``H:5050``) only once the registry proves its token service is H,
never for loopback or plain http; the CI job's ``CI_REGISTRY`` only the job's own credentials,
and only inside a real job.

The conventional names do not resolve on a test machine, and editing /etc/hosts would change
the machine.  These tests run ``docker-credential-gitlab`` in-process instead, with a resolver
of their own (``socket.getaddrinfo`` wrapped) that sends the chosen names to servers on
127.0.0.1: the names stay what the product sees (its loopback rule is on the name the client
asked for), TLS is verified against the names, and everything past the resolver is real.
"""

import io
import json
import os
import socket
import stat
import time

import pytest

from credhelper.protocols import docker
from credhelper.selftest.tls import TestCA
from tests.conftest import credhelper, run, write_config
from tests.support.challenge_registry import ChallengeRegistry

NOT_FOUND = "credentials not found in native keychain\n"
REGISTRY = "registry.gitlab.example.com"


@pytest.fixture
def resolve(monkeypatch):
    """``resolve(name, port)``: connections to NAME (any port, or ``name:port`` only) go to
    127.0.0.1:PORT from now on in this process."""
    routes = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        target = routes.get("%s:%s" % (host, port), routes.get(host))
        if target is not None:
            return real("127.0.0.1", target, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def add(name, port):
        routes[name] = port
    add.routes = routes
    return add


@pytest.fixture
def token(gitlab, gitlab_host):
    """A registry-scoped PAT of alice's, added (and checked) for the fake GitLab."""
    pat = gitlab.state.create_pat("alice", ["read_registry"])
    credhelper("add", gitlab_host, input=pat.token)
    return pat.token


def certificate(gitlab, *names):
    """A server certificate for ``names`` from the CA the GitLab host's ca_file names."""
    return gitlab.ca.issue(list(names))


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def helper(action, text=""):
    """docker-credential-gitlab ACTION in this process: (exit code, stdout)."""
    out = io.StringIO()
    code = docker.main([action], stdin=io.BytesIO(text.encode()), stdout=out)
    return code, out.getvalue()


def listed():
    code, out = helper("list")
    assert code == 0
    return json.loads(out)


def proofs_file(home):
    return home / ".local/share/credhelper/registry-proofs.json"


def realm_of(gitlab_host):
    return 'Bearer realm="https://%s/jwt/auth",service="container_registry"' % gitlab_host


# -- a registry that is not GitLab's gets nothing --------------------------------------------

@pytest.mark.parametrize("name", [REGISTRY, "gitlab.example.com:5050"])
def test_a_non_gitlab_registry_on_a_conventional_name_gets_nothing(
        gitlab, token, resolve, name, capsys):
    harbor = 'Bearer realm="https://%s/service/token",service="harbor-registry"' % name
    with ChallengeRegistry(*certificate(gitlab, REGISTRY, "gitlab.example.com"), 401,
                           {"WWW-Authenticate": harbor}) as hostile:
        resolve(name.split(":")[0], hostile.port)
        assert helper("get", name) == (1, NOT_FOUND)
        assert name not in listed()
    # probed once: `list` used the (negative) result cached by `get`
    assert [(r.method, r.path) for r in hostile.requests] == [("GET", "/v2/")]
    for seen in hostile.requests:
        assert not {"authorization", "cookie", "proxy-authorization"} & set(seen.headers)
        assert token not in json.dumps(seen.headers)
    err = capsys.readouterr().err
    assert token not in err
    assert "--registry %s" % name in err and err.count("\n") == 1   # one line: how to map it


@pytest.mark.parametrize("status, headers", [
    (401, {"WWW-Authenticate": 'Basic realm="Artifactory Realm"'}),
    (200, {}),                                                # an open registry
    (302, {"Location": "https://%s/jwt/auth" % REGISTRY}),   # never followed (or seen below)
    (401, {"WWW-Authenticate": 'Bearer realm="http://{gitlab}/jwt/auth"'}),
    (401, {"WWW-Authenticate": 'Bearer realm="https://{gitlab}.evil.test/jwt/auth"'}),
    (401, {"WWW-Authenticate": 'Bearer realm="https://evil.test/{gitlab}/jwt/auth"'}),
    (401, {"WWW-Authenticate": 'Bearer realm="https://{gitlab}/elsewhere"'}),
])
def test_a_registry_that_does_not_name_the_hosts_token_service_is_not_proven(
        gitlab, gitlab_host, token, resolve, status, headers):
    headers = {k: v.format(gitlab=gitlab_host) for k, v in headers.items()}
    with ChallengeRegistry(*certificate(gitlab, REGISTRY), status, headers) as hostile:
        resolve(REGISTRY, hostile.port)
        assert helper("get", REGISTRY) == (1, NOT_FOUND)
    assert [r.path for r in hostile.requests] == ["/v2/"]      # the redirect was not followed


def test_the_probe_verifies_tls_with_the_hosts_ca(gitlab, gitlab_host, token, resolve, tmp_path):
    stranger = TestCA(tmp_path / "other-ca", names=[REGISTRY])
    with ChallengeRegistry(stranger.cert_file, stranger.key_file, 401,
                           {"WWW-Authenticate": realm_of(gitlab_host)}) as impostor:
        resolve(REGISTRY, impostor.port)
        assert helper("get", REGISTRY) == (1, NOT_FOUND)
    assert impostor.requests == []          # the handshake failed: nothing was sent


@pytest.mark.parametrize("how", ["add --ca-file", "git sslCAInfo"])
def test_the_probe_trusts_what_the_hosts_api_calls_trust(gitlab, home, resolve, monkeypatch,
                                                        how):
    """No ca_file in the config: the CA reaches the API client through the token's
    ``--ca-file`` or git's sslCAInfo for the GitLab host, and the probe of its registry
    trusts the same (not git's setting for the registry's own name)."""
    from credhelper.local import trust

    monkeypatch.setattr(trust, "_git_answers", {})      # this process asked git before
    for name in ("GIT_SSL_CAINFO", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, "/etc/ssl/certs/ca-certificates.crt")
    host = "gitlab.example.com:%d" % gitlab.port
    write_config(home, '[hosts."%s"]\napi_url = "https://localhost:%d/api/v4"\n'
                 'allow_api_origin = "https://localhost:%d"\n' % (host, gitlab.port, gitlab.port))
    pat = gitlab.state.create_pat("alice", ["read_registry"])
    if how == "add --ca-file":
        credhelper("add", host, "--ca-file", gitlab.ca.ca_file, input=pat.token)
    else:
        monkeypatch.delenv("GIT_SSL_CAINFO")
        run("git", "config", "--global", "http.https://%s/.sslCAInfo" % host, gitlab.ca.ca_file)
        credhelper("add", host, input=pat.token)
    with ChallengeRegistry(*certificate(gitlab, REGISTRY), 401,
                           {"WWW-Authenticate": realm_of(host)}) as genuine:
        resolve(REGISTRY, genuine.port)
        code, out = helper("get", REGISTRY)
    assert (code, json.loads(out)["Secret"]) == (0, pat.token)
    assert [r.path for r in genuine.requests] == ["/v2/"]


def test_loopback_and_plain_http_registries_never_get_a_token_by_convention(
        gitlab, gitlab_host, token, resolve, home):
    """``localhost:5050`` is any local user's to bind: not even a proof makes it H's."""
    local = "localhost:%d" % gitlab.port
    credhelper("add", local, "--kind", "pat", "--scopes", "read_registry", "--no-check",
               input="glpat-localhostlocalhostlocal0")
    with ChallengeRegistry(*certificate(gitlab, REGISTRY), 401,
                           {"WWW-Authenticate": realm_of(local)}) as claims_local:
        resolve("localhost:5050", claims_local.port)
        resolve("registry.localhost", claims_local.port)
        resolve(REGISTRY, claims_local.port)
        for name in ("localhost:5050", "registry.localhost", "http://" + REGISTRY):
            assert helper("get", name) == (1, NOT_FOUND)
        assert claims_local.requests == []        # not even asked
        assert {"localhost:5050", "registry.localhost"}.isdisjoint(listed())
    assert {r.headers["host"] for r in claims_local.requests} == {REGISTRY}   # list's probe


# -- GitLab's own registry is proven once, then served ---------------------------------------

class NamedCA:
    """The GitLab test CA, issuing the registry's certificate for more names."""

    def __init__(self, ca, *names):
        self.ca, self.names = ca, list(names)

    def issue(self, names):
        return self.ca.issue(list(names) + self.names)

    def __getattr__(self, name):
        return getattr(self.ca, name)


def test_gitlabs_own_registry_is_proven_once_cached_and_re_proven_after_expiry(
        gitlab, gitlab_host, token, resolve, home, tmp_path):
    from tests.support.distribution_registry import DistributionRegistry

    with DistributionRegistry(tmp_path / "registry", gitlab, NamedCA(gitlab.ca, REGISTRY),
                              realm_host="gitlab.example.com") as genuine:
        resolve(REGISTRY, genuine.port)
        code, out = helper("get", REGISTRY)
        assert (code, json.loads(out)["Secret"]) == (0, token)
        assert REGISTRY in listed()
    cache = proofs_file(home)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600 and token not in cache.read_text()
    resolve(REGISTRY, closed_port())         # the registry is gone: the cached proof answers
    assert json.loads(helper("get", REGISTRY)[1])["Secret"] == token
    entries = json.loads(cache.read_text())
    for entry in entries.values():
        entry["checked_at"] = time.time() - 2 * 86400
    cache.write_text(json.dumps(entries))
    assert helper("get", REGISTRY) == (1, NOT_FOUND)     # expired, and the probe cannot reach it


def test_an_explicit_mapping_needs_no_proof(gitlab, gitlab_host, resolve):
    pat = gitlab.state.create_pat("alice", ["read_registry"])
    credhelper("add", gitlab_host, "--registry", REGISTRY, input=pat.token)
    with ChallengeRegistry(*certificate(gitlab, REGISTRY), 401,
                           {"WWW-Authenticate": 'Basic realm="x"'}) as anything:
        resolve(REGISTRY, anything.port)
        assert json.loads(helper("get", REGISTRY)[1])["Secret"] == pat.token
    assert anything.requests == []


def test_credhelper_registries_says_why_each_registry_is_served(gitlab, gitlab_host, home):
    pat = gitlab.state.create_pat("alice", ["read_registry"])
    credhelper("add", gitlab_host, "--registry", "cr.example.net", input=pat.token)
    shown = credhelper("registries").stdout
    assert "cr.example.net" in shown and "--registry" in shown and pat.token not in shown
    assert REGISTRY not in shown             # not proven (it does not even resolve here)


# -- CI variables serve the job, and only inside a job ---------------------------------------

PAT = "glpat-useraddedpatuseraddedpat0"
JOB = "glcbt-64_jobtokenjobtokenjobtoken"


def docker_get(server_url):
    return run("docker-credential-gitlab", "get", input=server_url, check=False)


def ci_job(monkeypatch, **extra):
    variables = {"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.example.com",
                 "CI_SERVER_HOST": "gitlab.example.com", "CI_JOB_TOKEN": JOB}
    variables.update(extra)
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def add_pat_for_the_ci_server():
    credhelper("add", "gitlab.example.com", "--kind", "pat", "--scopes", "read_registry",
               "--no-check", input=PAT)


def test_ci_registry_outside_a_job_gets_nothing_the_user_added(monkeypatch):
    add_pat_for_the_ci_server()
    monkeypatch.setenv("CI_REGISTRY", "evil.test")
    monkeypatch.setenv("CI_SERVER_URL", "https://gitlab.example.com")
    done = docker_get("evil.test")
    assert (done.returncode, done.stdout) == (1, NOT_FOUND) and PAT not in done.stderr
    assert "evil.test" not in json.loads(run("docker-credential-gitlab", "list").stdout)


def test_ci_registry_inside_a_job_gets_only_the_jobs_credentials(monkeypatch):
    add_pat_for_the_ci_server()
    ci_job(monkeypatch, CI_REGISTRY="evil.test")
    answer = json.loads(docker_get("evil.test").stdout)
    assert (answer["Username"], answer["Secret"]) == ("gitlab-ci-token", JOB)
    ci_job(monkeypatch, CI_REGISTRY="evil.test", CI_JOB_TOKEN=None,
           CI_DEPLOY_USER="gitlab+deploy-token-1", CI_DEPLOY_PASSWORD="gldt-cideploycideploy00")
    done = docker_get("evil.test")     # no job token: no job, and never the user's PAT
    assert (done.returncode, done.stdout) == (1, NOT_FOUND)


@pytest.mark.parametrize("change", [
    {"GITLAB_CI": None},                                      # not GitLab CI
    {"GITLAB_CI": "false"},
    {"CI_SERVER_HOST": "other.example.com"},                  # CI_SERVER_URL disagrees
    {"CI_SERVER_PORT": "8443"},
])
def test_ci_registry_variables_need_a_real_job(monkeypatch, change):
    ci_job(monkeypatch, CI_REGISTRY="registry.example.com", CI_REGISTRY_USER="gitlab-ci-token",
           CI_REGISTRY_PASSWORD=JOB, **change)
    done = docker_get("registry.example.com")
    assert (done.returncode, done.stdout) == (1, NOT_FOUND)
    assert json.loads(run("docker-credential-gitlab", "list").stdout) == {}
