"""The fake GitLab must judge tokens like GitLab, with the real git client.

Everything runs against real git over real TLS: a private CA, a threaded
HTTPS server on 127.0.0.1 reached under GitLab-like names through
``http.curloptResolve``, and ``git http-backend`` behind the access checks.
Tokens reach git only through the environment of an inline credential
helper, never through argv.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
import requests
from cryptography import x509

from credhelper.selftest.tls import TestCA
from tests.fake_gitlab import FakeGitLab, Response, auth
from tests.fake_gitlab.state import ACCESS_LEVELS

HOST = "gitlab.example.com"
EVIL = "gitlab.example.com.evil.test"
HOSTS = (HOST, EVIL)

# The helper answers `get` from the environment and ignores store/erase.
HELPER = '!f() { test "$1" = get || exit 0; echo "username=$GL_USERNAME"; echo "password=$GL_TOKEN"; }; f'


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake-gitlab")
    ca = TestCA(base / "tls", names=HOSTS)
    with FakeGitLab(base / "server", ca, hostnames=HOSTS, http_port=True) as server:
        yield server


@pytest.fixture
def state(gitlab):
    """The server's model, with the clock put back after each test."""
    yield gitlab.state
    gitlab.state.set_clock(None)


_counter = iter(range(1, 10**6))


def unique(prefix: str = "project") -> str:
    return f"{prefix}{next(_counter)}"


class Git:
    """Runs the real git against the fake server with an isolated environment."""

    def __init__(self, gitlab: FakeGitLab, tmp_path: Path):
        self.gitlab = gitlab
        self.tmp = tmp_path
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        # A minimal environment: no proxies, no user or system git config,
        # no askpass program, never a terminal prompt.
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            **gitlab.git_env(),
        }

    def __call__(self, *args: str, token: str | None = None, username: str = "x",
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = dict(self.env)
        config = list(self.gitlab.git_config_args())
        if token is not None:
            env["GL_TOKEN"] = token
            env["GL_USERNAME"] = username
            config += ["-c", "credential.helper=", "-c", f"credential.helper={HELPER}"]
        return subprocess.run(["git", *config, *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=60)

    def clone(self, path: str, token: str | None = None, username: str = "x",
              host: str = HOST, suffix: str = ".git") -> subprocess.CompletedProcess:
        dest = self.tmp / unique("clone")
        self.last_clone = dest
        url = f"{self.gitlab.url_for(host)}/{path}{suffix}"
        return self("clone", "--quiet", url, str(dest), token=token, username=username)

    def commit(self, repo: Path, name: str, content: bytes) -> str:
        (repo / name).write_bytes(content)
        for args in (("add", name), ("commit", "--quiet", "-m", f"add {name}")):
            done = self(*args, cwd=repo)
            assert done.returncode == 0, done.stderr
        return self("rev-parse", "HEAD", cwd=repo).stdout.strip()


@pytest.fixture
def git(gitlab, tmp_path):
    return Git(gitlab, tmp_path)


def bare_head(project) -> str:
    return subprocess.run(["git", f"--git-dir={project.repo_path}", "rev-parse", "main"],
                          capture_output=True, text=True, check=True).stdout.strip()


DENIED = "HTTP Basic: Access denied"


# --- git clients against the server ------------------------------------------------


def test_clone_private_project_with_pat(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"alice": "developer"})
    pat = state.create_pat("alice", ["read_repository"])
    done = git.clone(path, pat.token)
    assert done.returncode == 0, done.stderr
    assert (git.last_clone / "README.md").exists()


def test_wrong_token_gets_gitlab_401(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"alice": "developer"})
    done = git.clone(path, "glpat-not-a-real-token-000")
    assert done.returncode != 0
    assert DENIED in done.stderr
    assert "Authentication failed" in done.stderr


