"""One step in, one step out (issue 13, items 2 and 3): `credhelper login` and `add` set git (and
docker, for a known registry) up for the host; `credhelper logout` revokes when asked, forgets
the token and, once the host has none left, leaves ~/.gitconfig and docker's config.json byte
for byte as they were before; `credhelper uninstall` does it for every host.  Real
`credhelper` and git against the fake GitLab over HTTPS; the terminal is a real pty."""

import json

import pytest

from tests.conftest import credhelper, run
from tests.test_accounts import _new_user, _status
from tests.test_replacing import Terminal

SELF = r"/api/v4/personal_access_tokens/self"
REGISTRY = "registry.example.com"
# the user's own configuration, as git and docker write it (docker: tabs, no final newline)
GITCONFIG = "[user]\n\tname = Ann\n# my helpers\n[credential]\n\thelper = cache\n" \
            "[alias]\n\tco = checkout\n"
DOCKER = '{\n\t"auths": {\n\t\t"ghcr.io": {\n\t\t\t"auth": "eDp5"\n\t\t}\n\t},\n' \
         '\t"credsStore": "desktop"\n}'


pytestmark = pytest.mark.usefixtures("gitlab_restored")


@pytest.fixture
def own_files(home):
    """~/.gitconfig and ~/.docker/config.json with the user's unrelated content."""
    (home / ".gitconfig").write_text(GITCONFIG)
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(DOCKER)
    return lambda: ((home / ".gitconfig").read_bytes(),
                    (home / ".docker" / "config.json").read_bytes())


def _pat(gitlab):
    return gitlab.state.create_pat(_new_user(gitlab), ["api"])


def _helpers(host):
    done = run("git", "config", "--global", "--get-all", "credential.https://%s.helper" % host,
               check=False)
    return done.stdout.splitlines()


def _add(host, token, *options):
    return credhelper("add", host, "--registry", REGISTRY, *options, input=token.token)


# --- one step: add and login set the clients up ---------------------------------------------

def test_add_sets_up_git_and_docker_one_line_per_file(gitlab, gitlab_host, own_files, home):
    done = _add(gitlab_host, _pat(gitlab))
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[2:]] == ["~/.gitconfig", "~/.docker/config.json"]
    assert _helpers(gitlab_host) == ["", "gitlab"]
    docker = json.loads((home / ".docker" / "config.json").read_text())
    assert docker["credHelpers"] == {REGISTRY: "gitlab"} and docker["credsStore"] == "desktop"
    assert "Next:" not in done.stdout
    again = _add(gitlab_host, _pat(gitlab), "--keep-replaced")
    assert "~/.gitconfig" not in again.stdout and "config.json" not in again.stdout


def test_login_sets_up_git_for_git_itself_and_logout_undoes_it(gitlab, gitlab_host, own_files):
    before = own_files()
    token = _pat(gitlab)
    done = credhelper("login", gitlab_host, "--pat", input=token.token)
    assert "~/.gitconfig: credential.https://%s.helper = gitlab" % gitlab_host in done.stdout
    fill = run("git", "credential", "fill", input="protocol=https\nhost=%s\n\n" % gitlab_host)
    assert "password=%s" % token.token in fill.stdout.splitlines()
    credhelper("logout", gitlab_host, "--revoke")
    assert token.revoked and own_files() == before


@pytest.mark.parametrize("how", ["--no-setup", "--kind job", "CI"])
def test_no_setup_a_job_token_or_a_ci_job_leave_git_alone(gitlab_host, own_files, how,
                                                          monkeypatch):
    options, token = [], "glpat-leavealoneleavealone01"
    if how == "CI":
        monkeypatch.setenv("CI", "true")
    elif how == "--kind job":
        options, token = ["--kind", "job"], "glcbt-64_leavealoneleavealone01"
    else:
        options = [how]
    before = own_files()
    done = credhelper("add", gitlab_host, "--no-check", "--registry", REGISTRY, *options,
                      input=token)
    assert own_files() == before
    assert "Next: credhelper setup git %s" % gitlab_host in done.stdout


# --- logout -----------------------------------------------------------------------------------

