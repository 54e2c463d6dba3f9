"""Real `git clone` and `git push` over HTTPS against the fake GitLab, with credhelper as the
only credential helper and prompts disabled, once with each store."""

import itertools
import json
import os

import pytest

from tests.conftest import credhelper, run, write_config

_names = itertools.count()


@pytest.fixture(autouse=True)
def api_reachable(gitlab_host):
    """Every test here talks to the fake GitLab's API too (token checks at add and get)."""


def git(gitlab, *args, cwd=None, check=True):
    env = dict(os.environ, **gitlab.git_env())
    return run("git", *gitlab.git_config_args(), *args, check=check, env=env) if cwd is None \
        else run("git", "-C", str(cwd), *gitlab.git_config_args(), *args, check=check, env=env)


def host_of(gitlab, name="gitlab.example.com"):
    return "%s:%d" % (name, gitlab.port)


def clone_url(gitlab, path, name="gitlab.example.com"):
    return "https://%s/%s.git" % (host_of(gitlab, name), path)


def add(host, token, *options):
    return credhelper("add", host, *options, input=token + "\n")


def commit_and_push(gitlab, checkout, name, check=True):
    (checkout / name).write_text("change %s\n" % name)
    git(gitlab, "add", name, cwd=checkout)
    git(gitlab, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", name,
        cwd=checkout)
    return git(gitlab, "push", "origin", "HEAD:main", cwd=checkout, check=check)


def server_head(gitlab, path):
    repo = gitlab.state.project(path).repo_path
    return run("git", "--git-dir", str(repo), "log", "-1", "--format=%s", "main").stdout.strip()


def assert_clone_and_push(gitlab, project, tmp_path, label):
    checkout = tmp_path / ("clone-" + label)
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(checkout))
    commit_and_push(gitlab, checkout, "pushed-by-" + label)
    assert server_head(gitlab, project) == "pushed-by-" + label


def test_pat_clones_and_pushes(gitlab, project, tmp_path, store):
    token = gitlab.state.create_pat("alice", ["write_repository"]).token
    add(host_of(gitlab), token)
    credhelper("setup", "git", host_of(gitlab))
    assert_clone_and_push(gitlab, project, tmp_path, "pat")
    assert credhelper("status", "--json").stdout.count('"store": "%s"' % store) == 1


def test_deploy_token_with_custom_username(gitlab, project, tmp_path, store):
    deploy = gitlab.state.create_deploy_token(project, ["read_repository", "write_repository"],
                                              username="release-bot")
    add(host_of(gitlab), deploy.token, "--username", "release-bot")
    credhelper("setup", "git")
    assert_clone_and_push(gitlab, project, tmp_path, "deploy")
    pushes = [r for r in gitlab.requests if r.carries(deploy.token)]
    assert pushes and {r.username for r in pushes} == {"release-bot"}


def test_oauth_token_clones_and_pushes(gitlab, project, tmp_path, store):
    token = gitlab.state.create_oauth_token("alice", ["write_repository"]).token
    add(host_of(gitlab), token, "--kind", "oauth")
    credhelper("setup", "git")
    assert_clone_and_push(gitlab, project, tmp_path, "oauth")
    assert {r.username for r in gitlab.requests
            if r.carries(token) and r.auth_scheme == "Basic"} == {"oauth2"}


def test_job_token_from_the_ci_environment_needs_no_registration(gitlab, project, tmp_path,
                                                                 monkeypatch):
    job = gitlab.state.create_job_token("alice", project)
    monkeypatch.setenv("CI_SERVER_URL", "https://" + host_of(gitlab))
    monkeypatch.setenv("CI_JOB_TOKEN", job.token)
    credhelper("setup", "git", host_of(gitlab))
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "job"))
    assert {r.username for r in gitlab.requests if r.carries(job.token)} == {"gitlab-ci-token"}
    assert not os.path.exists(os.path.expanduser("~/.local/share/credhelper/secrets.json"))


def test_registered_job_token(gitlab, project, tmp_path, store):
    job = gitlab.state.create_job_token("alice", project)
    add(host_of(gitlab), job.token)
    credhelper("setup", "git")
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "job"))
    gitlab.state.finish_job(job)
    failed = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "after"),
                 check=False)
    assert failed.returncode != 0 and "Authentication failed" in failed.stderr