def test_push_with_developer_pat_lands_in_bare_repo(git, state):
    path = f"group/sub/{unique()}"
    project = state.add_project(path, members={"alice": "developer"})
    pat = state.create_pat("alice", ["write_repository"])
    assert git.clone(path, pat.token).returncode == 0
    head = git.commit(git.last_clone, "change.txt", b"hello\n")
    done = git("push", "--quiet", "origin", "main", token=pat.token, cwd=git.last_clone)
    assert done.returncode == 0, done.stderr
    assert bare_head(project) == head


def test_chunked_push_of_a_few_megabytes(git, gitlab, state):
    path = f"group/{unique()}"
    project = state.add_project(path, members={"alice": "maintainer"})
    pat = state.create_pat("alice", ["api"])
    assert git.clone(path, pat.token).returncode == 0
    # Random data does not compress: the pack is larger than git's 1 MiB
    # http.postBuffer, so git sends it with Transfer-Encoding: chunked.
    head = git.commit(git.last_clone, "blob.bin", os.urandom(3 * 1024 * 1024))
    done = git("push", "--quiet", "origin", "main", token=pat.token, cwd=git.last_clone)
    assert done.returncode == 0, done.stderr
    assert bare_head(project) == head
    pushes = gitlab.requests.filter(method="POST", path=f"/{path}.git/git-receive-pack", chunked=True)
    assert pushes and all(r.status == 200 for r in pushes)


def test_read_only_deploy_token_clones_but_cannot_push(git, state):
    path = f"group/{unique()}"
    project = state.add_project(path)
    deploy = state.create_deploy_token(path, ["read_repository"])
    assert deploy.username == f"gitlab+deploy-token-{deploy.id}"
    assert deploy.token.startswith("gldt-")
    done = git.clone(path, deploy.token, username=deploy.username)
    assert done.returncode == 0, done.stderr
    before = bare_head(project)
    git.commit(git.last_clone, "x.txt", b"x\n")
    done = git("push", "origin", "main", token=deploy.token, username=deploy.username, cwd=git.last_clone)
    assert done.returncode != 0
    assert "403" in done.stderr
    assert "You are not allowed to upload code." in done.stderr
    assert bare_head(project) == before


def test_write_deploy_token_pushes(git, state):
    path = f"group/{unique()}"
    project = state.add_project(path)
    deploy = state.create_deploy_token(path, ["read_repository", "write_repository"], username="ci-bot")
    assert git.clone(path, deploy.token, username="ci-bot").returncode == 0
    head = git.commit(git.last_clone, "x.txt", b"x\n")
    done = git("push", "--quiet", "origin", "main", token=deploy.token, username="ci-bot", cwd=git.last_clone)
    assert done.returncode == 0, done.stderr
    assert bare_head(project) == head


def test_deploy_token_needs_its_own_username(git, state):
    path = f"group/{unique()}"
    state.add_project(path)
    deploy = state.create_deploy_token(path, ["read_repository"], username="deployer")
    done = git.clone(path, deploy.token, username="someone-else")
    assert done.returncode != 0
    assert DENIED in done.stderr


def test_group_deploy_token_reaches_projects_below_its_group_only(git, state):
    group = unique("team")
    state.add_group(f"{group}/sub")
    inside = f"{group}/sub/{unique()}"
    outside = f"other/{unique()}"
    state.add_project(inside)
    state.add_project(outside)
    deploy = state.create_deploy_token(group, ["read_repository"])
    assert git.clone(inside, deploy.token, username=deploy.username).returncode == 0
    done = git.clone(outside, deploy.token, username=deploy.username)
    # A deploy token that does not reach the project is not found at all.
    assert done.returncode != 0 and DENIED in done.stderr


