"""A rejection always gets an answer (issue 12, item 3): a token git was refused is checked
again at the next ``get`` even inside a backoff, and a revoked or expired token that matched is
named on stderr with the command to run, also when another token answers in its place (git
itself then only says "repository not found")."""

import itertools
import json

import pytest

from tests.conftest import credhelper
from tests.test_git_end_to_end import add, clone_url, git, host_of
from tests.test_git_protocol import call, helper, pat

CHECKED = {"checked_at": 1_700_000_000, "next_check_at": 1_800_000_000}   # no check due
SELF = "/api/v4/personal_access_tokens/self"
_users = itertools.count()


@pytest.fixture
def api_reachable(gitlab_host, gitlab):
    """Token checks at add and get reach the fake GitLab's API; no fault outlives a test."""
    yield
    gitlab.faults.clear()


def self_calls(gitlab):
    return sum(1 for r in gitlab.requests if r.method == "GET" and r.path == SELF)


def test_a_revoked_path_token_is_named_when_another_token_answers(gitlab, project, tmp_path,
                                                                 api_reachable):
    host = host_of(gitlab)
    outsider = "outsider%d" % next(_users)
    gitlab.state.add_user(outsider)                  # no access to the project
    project_token = gitlab.state.create_project_access_token(project, ["read_repository"])
    add(host, project_token.token, "--path", project)
    add(host, gitlab.state.create_pat(outsider, ["read_repository"]).token)
    credhelper("setup", "git")                       # turns on useHttpPath for the path token
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "first"))
    gitlab.state.revoke(project_token)
    refused = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "second"),
                  check=False)
    assert refused.returncode != 0 and "refused the access token" in refused.stderr
    # the next get checks it, finds it revoked, and the outsider's token answers: git says
    # only "not found", so credhelper names the revoked one and what to run
    fallback = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "third"),
                   check=False)
    assert fallback.returncode != 0
    assert "was revoked on the server" in fallback.stderr
    assert "credhelper add %s --path %s" % (host, project) in fallback.stderr
    assert "answers instead" in fallback.stderr
    assert "credhelper remove %s --path %s" % (host, project) in fallback.stderr
    assert project_token.token not in fallback.stderr


def test_an_expired_path_token_is_named_when_a_host_wide_token_answers(tmp_path):
    service, warnings = helper(tmp_path, [
        pat(id="old", path="group/app", expires_at="2023-11-01", hint="glpat-…old1", **CHECKED),
        pat(id="new", hint="glpat-…new2", **CHECKED)])
    code, out = call(service, "get", "protocol=https\nhost=gitlab.example.com\n"
                                     "path=group/app.git\n")
    assert code == 0 and "password=" in out
    (line,) = warnings
    assert "glpat-…old1" in line and "expired on 2023-11-01" in line
    assert "credhelper add gitlab.example.com --path group/app" in line
    assert "glpat-…new2 answers instead" in line


def test_no_line_when_every_matching_token_is_fine(tmp_path):
    service, warnings = helper(tmp_path, [pat(id="a", path="group/app", **CHECKED),
                                          pat(id="b", **CHECKED)])
    call(service, "get", "protocol=https\nhost=gitlab.example.com\npath=group/app.git\n")
    assert warnings == []


def test_a_refused_token_is_checked_inside_a_backoff_and_the_line_says_what_to_run(
        gitlab, project, tmp_path, api_reachable):
    host = host_of(gitlab)
    token = gitlab.state.create_pat("alice", ["read_repository"])
    add(host, token.token)
    credhelper("setup", "git")
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "first"))
    gitlab.faults.status("GET", SELF, 503)
    credhelper("status", "--refresh")                # one transient error: a backoff starts
    gitlab.state.revoke(token)
    refused = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "second"),
                  check=False)
    assert refused.returncode != 0 and "refused the access token" in refused.stderr
    # the API is still down: the rejection is checked at once anyway, and the line that says
    # the check failed also says what to run
    gitlab.faults.status("GET", SELF, 503)
    before = self_calls(gitlab)
    down = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "third"),
               check=False)
    assert self_calls(gitlab) == before + 1
    assert down.returncode != 0
    assert "could not check the access token glpat-…" in down.stderr
    assert "create a new one and run: credhelper add %s" % host in down.stderr
    assert "credhelper status --refresh" in down.stderr
    # the API is back: the very next get learns the truth, inside the new backoff too
    back = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "fourth"),
               check=False)
    assert back.returncode != 0
    assert "was revoked on the server; create a new one and run: credhelper add %s" % host \
        in back.stderr
    assert token.token not in refused.stderr + down.stderr + back.stderr


def test_the_command_a_revoked_path_token_names_replaces_it(gitlab, project, tmp_path,
                                                            api_reachable):
    """A new project access token belongs to a new bot user, so it is never the old one's
    account: the revoked one must still give way, or every fetch names it again and the
    `credhelper remove --path` that line suggests takes the new token too."""
    host = host_of(gitlab)
    old = gitlab.state.create_project_access_token(project, ["read_repository"])
    add(host, old.token, "--path", project)
    credhelper("setup", "git")
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "first"))
    gitlab.state.revoke(old)
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "refused"),
        check=False)
    told = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "told"),
               check=False)
    command = "credhelper add %s --path %s" % (host, project)
    assert command in told.stderr
    (dead,) = json.loads(credhelper("status", "--json").stdout)
    assert dead["state"] == "revoked" and dead["next"].endswith(command), dead
    new = gitlab.state.create_project_access_token(project, ["read_repository"])
    added = add(host, new.token, "--path", project)       # what the line says to run
    assert added.stdout.startswith("Replaced glpat-…%s with" % old.token[-4:]), added.stdout
    assert "may still work" not in added.stdout
    fetched = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "again"))
    assert fetched.stderr == ""
    rows = json.loads(credhelper("status", "--json").stdout)
    assert [(r["path"], r["state"]) for r in rows] == [(project, "ok")]
