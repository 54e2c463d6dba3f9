"""`credhelper login HOST` through the real executables against the fake GitLab: the device
flow (approved, denied, expired, slowed down), the browser flow with a stand-in browser
(tests/support/fake_browser.py as BROWSER), the pasted-address fallback, the guided personal
access token; then real git with the resulting token, and its refresh two hours later on the
server's clock."""

import json
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import credhelper, run, write_config

BROWSER = str(Path(__file__).parent / "support" / "fake_browser.py")


@pytest.fixture
def app(gitlab, gitlab_host):
    """An OAuth application as README's "Log in" has it created; quick polling."""
    app = gitlab.state.add_oauth_application("credhelper", redirect_uri="http://127.0.0.1/callback",
                                             scopes=["read_repository", "write_repository", "read_user"])
    oauth = gitlab.oauth
    oauth.device_code_polling_interval, oauth.device_code_expires_in = 1, 300
    yield app
    oauth.device_code_polling_interval, oauth.device_code_expires_in = 5, 300
    oauth.enforced_interval = None
    gitlab.state.set_clock(None)


def login(host, *args, env=None, stdin=subprocess.DEVNULL):
    return subprocess.Popen(["credhelper", "login", host, *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def user_code(process):
    """The code the person is told to type, read from the login's stderr as it prints it."""
    seen = []
    for line in process.stderr:
        seen.append(line)
        found = re.search(r"enter the code (\S+)", line)
        if found:
            return found.group(1), "".join(seen)
    raise AssertionError("no user code printed: %r" % seen)


def finish(process, printed=""):
    out, err = process.communicate(timeout=120)
    return process.returncode, out, printed + err


def records():
    return json.loads(credhelper("status", "--json").stdout)


def client_ids():
    """The client id each stored record refreshes with (from the index: status shows none)."""
    index = Path(os.environ["XDG_DATA_HOME"]) / "credhelper" / "tokens.json"
    return [t.get("client_id") for t in json.loads(index.read_text())["tokens"]]


def git(gitlab, *args, cwd=None, check=True):
    env = dict(os.environ, **gitlab.git_env())
    where = ["-C", str(cwd)] if cwd else []
    return run("git", *where, *gitlab.git_config_args(), *args, check=check, env=env)


def clone_and_push(gitlab, host, project, checkout, name):
    git(gitlab, "clone", "-q", "https://%s/%s.git" % (host, project), str(checkout))
    push(gitlab, checkout, name)


def push(gitlab, checkout, name, check=True):
    (checkout / name).write_text(name + "\n")
    git(gitlab, "add", name, cwd=checkout)
    git(gitlab, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", name,
        cwd=checkout)
    return git(gitlab, "push", "-q", "origin", "HEAD:main", cwd=checkout, check=check)


def server_head(gitlab, project):
    repo = gitlab.state.project(project).repo_path
    return run("git", "--git-dir", str(repo), "log", "-1", "--format=%s", "main").stdout.strip()


def get(host):
    return run("git-credential-gitlab", "get", input="protocol=https\nhost=%s\n\n" % host)


# -- the device flow ---------------------------------------------------------------------------

def test_device_login_then_git_and_a_refresh_two_hours_later(gitlab, gitlab_host, app, project,
                                                             tmp_path):
    process = login(gitlab_host, "--device", "--client-id", app.uid)
    code, printed = user_code(process)
    assert "open https://localhost:%d/oauth/device" % gitlab.port in printed
    gitlab.oauth.approve_device(code, "alice")
    status, out, err = finish(process, printed)
    assert status == 0, err
    (row,) = records()
    token = gitlab.state.tokens[("oauth_access_token", max(
        i for k, i in gitlab.state.tokens if k == "oauth_access_token"))]
    assert row["kind"] == "oauth" and row["state"] == "ok" and client_ids() == [app.uid]
    assert row["next"] == "refreshed when 10 minutes are left"
    assert token.token not in out + err and token.refresh_token not in out + err
    assert "Added OAuth token" in out and "alice" in out and "refreshed before it expires" in out
    assert get(gitlab_host).stderr == ""            # no "cannot renew itself" for it
    credhelper("setup", "git", gitlab_host)
    checkout = tmp_path / "checkout"
    clone_and_push(gitlab, gitlab_host, project, checkout, "after-login")
    assert server_head(gitlab, project) == "after-login"

    gitlab.state.advance(7201)            # the server's clock: the access token has expired
    refused = git(gitlab, "fetch", "-q", cwd=checkout, check=False)
    assert refused.returncode != 0        # served as fresh (this clock is behind); git erases it
    push(gitlab, checkout, "two-hours-later")
    assert server_head(gitlab, project) == "two-hours-later"
    (old_id, new_id), = [r for r in gitlab.api.refreshes if r[0] == token.id]
    new = gitlab.state.tokens[("oauth_access_token", new_id)]
    assert gitlab.state.is_active(new) and not gitlab.state.is_active(token)
    assert client_ids() == [app.uid]                 # it goes on refreshing
    again = login(gitlab_host, "--device")             # the client id was given once
    code, printed = user_code(again)
    gitlab.oauth.approve_device(code, "alice")
    status, out, err = finish(again, printed)
    assert status == 0 and "with OAuth token" in out and client_ids() == [app.uid]
    assert out.startswith("Replaced ")


def test_device_login_denied_stores_nothing(gitlab, gitlab_host, app):
    process = login(gitlab_host, "--device", "--client-id", app.uid)
    code, printed = user_code(process)
    gitlab.oauth.deny_device(code)
    status, out, err = finish(process, printed)
    assert status == 1 and "denied" in err and "Traceback" not in err
    assert records() == []


def test_device_code_expired_on_the_server(gitlab, gitlab_host, app):
    process = login(gitlab_host, "--device", "--client-id", app.uid)
    code, printed = user_code(process)
    gitlab.state.advance(301)
    status, out, err = finish(process, printed)
    assert status == 1 and err.splitlines()[-1] == (
        "credhelper: the code expired before it was approved; run credhelper login again")
    assert records() == []


def test_device_login_gives_up_at_expires_in(gitlab, gitlab_host, app):
    gitlab.oauth.device_code_expires_in = 2
    started = time.monotonic()
    process = login(gitlab_host, "--device", "--client-id", app.uid)
    code, printed = user_code(process)
    status, out, err = finish(process, printed)
    assert status == 1 and "the code expired" in err.splitlines()[-1]
    assert time.monotonic() - started < 10
    assert len(gitlab.oauth.device_grant(code).polls) <= 2


def test_device_polling_honours_slow_down(gitlab, gitlab_host, app):
    """The server wants 3 s between polls but advertises 1: after its slow_down the login
    waits 1 + 5 s, as RFC 8628 says, and gives up once that passes the code's lifetime."""
    gitlab.oauth.enforced_interval, gitlab.oauth.device_code_expires_in = 3, 12
    process = login(gitlab_host, "--device", "--client-id", app.uid)
    code, printed = user_code(process)
    status, out, err = finish(process, printed)
    assert status == 1
    polls = gitlab.oauth.device_grant(code).polls
    assert [answer for _, answer in polls] == ["authorization_pending", "slow_down",
                                               "authorization_pending"]
    assert (polls[2][0] - polls[1][0]).total_seconds() >= 5.9


def test_an_application_without_device_flow_is_named(gitlab, gitlab_host):
    off = gitlab.state.add_oauth_application("browser only", device_flow=False)
    done = credhelper("login", gitlab_host, "--device", "--client-id", off.uid, check=False)
    assert done.returncode == 1 and "does not allow the device flow" in done.stderr


# -- the browser flow ----------------------------------------------------------------------------

def browser_env(tmp_path, gitlab, action="approve", browser=BROWSER):
    log = tmp_path / "browser.log"
    return dict(os.environ, BROWSER=browser, FAKE_BROWSER_ACTION=action, FAKE_BROWSER_LOG=str(log),
                FAKE_BROWSER_CA=gitlab.ca.ca_file), log


def steps(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_browser_login_with_the_configured_client_id_then_git(gitlab, gitlab_host, app, home,
                                                              project, tmp_path):
    write_config(home, 'client_id = "%s"\n' % app.uid)     # into the host's table
    env, log = browser_env(tmp_path, gitlab)
    status, out, err = finish(login(gitlab_host, env=env))   # BROWSER set: the browser flow
    assert status == 0, err
    consent, decision, callback = steps(log)
    assert consent["status"] == 200 and decision["status"] == 302
    assert re.fullmatch(r"127\.0\.0\.1:\d+", decision["location_host"])
    assert callback["status"] == 200
    (row,) = records()
    assert row["kind"] == "oauth" and client_ids() == [app.uid]
    grant = gitlab.oauth.access_grants[-1]
    assert grant.revoked and grant.code_challenge_method == "S256"   # spent, with PKCE
    credhelper("setup", "git", gitlab_host)
    clone_and_push(gitlab, gitlab_host, project, tmp_path / "checkout", "browser-login")
    assert server_head(gitlab, project) == "browser-login"


def test_a_wrong_state_is_refused(gitlab, gitlab_host, app, tmp_path):
    env, log = browser_env(tmp_path, gitlab, "wrong-state")
    status, out, err = finish(login(gitlab_host, "--browser", "--client-id", app.uid, env=env))
    assert status == 1 and "state" in err.splitlines()[-1] and "nothing was stored" in err
    assert not gitlab.oauth.access_grants[-1].revoked          # the code was never used
    assert records() == []


def test_the_loopback_listener_answers_one_request(gitlab, gitlab_host, app, tmp_path):
    env, log = browser_env(tmp_path, gitlab, "twice")
    status, out, err = finish(login(gitlab_host, "--browser", "--client-id", app.uid, env=env))
    assert status == 0, err
    first, second = [s for s in steps(log) if s["step"] == "callback"]
    assert first["status"] == 200 and second == {"step": "callback", "attempt": 1,
                                                 "error": "ConnectionRefusedError"}


def test_browser_login_denied(gitlab, gitlab_host, app, tmp_path):
    env, log = browser_env(tmp_path, gitlab, "deny")
    status, out, err = finish(login(gitlab_host, "--browser", "--client-id", app.uid, env=env))
    assert status == 1 and "denied" in err and records() == []


def test_without_a_browser_the_address_is_pasted(gitlab, gitlab_host, app, tmp_path):
    env, _ = browser_env(tmp_path, gitlab, browser="/bin/false")
    process = login(gitlab_host, "--browser", "--client-id", app.uid, env=env,
                    stdin=subprocess.PIPE)
    printed = []
    for line in process.stderr:
        printed.append(line)
        if line.strip().startswith("https://"):
            break
    url = printed[-1].strip()
    # the person opens it on another machine, approves, copies the address bar
    page = requests.get(url, verify=gitlab.ca.ca_file, timeout=10)
    form = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text.split("</form>")[0]))
    answer = requests.post(urlsplit(url)._replace(path="/oauth/authorize", query="").geturl(),
                           data=form, verify=gitlab.ca.ca_file, allow_redirects=False, timeout=10)
    location = answer.headers["Location"]
    assert parse_qs(urlsplit(location).query)["code"]
    out, err = process.communicate(location + "\n", timeout=120)
    assert process.returncode == 0, "".join(printed) + err
    assert client_ids() == [app.uid]


@pytest.mark.parametrize("fault", ["garbage", "drop", "unreachable"])
def test_a_server_that_fails_gets_one_line(gitlab, gitlab_host, app, fault):
    host = gitlab_host
    if fault == "unreachable":
        host = "127.0.0.1:1"
    else:
        getattr(gitlab.faults, fault)("POST", "/oauth/authorize_device")
    done = credhelper("login", host, "--device", "--client-id", app.uid, check=False)
    gitlab.faults.clear()
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr and records() == []


def test_oauth_without_a_client_id_says_how(gitlab_host):
    done = credhelper("login", gitlab_host, "--device", check=False)
    assert done.returncode == 1 and "--client-id" in done.stderr and "Log in" in done.stderr


# -- the guided personal access token -------------------------------------------------------------

def utc_days(days):
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=days)