def test_read_only_deploy_token_clones_but_cannot_push(gitlab, project, tmp_path, store):
    deploy = gitlab.state.create_deploy_token(project, ["read_repository"])
    add(host_of(gitlab), deploy.token, "--username", deploy.username,
        "--scopes", "read_repository")
    credhelper("setup", "git")
    checkout = tmp_path / "ro"
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(checkout))
    pushed = commit_and_push(gitlab, checkout, "refused", check=False)
    assert pushed.returncode != 0
    assert "error: 403" in pushed.stderr and "not allowed to" in pushed.stderr
    assert server_head(gitlab, project) != "refused"


def test_push_uses_the_writer_when_a_read_only_token_is_also_registered(gitlab, project,
                                                                         tmp_path, store):
    reader = gitlab.state.create_deploy_token(project, ["read_repository"])
    add(host_of(gitlab), reader.token, "--username", reader.username,
        "--scopes", "read_repository")
    writer = gitlab.state.create_pat("alice", ["write_repository"])
    add(host_of(gitlab), writer.token, "--scopes", "write_repository")
    credhelper("setup", "git")
    assert_clone_and_push(gitlab, project, tmp_path, "writer")


def test_tokens_told_apart_by_path(gitlab, tmp_path, store):
    gitlab.state.add_user("carol") if gitlab.state.find_user("carol") is None else None
    first, second = "paths%d/one" % next(_names), "paths%d/two" % next(_names)
    for path in (first, second):
        gitlab.state.add_project(path)
    one = gitlab.state.create_deploy_token(first, ["read_repository"], username="one-reader")
    two = gitlab.state.create_deploy_token(second, ["read_repository"], username="two-reader")
    add(host_of(gitlab), one.token, "--username", "one-reader", "--path", first, "--no-setup")
    add(host_of(gitlab), two.token, "--username", "two-reader", "--path", second, "--no-setup")
    assert "useHttpPath = true" in credhelper("setup", "git").stdout
    git(gitlab, "clone", "-q", clone_url(gitlab, first), str(tmp_path / "one"))
    git(gitlab, "clone", "-q", clone_url(gitlab, second), str(tmp_path / "two"))
    assert not any(r.carries(one.token) for r in gitlab.requests if second in r.path)
    assert not any(r.carries(two.token) for r in gitlab.requests if first in r.path)


# -- never hand one host's credential to another ---------------------------------------------

@pytest.fixture
def helper_for_every_host(gitlab, project):
    """A PAT for gitlab.example.com:PORT, and git asking credhelper for *every* host, so the
    helper's own host check is what stands between the token and the wrong server."""
    token = gitlab.state.create_pat("alice", ["write_repository"]).token
    add(host_of(gitlab), token)
    run("git", "config", "--global", "credential.helper", "gitlab")
    return token


@pytest.mark.parametrize("url", [
    "https://gitlab.example.com.evil.test:{port}/{project}.git",
    "https://other.example.com:{port}/{project}.git",
    "http://gitlab.example.com:{http_port}/{project}.git",
])
def test_token_never_sent_to_another_host_or_over_http(gitlab, project, tmp_path, url,
                                                       helper_for_every_host):
    target = url.format(port=gitlab.port, http_port=gitlab.http_port, project=project)
    before = len(gitlab.requests)
    failed = git(gitlab, "clone", "-q", target, str(tmp_path / "x"), check=False)
    assert failed.returncode != 0
    seen = list(gitlab.requests)[before:]
    assert seen, "the clone must have reached the server"
    assert not any(r.carries(helper_for_every_host) for r in seen)
    # and the right host still works with the same configuration
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "ok"))


def test_token_for_one_port_is_not_sent_to_another_port(gitlab, project, tmp_path,
                                                        helper_for_every_host,
                                                        tmp_path_factory):
    from tests.fake_gitlab import FakeGitLab

    with FakeGitLab(tmp_path / "second", gitlab.ca, hostnames=("gitlab.example.com",)) as other:
        other.state.add_user("alice")
        other.state.add_project(project, members={"alice": "developer"})
        url = "https://gitlab.example.com:%d/%s.git" % (other.port, project)
        failed = git(other, "clone", "-q", url, str(tmp_path / "x"), check=False)
        assert failed.returncode != 0 and len(other.requests) > 0
        assert not any(r.carries(helper_for_every_host) for r in other.requests)


