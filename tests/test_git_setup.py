"""`credhelper setup git` makes credhelper the only helper for its hosts, whatever else
~/.gitconfig holds and in whatever order; a `--path` token added after it turns on
useHttpPath; `doctor` flags what would leak or misroute a token (issue 12, items 2 and 5).

Real git (2.39 here) against the fake GitLab: git hands every successful credential to every
configured helper's `store`, so the proof that credhelper is the only helper is that a real
fetch leaves no ~/.git-credentials behind."""

import itertools
import json
import os

import pytest

from tests.conftest import credhelper, run
from tests.test_git_end_to_end import add, clone_url, commit_and_push, git

_names = itertools.count()

STORE_SECTION = "[credential]\n\thelper = store\n"


def our_section(host, extra=""):
    return '[credential "https://%s"]\n\thelper =\n\thelper = gitlab\n%s' % (host, extra)


def clone_fetch_and_push(gitlab, project, tmp_path):
    checkout = tmp_path / ("checkout%d" % next(_names))
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(checkout))
    git(gitlab, "fetch", "-q", cwd=checkout)
    commit_and_push(gitlab, checkout, "pushed%d" % next(_names))


@pytest.fixture
def pat(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["write_repository"]).token
    add(gitlab_host, token)
    return token


# -- credhelper is the only helper for its hosts ------------------------------------------------

def test_a_global_store_helper_before_the_section_keeps_no_copy(gitlab, gitlab_host, project,
                                                                 pat, home, tmp_path):
    (home / ".gitconfig").write_text(STORE_SECTION)
    credhelper("setup", "git", gitlab_host)
    clone_fetch_and_push(gitlab, project, tmp_path)
    assert not (home / ".git-credentials").exists()
    assert run("git", "config", "--global", "credential.helper").stdout == "store\n"


@pytest.mark.parametrize("options", [(), ("--reset-other-helpers",)])
def test_a_global_store_helper_after_the_section_keeps_no_copy(gitlab, gitlab_host, project,
                                                                pat, home, tmp_path, options):
    """The state issue 12 found: credhelper's reset section first, `store` after it (as
    `git config --global credential.helper store` leaves it on a file without [credential])."""
    (home / ".gitconfig").write_text(our_section(gitlab_host, "\tuseHttpPath = true\n")
                                     + STORE_SECTION)
    credhelper("setup", "git", gitlab_host, *options)
    clone_fetch_and_push(gitlab, project, tmp_path)
    assert not (home / ".git-credentials").exists()
    # the section moved after the store entry, and kept its other keys
    text = (home / ".gitconfig").read_text()
    assert text.index("https://%s" % gitlab_host) > text.index("helper = store")
    key = "credential.https://%s.useHttpPath" % gitlab_host
    assert run("git", "config", "--global", key).stdout == "true\n"
    assert credhelper("setup", "git", gitlab_host).stdout.strip() == \
        "%s: already set up" % gitlab_host


def test_setup_on_a_fresh_home_resets_other_helpers(home):
    credhelper("add", "gitlab.example.com", "--no-check", "--no-setup",
               input="glpat-freshhomefreshhome0001\n")
    done = credhelper("setup", "git", "gitlab.example.com", "--reset-other-helpers")
    assert "helper = gitlab" in done.stdout
    key = "credential.https://gitlab.example.com.helper"
    assert run("git", "config", "--global", "--get-all", key).stdout == "\ngitlab\n"