def test_logout_revoke_leaves_both_files_as_they_were_before(gitlab, gitlab_host, own_files):
    before = own_files()
    token = _pat(gitlab)
    _add(gitlab_host, token, "--path", "team/app")       # useHttpPath set by credhelper too
    assert own_files() != before
    done = credhelper("logout", gitlab_host, "--revoke")
    assert token.revoked
    assert own_files() == before
    assert "Revoked the access token" in done.stdout and token.token not in done.stdout
    assert "~/.gitconfig: removed" in done.stdout and "~/.docker/config.json: removed" \
        in done.stdout
    assert _status(gitlab_host) == [] and done.stderr == ""


def test_logout_without_a_terminal_keeps_the_token_and_says_so_in_one_line(gitlab, gitlab_host,
                                                                           own_files):
    before = own_files()
    token = _pat(gitlab)
    _add(gitlab_host, token)
    done = credhelper("logout", gitlab_host)
    assert not token.revoked and own_files() == before
    kept = [line for line in done.stdout.splitlines() if line.startswith("Kept")]
    assert len(kept) == 1 and "--revoke" in kept[0] and "nothing here holds it" in kept[0]
    assert token.token[-4:] in kept[0] and token.token not in done.stdout


def test_a_users_own_helper_for_the_host_comes_back(gitlab, gitlab_host, home):
    mine = GITCONFIG + '[credential "https://%s"]\n\thelper = store\n' % gitlab_host
    (home / ".gitconfig").write_text(mine)
    _add(gitlab_host, _pat(gitlab))
    assert _helpers(gitlab_host) == ["", "gitlab"]
    done = credhelper("logout", gitlab_host, "--keep")
    assert (home / ".gitconfig").read_text() == mine
    assert "helper = store again" in done.stdout


def test_files_credhelper_created_are_removed_again(gitlab, gitlab_host, home):
    _add(gitlab_host, _pat(gitlab))
    assert (home / ".gitconfig").exists() and (home / ".docker" / "config.json").exists()
    credhelper("logout", gitlab_host, "--keep")
    assert not (home / ".gitconfig").exists()
    assert not (home / ".docker" / "config.json").exists()


def test_logout_of_one_path_keeps_git_set_up_for_the_hosts_other_token(gitlab, gitlab_host,
                                                                       own_files):
    first, second = _pat(gitlab), _pat(gitlab)
    _add(gitlab_host, first)
    _add(gitlab_host, second, "--path", "team/app")
    done = credhelper("logout", gitlab_host, "--path", "team/app", "--revoke")
    assert second.revoked and not first.revoked
    assert _helpers(gitlab_host) == ["", "gitlab"]
    assert "stay set up for %s" % gitlab_host in done.stdout
    assert [r["token"][-4:] for r in _status(gitlab_host)] == [first.token[-4:]]


