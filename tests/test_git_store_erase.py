"""git's `store` and `erase` through the real git: what git learns elsewhere is kept for known
hosts, and a rejection never silently throws away a token the user registered."""

import json
import os

from tests.conftest import credhelper, run
from tests.test_git_end_to_end import add, clone_url, git, host_of


def test_rejected_token_is_kept_marked_for_recheck_and_the_user_is_told(gitlab, project,
                                                                       tmp_path, store):
    pat = gitlab.state.create_pat("alice", ["read_repository"])
    add(host_of(gitlab), pat.token)
    credhelper("setup", "git")
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "first"))
    gitlab.state.revoke(pat)
    failed = git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "second"),
                 check=False)
    assert failed.returncode != 0
    assert "refused the access token glpat-…" in failed.stderr
    assert "credhelper remove %s" % host_of(gitlab) in failed.stderr
    assert pat.token not in failed.stderr
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert row["state"] == "needs-check"


def test_store_keeps_what_another_helper_supplied_for_a_known_host(gitlab, project, tmp_path,
                                                                   monkeypatch):
    pat = gitlab.state.create_pat("alice", ["read_repository"])
    config = tmp_path / "home" / ".config" / "credhelper" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[hosts."%s"]\n' % host_of(gitlab))
    monkeypatch.setenv("SUPPLIED", pat.token)
    # credhelper first (it has nothing yet), then a helper that knows the token
    run("git", "config", "--global", "--add", "credential.helper", "gitlab")
    run("git", "config", "--global", "--add", "credential.helper",
        '!f() { test "$1" = get && echo username=alice && echo "password=$SUPPLIED"; }; f')
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "first"))
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert (row["origin"], row["username"], row["kind"]) == ("git", "alice", "pat")
    # now only credhelper: it serves what git stored
    run("git", "config", "--global", "--unset-all", "credential.helper")
    run("git", "config", "--global", "credential.helper", "gitlab")
    monkeypatch.delenv("SUPPLIED")
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "second"))


def test_store_ignores_unknown_hosts(gitlab, project, tmp_path, monkeypatch):
    pat = gitlab.state.create_pat("alice", ["read_repository"])
    monkeypatch.setenv("SUPPLIED", pat.token)
    run("git", "config", "--global", "--add", "credential.helper", "gitlab")
    run("git", "config", "--global", "--add", "credential.helper",
        '!f() { test "$1" = get && echo username=alice && echo "password=$SUPPLIED"; }; f')
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "first"))
    assert json.loads(credhelper("status", "--json").stdout) == []
    assert not os.path.exists(os.path.join(os.environ["XDG_DATA_HOME"], "credhelper",
                                           "secrets.json"))