def test_job_token(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"bob": "developer"})
    job = state.create_job_token("bob", path)
    assert job.token.startswith("glcbt-")
    assert git.clone(path, job.token, username="gitlab-ci-token").returncode == 0
    # Any other username: the job token is not even tried.
    done = git.clone(path, job.token, username="bob")
    assert done.returncode != 0 and DENIED in done.stderr
    # Pushing with a job token is off by default.
    assert git.clone(path, job.token, username="gitlab-ci-token").returncode == 0
    git.commit(git.last_clone, "x.txt", b"x\n")
    done = git("push", "origin", "main", token=job.token, username="gitlab-ci-token", cwd=git.last_clone)
    assert done.returncode != 0 and "You are not allowed to push code to this project." in done.stderr
    state.finish_job(job)
    done = git.clone(path, job.token, username="gitlab-ci-token")
    assert done.returncode != 0 and DENIED in done.stderr


def test_job_token_other_project_needs_allowlist(git, state):
    source = f"group/{unique()}"
    target = f"group/{unique()}"
    state.add_project(source, members={"bob2": "developer"})
    state.add_project(target, members={"bob2": "developer"})
    job = state.create_job_token("bob2", source)
    done = git.clone(target, job.token, username="gitlab-ci-token")
    assert done.returncode != 0 and "Authentication by CI/CD job token not allowed" in done.stderr
    state.allow_job_token_access(target, source)
    assert git.clone(target, job.token, username="gitlab-ci-token").returncode == 0


def test_oauth_token_and_its_two_hour_life(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"carol": "reporter"})
    oauth = state.create_oauth_token("carol", ["read_repository"])
    assert len(oauth.token) == 64 and oauth.expires_in == 7200
    assert git.clone(path, oauth.token, username="oauth2").returncode == 0
    state.advance(7199)
    assert git.clone(path, oauth.token, username="oauth2").returncode == 0
    state.advance(1)
    done = git.clone(path, oauth.token, username="oauth2")
    assert done.returncode != 0 and DENIED in done.stderr


def test_pat_expiring_today_is_refused(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"dave": "developer"})
    today = dt.datetime.now(dt.timezone.utc).date()
    pat = state.create_pat("dave", ["read_repository"], expires_at=today)
    done = git.clone(path, pat.token)
    assert done.returncode != 0 and DENIED in done.stderr


def test_pat_stops_at_midnight_utc_of_its_expiry_date(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"dave2": "developer"})
    start = dt.datetime(2030, 5, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    state.set_clock(lambda: start)
    pat = state.create_pat("dave2", ["read_repository"], expires_at=dt.date(2030, 6, 1))
    assert git.clone(path, pat.token).returncode == 0
    state.advance(1)  # 2030-06-01T00:00:00Z
    done = git.clone(path, pat.token)
    assert done.returncode != 0 and DENIED in done.stderr


def test_revoked_pat_is_refused(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"erin": "developer"})
    pat = state.create_pat("erin", ["read_repository"])
    assert git.clone(path, pat.token).returncode == 0
    state.revoke(pat)
    done = git.clone(path, pat.token)
    assert done.returncode != 0 and DENIED in done.stderr


def test_no_membership_is_404(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"frank": "developer"})
    state.add_user("mallory")
    pat = state.create_pat("mallory", ["api"])
    done = git.clone(path, pat.token)
    assert done.returncode != 0
    assert "could not be found or you don't have permission to view it" in done.stderr
    assert DENIED not in done.stderr


def test_anonymous_clone_public_yes_private_no(git, gitlab, state):
    public = f"group/{unique()}"
    private = f"group/{unique()}"
    state.add_project(public, visibility="public")
    state.add_project(private)
    assert git.clone(public).returncode == 0
    done = git.clone(private)
    assert done.returncode != 0
    # No credential helper and no terminal: git gives up after the challenge.
    assert "terminal prompts disabled" in done.stderr or DENIED in done.stderr
    denied = gitlab.requests.filter(path=f"/{private}.git/info/refs", status=401)
    assert denied and denied[0].password is None


def test_clone_without_dot_git_follows_redirect(git, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"gina": "reporter"})
    pat = state.create_pat("gina", ["read_api"])  # read_api also allows cloning
    done = git.clone(path, pat.token, suffix="")
    assert done.returncode == 0, done.stderr