def test_a_git_config_failure_is_gits_own_message_on_one_line(home):
    credhelper("add", "gitlab.example.com", "--no-check", "--no-setup",
               input="glpat-lockedlockedlocked0001\n")
    (home / ".gitconfig.lock").write_text("")         # another git is writing the file
    done = credhelper("setup", "git", "gitlab.example.com", check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "could not lock config file" in done.stderr and "Traceback" not in done.stderr


# -- a path token added after `setup git` --------------------------------------------------------

def _project_alice_cannot_see(gitlab):
    path = "deploy%d/app" % next(_names)
    gitlab.state.add_project(path)
    return path


def test_a_path_token_added_after_setup_turns_on_use_http_path(gitlab, gitlab_host, pat,
                                                                tmp_path):
    credhelper("setup", "git", gitlab_host)
    project = _project_alice_cannot_see(gitlab)
    deploy = gitlab.state.create_deploy_token(project, ["read_repository"], username="ro-bot")
    done = add(gitlab_host, deploy.token, "--username", "ro-bot", "--path", project)
    assert "credential.https://%s.useHttpPath = true" % gitlab_host in done.stdout
    git(gitlab, "clone", "-q", clone_url(gitlab, project), str(tmp_path / "deployed"))
    assert gitlab.requests.carrying(deploy.token)


def test_a_path_token_when_git_config_cannot_be_written_prints_the_command(gitlab, gitlab_host,
                                                                           pat, home):
    credhelper("setup", "git", gitlab_host)
    (home / ".gitconfig.lock").write_text("")
    done = add(gitlab_host, "gldt-lockedlockedlocked0001", "--username", "bot",
               "--path", "group/project")
    assert "run: git config --global credential.https://%s.useHttpPath true" % gitlab_host \
        in done.stdout


def test_a_path_token_for_a_host_not_set_up_leaves_git_alone(home):
    done = credhelper("add", "gitlab.example.com", "--username", "bot", "--path", "g/p",
                      "--no-setup", input="gldt-notsetupnotsetup0001\n")
    assert "Next: credhelper setup git gitlab.example.com" in done.stdout
    assert not (home / ".gitconfig").exists()


# -- doctor --------------------------------------------------------------------------------------

def test_doctor_flags_a_storage_helper_that_would_keep_a_copy(gitlab_host, pat, home):
    credhelper("setup", "git", gitlab_host)
    with open(home / ".gitconfig", "a") as handle:       # added later, after the section
        handle.write(STORE_SECTION)
    done = credhelper("doctor", check=False)
    assert done.returncode == 1
    assert "git also runs store" in done.stdout and "keeps a copy" in done.stdout
    assert "run credhelper setup git %s" % gitlab_host in done.stdout
    assert not (home / ".git-credentials").exists()       # doctor only looks
    credhelper("setup", "git", gitlab_host)
    assert credhelper("doctor").stdout.rstrip().endswith("ok")


def test_doctor_flags_a_path_token_git_cannot_choose(gitlab_host, pat):
    add(gitlab_host, "gldt-doctorpathdoctorpath01", "--username", "bot", "--path", "g/p")
    credhelper("setup", "git", gitlab_host)
    assert credhelper("doctor").returncode == 0
    run("git", "config", "--global", "--unset", "credential.https://%s.useHttpPath"
        % gitlab_host)
    done = credhelper("doctor", check=False)
    assert done.returncode == 1 and "useHttpPath is off" in done.stdout
    assert "git config --global credential.https://%s.useHttpPath true" % gitlab_host \
        in done.stdout


def test_doctor_shows_each_tokens_state_from_the_last_check(gitlab, gitlab_host, home):
    token = gitlab.state.create_pat("alice", ["read_repository"])
    add(gitlab_host, token.token)
    credhelper("setup", "git", gitlab_host)
    gitlab.state.revoke(token)
    credhelper("status", "--refresh")                    # the server says: revoked
    credhelper("add", gitlab_host, "--no-check", "--path", "g/p",
               input="glpat-neverchecked0000000001\n")
    hints = {row["path"]: row["token"] for row in json.loads(credhelper("status", "--json")
                                                             .stdout)}
    done = credhelper("doctor", check=False)
    assert "%s pat %s as oauth2: revoked (checked " % (gitlab_host, hints[None]) in done.stdout
    assert "%s pat %s (path g/p) as oauth2: unchecked (never checked)" % (
        gitlab_host, hints["g/p"]) in done.stdout
    assert token.token not in done.stdout + done.stderr


# -- the helper list doctor and setup compute is the one git builds -----------------------------

_SECTIONS = ["https://gitlab.example.com:8443", "https://*.example.com:8443",
             "https://git*.example.com:8443", "https://GitLab.Example.com:8443",
             "HTTPS://gitlab.example.com:8443", "https://gitlab.example.com",
             "http://gitlab.example.com:8443", "https://alice@gitlab.example.com:8443",
             "https://gitlab.example.com:8443/group/project", "https://gitlab.example.com:8443/",
             "gitlab.example.com:8443", "gitlab.example.com", "https://example.com:8443",
             "https://gitlab.example.com:443"]


@pytest.mark.parametrize("host", ["gitlab.example.com:8443", "gitlab.example.com"])
def test_the_helper_list_is_the_one_git_runs(home, host):
    from credhelper.clientconfig import git as gitconfig

    text = "[credential]\n\thelper = !true generic\n"
    for number, url in enumerate(_SECTIONS):
        text += '[credential "%s"]\n\thelper = !true s%d\n' % (url, number)
    (home / ".gitconfig").write_text(text)
    traced = run("git", "credential", "fill", check=False, input="protocol=https\nhost=%s\n"
                 % host, env=dict(os.environ, GIT_TRACE="1"))
    ran = [line.split("run_command: '", 1)[1].rsplit(" get'", 1)[0]
           for line in traced.stderr.splitlines() if "run_command: 'true " in line]
    computed = gitconfig.effective_helpers(host, gitconfig.config_entries("--global"))
    assert ran and [h.lstrip("!") for h in computed] == ran