def test_a_failed_revocation_forgets_nothing(gitlab, gitlab_host, own_files):
    token = _pat(gitlab)
    _add(gitlab_host, token)
    configured = own_files()
    gitlab.faults.status("DELETE", SELF, 503, times=10)
    done = credhelper("logout", gitlab_host, "--revoke", check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "could not revoke" in done.stderr and "Traceback" not in done.stderr
    assert not token.revoked and len(_status(gitlab_host)) == 1
    assert own_files() == configured


@pytest.mark.parametrize("answer", ["y", ""])
def test_at_a_terminal_logout_asks_and_no_is_the_default(gitlab, gitlab_host, answer):
    token = _pat(gitlab)
    _add(gitlab_host, token)
    terminal = Terminal("logout", gitlab_host)
    terminal.wait_for("[y/N]")
    terminal.type(answer)
    status, stdout, screen = terminal.finish()
    assert status == 0, stdout + screen
    assert token.revoked == (answer == "y")
    assert "[y/N]" in screen and "[y/N]" not in stdout and token.token not in stdout + screen
    assert _status(gitlab_host) == []


def test_logout_of_a_host_without_tokens_names_what_there_is(gitlab_host):
    done = credhelper("logout", gitlab_host, check=False)
    assert done.returncode == 1 and "no matching token" in done.stderr


# --- uninstall --------------------------------------------------------------------------------

def test_uninstall_takes_every_entry_out_and_keeps_the_tokens(gitlab, gitlab_host, own_files,
                                                             home):
    before = own_files()
    token = _pat(gitlab)
    _add(gitlab_host, token)
    credhelper("setup", "git", "other.example.com")
    done = credhelper("uninstall")
    assert own_files() == before and not token.revoked
    assert "Kept 1 token(s)" in done.stdout
    assert len(_status(gitlab_host)) == 1
    # git asks no helper that is about to go: no "'credential-gitlab' is not a git command"
    fill = run("git", "credential", "fill", input="protocol=https\nhost=%s\n\n" % gitlab_host,
               check=False)
    assert "credential-gitlab" not in fill.stderr


def test_uninstall_revoke_revokes_and_forgets(gitlab, gitlab_host, own_files):
    before = own_files()
    tokens = [_pat(gitlab), _pat(gitlab)]
    _add(gitlab_host, tokens[0])
    _add(gitlab_host, tokens[1], "--path", "team/app")
    done = credhelper("uninstall", "--revoke")
    assert all(t.revoked for t in tokens) and own_files() == before
    assert _status(gitlab_host) == [] and "Kept" not in done.stdout


def test_uninstall_forget_tokens_keep_names_the_orphans(gitlab, gitlab_host, own_files):
    token = _pat(gitlab)
    _add(gitlab_host, token)
    done = credhelper("uninstall", "--keep", "--forget-tokens")
    assert not token.revoked and _status(gitlab_host) == []
    assert "still works there, and nothing here holds it" in done.stdout


def test_logout_after_remove_still_undoes_the_setup(gitlab, gitlab_host, own_files):
    before = own_files()
    _add(gitlab_host, _pat(gitlab))
    removed = credhelper("remove", gitlab_host)
    # git still asks only credhelper for the host, which has nothing for it now: say so once
    assert removed.stderr == ("credhelper: no token is left for %s, and git asks only "
                              "credhelper for it (so git will prompt); add one, or give it back "
                              "to your other helpers: credhelper logout %s\n"
                              % (gitlab_host, gitlab_host))
    done = credhelper("logout", gitlab_host)
    assert own_files() == before and done.stdout.count("\n") == 2, done.stdout


def test_a_deploy_token_is_not_revoked_from_here_and_the_line_says_where(gitlab, gitlab_host,
                                                                         own_files, project):
    before = own_files()
    deploy = gitlab.state.create_deploy_token(project, ["read_repository"], username="bot")
    credhelper("add", gitlab_host, "--username", "bot", input=deploy.token)
    done = credhelper("logout", gitlab_host, "--revoke")
    assert "not revoked from here" in done.stdout and "Deploy tokens" in done.stdout
    assert not deploy.revoked and own_files() == before and _status(gitlab_host) == []


def test_uninstall_takes_credhelpers_npm_token_lines_out(home):
    npmrc = home / ".npmrc"
    npmrc.write_text("; mine\nfund=false\n//old.example/:_authToken=theirs\n")
    credhelper("add", "gitlab.example.com", "--scopes", "api", "--no-check",
               input="glpat-npmnpmnpmnpmnpmnpmnpm01")
    credhelper("npmrc", "gitlab.example.com")
    assert "glpat-npmnpmnpmnpmnpmnpmnpm01" in npmrc.read_text()
    done = credhelper("uninstall")
    assert "glpat-npm" not in npmrc.read_text() and "_authToken=theirs" in npmrc.read_text()
    assert "glpat-npmnpmnpmnpmnpmnpmnpm01" not in done.stdout + done.stderr


def test_logout_revokes_an_oauth_login_with_its_refresh_token(gitlab, gitlab_host, own_files):
    """An OAuth token is revoked at GitLab's /oauth/revoke (RFC 7009) with the application's
    id: the access token and its refresh token are one grant, and both stop working."""
    before = own_files()
    user = _new_user(gitlab)
    token = gitlab.state.create_oauth_token(user, ["read_repository", "write_repository"])
    client_id = gitlab.state.application_uid(token)
    credhelper("add", gitlab_host, "--kind", "oauth", "--refresh-token", "--client-id",
               client_id, input="%s\n%s\n" % (token.token, token.refresh_token))
    done = credhelper("logout", gitlab_host, "--revoke")
    assert token.revoked and own_files() == before
    assert "Revoked the OAuth token" in done.stdout and token.token not in done.stdout
    assert gitlab.oauth.revocations == [(client_id, token.id)]
    import requests

    refused = requests.post("https://localhost:%d/oauth/token" % gitlab.port,
                            data={"grant_type": "refresh_token", "client_id": client_id,
                                  "refresh_token": token.refresh_token},
                            verify=gitlab.ca.ca_file, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