def test_request_log_records_host_and_where_tokens_went(git, gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"hank": "developer"})
    pat = state.create_pat("hank", ["read_repository"])
    gitlab.requests.clear()
    assert git.clone(path, pat.token, host=EVIL).returncode == 0
    carried = gitlab.requests.carrying(pat.token)
    assert carried and {r.hostname for r in carried} == {EVIL}
    assert all(r.host == f"{EVIL}:{gitlab.port}" and r.scheme == "https" for r in carried)
    assert all(r.username == "x" and r.password == pat.token for r in carried)
    # The token must never show up in a printed record.
    assert pat.token not in repr(gitlab.requests.snapshot())
    assert pat.token not in repr(pat)


# --- HTTP details --------------------------------------------------------------------


def test_401_response_shape(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path)
    r = requests.get(f"{gitlab.url_for('localhost')}/{path}.git/info/refs",
                     params={"service": "git-upload-pack"}, verify=gitlab.ca.ca_file, timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="GitLab"'
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text.startswith(DENIED)
    assert "/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied" in r.text


def test_reporter_push_and_guest_fetch_are_403(gitlab, state):
    path = f"group/{unique()}"
    state.add_project(path, members={"rita": "reporter", "gus": "guest"})
    reporter = state.create_pat("rita", ["api"])
    guest = state.create_pat("gus", ["api"])
    url = f"{gitlab.url_for('localhost')}/{path}.git/info/refs"
    ca = gitlab.ca.ca_file
    r = requests.get(url, params={"service": "git-receive-pack"}, auth=("rita", reporter.token), verify=ca)
    assert (r.status_code, r.text) == (403, "You are not allowed to push code to this project.")
    r = requests.get(url, params={"service": "git-upload-pack"}, auth=("gus", guest.token), verify=ca)
    assert (r.status_code, r.text) == (403, "You are not allowed to download code from this project.")
    r = requests.get(url, params={"service": "git-upload-pack"}, auth=("rita", reporter.token), verify=ca)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"


def test_api_404_custom_route_and_plain_http_listener(gitlab):
    ca = gitlab.ca.ca_file
    r = requests.get(f"{gitlab.url_for('localhost')}/api/v4/nothing-here", verify=ca)
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}

    gitlab.router.add("GET", r"/api/v4/test-echo/(?P<word>\w+)",
                      lambda request, m: Response.json(200, {"word": m["word"], "scheme": request.scheme}))
    with requests.Session() as session:  # two requests on one kept-alive connection
        for _ in range(2):
            r = session.get(f"{gitlab.url_for('localhost')}/api/v4/test-echo/hi", verify=ca)
            assert r.json() == {"word": "hi", "scheme": "https"}
    r = requests.get(f"{gitlab.http_url_for('localhost')}/api/v4/test-echo/plain",
                     headers={"PRIVATE-TOKEN": "glpat-sent-over-http"})
    assert r.json() == {"word": "plain", "scheme": "http"}
    leaked = gitlab.requests.carrying("glpat-sent-over-http")
    assert [(rec.scheme, rec.path) for rec in leaked] == [("http", "/api/v4/test-echo/plain")]


def test_connections_are_counted_at_the_server(gitlab):
    """Each TCP connection and TLS handshake is counted once, however many requests it
    carries: one session's two requests are one, two sessions' are two."""
    url, ca = f"{gitlab.url_for('localhost')}/api/v4/nothing-here", gitlab.ca.ca_file
    accepted, handshakes = gitlab.connections()
    with requests.Session() as session:
        for _ in range(2):
            assert session.get(url, verify=ca).status_code == 404
    assert gitlab.connections() == (accepted + 1, handshakes + 1)
    for _ in range(2):
        with requests.Session() as session:
            assert session.get(url, verify=ca).status_code == 404
    assert gitlab.connections() == (accepted + 3, handshakes + 3)
    with socket.create_connection(("127.0.0.1", gitlab.port)) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\n\r\n")   # plain http to the TLS port: no handshake
        try:
            plain.recv(100)      # the server closes it (a reset, or an end of file)
        except ConnectionResetError:
            pass
    assert gitlab.connections() == (accepted + 4, handshakes + 3)