def test_http_only_when_the_user_allowed_it(gitlab, project, tmp_path):
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    http_host = "gitlab.example.com:%d" % gitlab.http_port
    add(http_host, token)
    run("git", "config", "--global", "credential.helper", "gitlab")
    url = "http://%s/%s.git" % (http_host, project)
    refused = git(gitlab, "clone", "-q", url, str(tmp_path / "refused"), check=False)
    assert refused.returncode != 0
    assert "over plain http" in refused.stderr
    write_config(tmp_path / "home", '[hosts."%s"]\nallow_http = true\n' % http_host)
    git(gitlab, "clone", "-q", url, str(tmp_path / "allowed"))


def test_push_right_when_the_token_is_due_for_rotation(gitlab, project, tmp_path, store):
    """git asks for a credential, the helper rotates the expiring token on the way, the push
    succeeds with the new token, and the store holds the new one afterwards."""
    import datetime
    import json

    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    old = gitlab.state.create_pat("alice", ["api"], expires_at=tomorrow)
    add(host_of(gitlab), old.token)
    credhelper("setup", "git")
    checkout = tmp_path / "due"
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(checkout))   # rotates here
    new = gitlab.state.descendants(old)
    assert len(new) == 1 and gitlab.state.is_active(new[0])
    assert not gitlab.state.is_active(gitlab.state.find_token(old.token))
    commit_and_push(gitlab, checkout, "pushed-after-rotation")
    assert server_head(gitlab, project) == "pushed-after-rotation"
    pushes = [r for r in gitlab.requests if r.path.endswith("git-receive-pack")
              and r.method == "POST"]
    assert pushes[-1].carries(new[0].token)
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert row["token"].endswith(new[0].token[-4:]) and row["store"] == store


def test_a_fine_grained_pat_clones_and_pushes(gitlab, project, gitlab_host, tmp_path):
    """Fine-grained PATs report scopes ["granular"]: their permissions are not in the scopes,
    so credhelper must still hand them to git (issue 10, GitLab of 2025-2026)."""
    token = gitlab.state.create_pat("alice", ["granular"], granular=True,
                                    permissions={"code_download", "code_push"})
    add(gitlab_host, token.token)
    assert credhelper("status", "--json").stdout.count('"granular"') == 1   # checked
    credhelper("setup", "git", gitlab_host)
    assert_clone_and_push(gitlab, project, tmp_path, "granular")


def test_a_revoked_deploy_token_is_named_after_git_refuses_it(gitlab, project, tmp_path):
    """Deploy tokens have no self endpoint: after git's rejection the registry's token
    service tells whether GitLab still accepts it (issue 10)."""
    deploy = gitlab.state.create_deploy_token(project, ["read_repository"],
                                              username="ci-reader")
    add(host_of(gitlab), deploy.token, "--username", "ci-reader")
    credhelper("setup", "git")
    git(gitlab, "ls-remote", clone_url(gitlab, project))
    gitlab.state.revoke(deploy)
    first = git(gitlab, "ls-remote", clone_url(gitlab, project), check=False)
    assert first.returncode != 0                       # git refused it, and said erase
    second = git(gitlab, "ls-remote", clone_url(gitlab, project), check=False)
    assert second.returncode != 0
    assert "GitLab refuses the deploy token" in second.stderr
    assert deploy.token not in second.stderr
    assert json.loads(credhelper("status", "--json").stdout)[0]["state"] == "revoked"


def test_a_deploy_token_git_refused_once_but_still_valid_stays(gitlab, project, tmp_path):
    deploy = gitlab.state.create_deploy_token(project, ["read_repository"],
                                              username="flaky-reader")
    add(host_of(gitlab), deploy.token, "--username", "flaky-reader")
    credhelper("setup", "git")
    run("git-credential-gitlab", "erase", input="protocol=https\nhost=%s\nusername=flaky-reader"
        "\npassword=%s\n" % (host_of(gitlab), deploy.token))
    git(gitlab, "ls-remote", clone_url(gitlab, project))
    assert json.loads(credhelper("status", "--json").stdout)[0]["state"] == "ok"
