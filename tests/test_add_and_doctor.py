"""`add` refuses a token pasted where the host goes, and `doctor` only looks (issue 11,
item 9): it never checks, rotates or writes, and asks git in a neutral directory, so the
repository it is run in does not change its answer."""

import datetime
import json
import os
import subprocess

import pytest

from tests.conftest import credhelper, run

PAT = "glpat-addanddoctoraddandd0001"


@pytest.mark.parametrize("host", [
    "glpat-abcdefghijklmnopqrst", "GLPAT-ABCDEFGHIJKLMNOPQRST", "gldt-abcdefghijklmnopqrst",
    "glrt-abcdefghijklmnopqrst", "https://glpat-abcdefghijklmnopqrst/",
    "glpat-abcdefghijklmnopqrst:443",
    "xK9dJq2LmN4pR7sT1vW3",                          # a legacy 20-character token
    "0123456789abcdef0123456789abcdef01234567",      # a hex secret
])
def test_add_refuses_a_token_given_as_the_host_and_never_echoes_it(host):
    done = credhelper("add", host, input=PAT, check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "looks like a token" in done.stderr
    secret = host.split("//")[-1].split(":")[0].strip("/")
    assert secret.lower() not in (done.stdout + done.stderr).lower()
    assert secret[-4:].lower() not in done.stderr.lower()
    assert json.loads(credhelper("status", "--json").stdout) == []


@pytest.mark.parametrize("host", ["localhost:8443", "gitlab", "10.0.0.1", "[::1]:8443",
                                  "gitlab.example.com", "my-gitlab-server-01",
                                  "gitlab-production-server-01", "GitLab.Example.COM"])
def test_add_takes_real_host_names(host):
    credhelper("add", host, "--no-check", input=PAT)
    assert len(json.loads(credhelper("status", "--json").stdout)) == 1


def _repo_with_its_own_helper(tmp_path):
    repo = tmp_path / "repo"
    run("git", "init", "-q", str(repo))
    run("git", "-C", str(repo), "config", "credential.helper", "")
    run("git", "-C", str(repo), "config", "--add", "credential.helper",
        "!f() { echo username=repo; echo password=the-repos-own-secret; }; f")
    return repo


@pytest.mark.parametrize("how", ["cwd", "GIT_DIR"])
def test_doctor_is_read_only_and_asks_git_outside_the_repository(gitlab, gitlab_host, tmp_path,
                                                                 how):
    soon = datetime.date.today() + datetime.timedelta(days=2)
    token = gitlab.state.create_pat("alice", ["api"], expires_at=soon)   # due for rotation
    credhelper("add", gitlab_host, input=token.token)
    credhelper("setup", "git", gitlab_host)
    repo = _repo_with_its_own_helper(tmp_path)
    index = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")
    with open(index, "rb") as handle:
        before = handle.read()
    rotations = gitlab.count("POST", r".*/rotate")
    carried = len(gitlab.requests.carrying(token.token))
    env = dict(os.environ)
    if how == "GIT_DIR":
        env.update(GIT_DIR=str(repo / ".git"), GIT_WORK_TREE=str(repo))
    done = subprocess.run(["credhelper", "doctor"], cwd=repo if how == "cwd" else tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert "git gets credhelper's token" in done.stdout, done.stdout + done.stderr
    assert token.token not in done.stdout + done.stderr
    with open(index, "rb") as handle:
        assert handle.read() == before
    assert gitlab.count("POST", r".*/rotate") == rotations
    assert len(gitlab.requests.carrying(token.token)) == carried
