"""Issue 12, "Done means": two accounts and a read-only project deploy token on one host, set
up on a fresh HOME with README's commands only (`credhelper add`, `credhelper setup git`), then
real `git clone` and `git push` against the fake GitLab over HTTPS.

Which token answered is read from the fake's request log: every request git made for the
project, and the token it carried.  README, "Which token answers", is the rule proved here.
"""

import itertools
import json
import os
from dataclasses import dataclass

import pytest

from tests.conftest import credhelper, run

_numbers = itertools.count(1)


@dataclass
class Setup:
    host: str
    project: str
    alice: str
    bob: str
    alice_token: str
    bob_token: str
    deploy_user: str
    deploy_token: str
    add_deploy: str          # what `credhelper add --path` printed
    owner_known: bool        # the PATs may read their owner's name (GET /user)

    def tokens(self):
        return {self.alice: self.alice_token, self.bob: self.bob_token,
                self.deploy_user: self.deploy_token}


# read_api lets `add` learn the owner's name (GET /user); a PAT with only write_repository
# cannot, so README's `--username NAME` names its account (and is checked when it can be)
ACCOUNTS = {"owner-read-by-add": (["read_api", "write_repository"], False),
            "username-given": (["write_repository"], True)}


@pytest.fixture(params=sorted(ACCOUNTS))
def setup(request, gitlab, gitlab_host):
    """README's steps on this test's fresh HOME: alice's PAT, bob's PAT as the host's default
    account (added second, so insertion order would pick alice), `setup git`, then the
    project's read-only deploy token with `--path` (which turns on useHttpPath)."""
    scopes, given = ACCOUNTS[request.param]
    number = next(_numbers)
    alice, bob = "alice-rs%d" % number, "bob-rs%d" % number
    project = "group-rs%d/project" % number
    gitlab.state.add_project(project, members={alice: "developer", bob: "developer"})
    alice_token = gitlab.state.create_pat(alice, scopes, name="laptop-" + alice).token
    bob_token = gitlab.state.create_pat(bob, scopes, name="laptop-" + bob).token
    deploy_user = "reader-rs%d" % number
    deploy = gitlab.state.create_deploy_token(project, ["read_repository"], username=deploy_user)
    credhelper("add", gitlab_host, *(["--username", alice] if given else []), input=alice_token)
    credhelper("add", gitlab_host, "--default", *(["--username", bob] if given else []),
               input=bob_token)
    credhelper("setup", "git", gitlab_host)
    done = credhelper("add", gitlab_host, "--path", project, "--username", deploy_user,
                      "--scopes", "read_repository", input=deploy.token)
    return Setup(gitlab_host, project, alice, bob, alice_token, bob_token, deploy_user,
                 deploy.token, done.stdout + done.stderr, not given)


def _git(gitlab, *args, cwd=None, check=True):
    env = dict(os.environ, **gitlab.git_env())
    where = ["-C", str(cwd)] if cwd else []
    return run("git", *where, *gitlab.git_config_args(), *args, check=check, env=env)


def _url(setup, user=None):
    return "https://%s%s/%s.git" % (user + "@" if user else "", setup.host, setup.project)


def _who(gitlab, setup, since):
    """Whose token each authenticated git request for the project carried, since request
    number ``since`` (git's first request of a clone carries none: the 401 asks for one)."""
    names = []
    for request in list(gitlab.requests)[since:]:
        if not request.path.startswith("/%s.git/" % setup.project) or not request.secrets:
            continue
        names.append([name for name, token in setup.tokens().items()
                      if request.carries(token)] or ["(another credential)"])
    return names


def _only(gitlab, setup, since, name):
    """Every authenticated request since ``since`` carried ``name``'s token, and there was one."""
    seen = _who(gitlab, setup, since)
    assert seen and all(names == [name] for names in seen), seen


def _clone(gitlab, setup, user, checkout):
    before = len(gitlab.requests)
    _git(gitlab, "clone", "-q", _url(setup, user), str(checkout))
    return before