def test_refused_chunked_post_still_gets_its_answer(gitlab, state):
    """A 401 to a large chunked POST: the body is read away, the connection stays usable."""
    path = f"group/{unique()}"
    state.add_project(path)
    url = f"{gitlab.url_for('localhost')}/{path}.git/git-receive-pack"

    def body():
        for _ in range(30):
            yield os.urandom(100_000)

    with requests.Session() as session:
        r = session.post(url, data=body(), auth=("x", "wrong"), verify=gitlab.ca.ca_file)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="GitLab"'
        r = session.post(url, data=b"0000", auth=("x", "wrong"), verify=gitlab.ca.ca_file)
        assert r.status_code == 401
    assert gitlab.requests.filter(path=f"/{path}.git/git-receive-pack", chunked=True, status=401)


# --- pure rules and TLS ----------------------------------------------------------------


def test_scope_and_role_rules(state):
    path = f"group/{unique()}"
    project = state.add_project(path, visibility="internal", members={"ivy": "developer"})
    state.add_user("outsider")
    state.add_group("group", members={"grace": "maintainer"})

    def decide(token, command=auth.FETCH, login="x"):
        identity = auth.find_for_git_client(state, login, token.token, project)
        if identity is None:
            return 401
        denial = auth.check_git_access(state, identity, project, command)
        return denial.status if denial else 200

    assert decide(state.create_pat("ivy", ["read_user"])) == 403  # no git ability
    assert decide(state.create_pat("ivy", ["read_api"]), auth.PUSH) == 403
    assert decide(state.create_pat("ivy", ["write_repository"]), auth.PUSH) == 200
    assert decide(state.create_pat("outsider", ["read_repository"])) == 200  # internal project
    assert decide(state.create_pat("outsider", ["api"]), auth.PUSH) == 403
    assert decide(state.create_pat("grace", ["api"]), auth.PUSH) == 200  # inherited from group
    assert state.access_level("grace", project) == ACCESS_LEVELS["maintainer"]
    assert decide(state.create_oauth_token("ivy", ["openid"])) == 403  # OAuth without git scope
    state.add_user("pw", password="correct horse")
    assert auth.find_for_git_client(state, "pw", "correct horse", project).kind == "password"
    assert auth.find_for_git_client(state, "pw", "wrong", project) is None
    assert auth.parse_basic_auth("Basic " + "dXNlcg==") is None  # "user": no colon
    assert auth.parse_basic_auth("Bearer abc") is None


def test_token_formats_vary(state):
    state.add_user("tf")
    legacy = state.create_pat("tf", ["api"], routable=False).token
    routable = [state.create_pat("tf", ["api"], routable=True).token for _ in range(8)]
    assert legacy.startswith("glpat-") and len(legacy) == len("glpat-") + 20
    assert all(t.startswith("glpat-") and "." in t for t in routable)
    assert len({len(t) for t in routable}) > 1  # never assume a fixed length


def test_tls_certificate_and_key_files(gitlab, tmp_path):
    ca = TestCA(tmp_path / "ca", names=["extra.example.org", "10.1.2.3"])
    assert stat.S_IMODE(os.stat(ca.key_file).st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(Path(ca.cert_file).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"extra.example.org", "localhost"} <= set(san.get_values_for_type(x509.DNSName))
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"10.1.2.3", "127.0.0.1", "::1"}
    cert_file, key_file = ca.issue(["other.example.org"])
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    # The running server's certificate covers its names and nothing else.
    context = ssl.create_default_context(cafile=gitlab.ca.ca_file)
    for name in HOSTS:
        with socket.create_connection(("127.0.0.1", gitlab.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=name):
                pass
    with socket.create_connection(("127.0.0.1", gitlab.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="gitlab.example.net")