def test_guided_pat_prefills_the_page_and_stores_like_add(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_repository", "write_repository", "self_rotate"],
                                    expires_at=utc_days(90))
    done = credhelper("login", gitlab_host, "--pat", input=token.token + "\n")
    page = re.search(r"https://\S+", done.stderr).group(0)
    assert page.startswith("https://%s/-/user_settings/personal_access_tokens?name=credhelper+on+"
                           % gitlab_host)
    assert page.endswith("&scopes=read_repository,write_repository,read_registry,"
                         "write_registry,self_rotate")
    assert "cannot rotate" not in done.stderr and "expires on" not in done.stderr
    assert token.token not in done.stdout + done.stderr
    (row,) = records()
    assert row["kind"] == "pat" and row["scopes"] == ["read_repository", "self_rotate",
                                                      "write_repository"]


def test_guided_pat_warns_at_once_about_a_token_that_will_not_last(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_repository"], expires_at=utc_days(3))
    done = credhelper("login", gitlab_host, "--pat", "--scopes", "read_repository,api",
                      input=token.token + "\n")
    assert "scopes=read_repository,api" in done.stderr
    assert ("neither self_rotate nor api scope, so it cannot rotate itself: it stops working "
            "on %s (in 3 days)" % utc_days(3)) in done.stderr
    assert len(records()) == 1


def test_guided_pat_names_a_near_expiry_of_a_token_that_rotates(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_repository", "self_rotate"],
                                    expires_at=utc_days(2))
    done = credhelper("login", gitlab_host, "--pat", input=token.token + "\n")
    assert ("expires on %s (in 2 days); it rotates itself at the next git command"
            % utc_days(2)) in done.stderr
    assert "cannot rotate" not in done.stderr


def test_without_a_client_id_login_guides_to_a_token(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_repository", "self_rotate"],
                                    expires_at=utc_days(90))
    done = credhelper("login", gitlab_host, input=token.token + "\n")
    assert "No OAuth application is set" in done.stderr and records()[0]["kind"] == "pat"


@pytest.mark.parametrize("key, status, message", [
    (b"\x04", 1, "credhelper: cancelled (end of input at the prompt); nothing was stored"),
    (b"\x03", 130, "credhelper: cancelled; nothing was stored"),
])
def test_ctrl_d_or_ctrl_c_at_the_prompt_cancels_cleanly(gitlab_host, key, status, message):
    """At the real no-echo prompt of a terminal (a pty the login has as its terminal)."""
    from tests.support.terminal import answer_at_terminal

    status_seen, lines = answer_at_terminal(["credhelper", "login", gitlab_host, "--pat"],
                                            b"Token for", key)
    assert status_seen == status
    assert lines[-1] == message and "Traceback" not in "\n".join(lines)
    assert records() == []