def _push(gitlab, checkout, label, check=True):
    (checkout / label).write_text(label + "\n")
    _git(gitlab, "add", label, cwd=checkout)
    _git(gitlab, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", label,
         cwd=checkout)
    return _git(gitlab, "push", "-q", "origin", "HEAD:main", cwd=checkout, check=check)


def _server_head(gitlab, setup):
    repo = gitlab.state.project(setup.project).repo_path
    return run("git", "--git-dir", str(repo), "log", "-1", "--format=%s", "main").stdout.strip()


def test_each_users_url_clones_and_pushes_with_that_users_token(gitlab, setup, tmp_path):
    for user in (setup.alice, setup.bob):
        checkout = tmp_path / user
        _only(gitlab, setup, _clone(gitlab, setup, user, checkout), user)
        before = len(gitlab.requests)
        _push(gitlab, checkout, "by-" + user)
        _only(gitlab, setup, before, user)
        assert _server_head(gitlab, setup) == "by-" + user


def test_a_url_with_no_user_gets_the_hosts_default_account(gitlab, setup, tmp_path):
    checkout = tmp_path / "default"
    _only(gitlab, setup, _clone(gitlab, setup, None, checkout), setup.bob)
    before = len(gitlab.requests)
    _push(gitlab, checkout, "by-default")
    _only(gitlab, setup, before, setup.bob)
    assert _server_head(gitlab, setup) == "by-default"


def test_the_deploy_token_fetches_its_project_when_it_is_the_only_match(gitlab, setup,
                                                                         tmp_path):
    checkout = tmp_path / "deploy"
    _only(gitlab, setup, _clone(gitlab, setup, setup.deploy_user, checkout), setup.deploy_user)
    before = len(gitlab.requests)
    _git(gitlab, "fetch", "-q", "origin", cwd=checkout)
    _only(gitlab, setup, before, setup.deploy_user)
    # read-only as it was added: GitLab refuses its push, and no user's token steps in
    before = len(gitlab.requests)
    refused = _push(gitlab, checkout, "by-deploy", check=False)
    assert refused.returncode != 0 and _server_head(gitlab, setup) != "by-deploy"
    _only(gitlab, setup, before, setup.deploy_user)


def test_alices_push_on_the_deploy_tokens_project_uses_her_write_token(gitlab, setup, tmp_path):
    # the deploy token is the most specific match for the path: it must still not answer
    assert "useHttpPath" in setup.add_deploy, setup.add_deploy
    checkout = tmp_path / "alice"
    _only(gitlab, setup, _clone(gitlab, setup, setup.alice, checkout), setup.alice)
    before = len(gitlab.requests)
    _push(gitlab, checkout, "alice-beside-deploy")
    _only(gitlab, setup, before, setup.alice)
    assert _server_head(gitlab, setup) == "alice-beside-deploy"


def test_status_tells_the_accounts_apart(gitlab, setup):
    rows = json.loads(credhelper("status", setup.host, "--json").stdout)
    ids = {name: gitlab.state.user(name).id for name in (setup.alice, setup.bob)}
    # the owner is what the server said: its username when the token may read it, else its
    # user id (a --username the server could not confirm shows as the USERNAME, not as owner)
    owner = {name: name if setup.owner_known else "user %d" % ids[name] for name in ids}
    accounts = {(r["owner"], r["user_id"], r["kind"], r["path"], r["default"]) for r in rows}
    assert accounts == {(owner[setup.alice], ids[setup.alice], "pat", None, False),
                        (owner[setup.bob], ids[setup.bob], "pat", None, True),
                        (setup.deploy_user, None, "deploy", setup.project, False)}, rows
    if not setup.owner_known:        # the name given at add is the login git sends
        assert {r["owner"]: r["username"] for r in rows if r["kind"] == "pat"} == {
            owner[name]: name for name in ids}
    table = credhelper("status", setup.host, "--table").stdout.splitlines()
    start, end = table[0].index("ACCOUNT"), table[0].index("KIND")
    assert sorted(line[start:end].strip() for line in table[1:]) == sorted(
        [owner[setup.alice], owner[setup.bob] + " (default)", setup.deploy_user]), table
    for token in setup.tokens().values():
        assert token not in "\n".join(table) + json.dumps(rows)
