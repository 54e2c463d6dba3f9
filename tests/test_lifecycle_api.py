"""The token lifecycle against the fake GitLab's API, through the real executables: checks,
self-rotation, crash safety at every step, faults, and the messages users get."""

import datetime
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from credhelper.local.audit import read_events
from tests.conftest import credhelper, run, write_config

SELF = r"/api/v4/personal_access_tokens/self"
ROTATE = r"/api/v4/personal_access_tokens/self/rotate"


def utc_today(offset=0):
    return datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)


pytestmark = pytest.mark.usefixtures("gitlab_restored")


def get(host, env=None, username=None):
    text = "protocol=https\nhost=%s\n%s\n" % (host, "username=%s\n" % username if username else "")
    return subprocess.run(["git-credential-gitlab", "get"], input=text, capture_output=True,
                          text=True, timeout=60, env=env)


def served(done):
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return lines.get("password")


def calls(gitlab, method, path):
    return sum(1 for r in gitlab.requests if r.method == method and r.path == path)


def new_pat(gitlab, host, scopes=("api",), expires_in_days=90, granted_days=None, **options):
    """Alice's PAT, added; ``granted_days``: the lifetime the server granted it (made that
    long before its expiry; default: made now)."""
    token = gitlab.state.create_pat("alice", list(scopes),
                                    expires_at=utc_today(expires_in_days)
                                    if expires_in_days is not None else None)
    if granted_days is not None:
        token.created_at -= datetime.timedelta(days=granted_days - expires_in_days)
    credhelper("add", host, *options, input=token.token)
    return token


def status(host=None):
    return json.loads(credhelper("status", *([host] if host else []), "--json").stdout)


# -- self-information --------------------------------------------------------------------

def test_add_learns_scopes_and_expiry_from_the_server(gitlab, gitlab_host):
    token = new_pat(gitlab, gitlab_host, scopes=("read_repository", "self_rotate"))
    (row,) = status()
    assert row["scopes"] == ["read_repository", "self_rotate"]
    assert row["expires_at"] == str(utc_today(90)) and row["state"] == "ok"
    assert gitlab.state.find_token(token.token).id is not None




def test_add_refuses_dead_tokens_with_distinct_messages(gitlab, gitlab_host):
    revoked = gitlab.state.create_pat("alice", ["api"])
    gitlab.state.revoke(revoked)
    expired = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(0))
    messages = {}
    for name, secret in (("revoked", revoked.token), ("expired", expired.token),
                         ("unknown", "glpat-neverissuedneverissued00")):
        done = credhelper("add", gitlab_host, input=secret, check=False)
        assert done.returncode == 1 and secret not in done.stderr
        messages[name] = done.stderr
    assert "was revoked" in messages["revoked"]
    assert "has expired" in messages["expired"]
    assert "is unknown there" in messages["unknown"]
    assert status() == []


def test_ten_gets_of_a_fresh_token_cost_at_most_one_api_call(gitlab, gitlab_host):
    token = new_pat(gitlab, gitlab_host)
    before = calls(gitlab, "GET", SELF)
    for _ in range(10):
        assert served(get(gitlab_host)) == token.token
    assert calls(gitlab, "GET", SELF) - before <= 1


def test_the_check_interval_comes_from_the_config(gitlab, gitlab_host, home):
    token = new_pat(gitlab, gitlab_host)
    write_config(home, '[policy]\ncheck_interval_hours = 0\n')
    before = calls(gitlab, "GET", SELF)
    for _ in range(3):
        assert served(get(gitlab_host)) == token.token
    assert calls(gitlab, "GET", SELF) - before == 3


# -- after a rejection (git's erase) ----------------------------------------------------------

def erase(host, token):
    run("git-credential-gitlab", "erase", input="protocol=https\nhost=%s\nusername=oauth2\n"
                                                "password=%s\n" % (host, token))


def test_after_erase_a_good_token_stays(gitlab, gitlab_host):
    token = new_pat(gitlab, gitlab_host)
    erase(gitlab_host, token.token)
    before = calls(gitlab, "GET", SELF)
    assert served(get(gitlab_host)) == token.token
    assert calls(gitlab, "GET", SELF) - before == 1
    assert status()[0]["state"] == "ok"


@pytest.mark.parametrize("how, expected", [
    ("revoke", "was revoked on the server"),
    ("expire", "has expired"),
    ("forget", "is unknown to the server"),
])
def test_after_erase_a_dead_token_is_not_served_and_the_user_is_told(gitlab, gitlab_host, how,
                                                                     expected):
    token = new_pat(gitlab, gitlab_host, scopes=("read_repository",), expires_in_days=1)
    if how == "revoke":
        gitlab.state.revoke(token)
    elif how == "expire":   # the server's day turned: the token is past its date there
        real = gitlab.state.now()
        gitlab.state.set_clock(lambda: real + datetime.timedelta(days=2))
    else:
        gitlab.state.forget(token)
    erase(gitlab_host, token.token)
    done = get(gitlab_host)
    assert done.stdout == "" and done.returncode == 0
    assert expected in done.stderr and "credhelper add %s" % gitlab_host in done.stderr
    assert token.token not in done.stderr
    again = get(gitlab_host)           # known now: no second API call, same message
    assert again.stdout == "" and expected in again.stderr


# -- self-rotation ---------------------------------------------------------------------------

def test_a_token_near_expiry_rotates_on_get(gitlab, gitlab_host):
    old = new_pat(gitlab, gitlab_host, expires_in_days=1, granted_days=30)
    done = get(gitlab_host)
    new_secret = served(done)
    assert new_secret and new_secret != old.token
    new = gitlab.state.find_token(new_secret)
    assert gitlab.state.is_active(new) and new.previous_token_id == old.id
    assert not gitlab.state.is_active(gitlab.state.find_token(old.token))
    assert new.expires_at == utc_today(30)
    assert "rotated the access token" in done.stderr and new_secret not in done.stderr
    assert served(get(gitlab_host)) == new_secret       # the store holds the new one
    (row,) = status()
    assert row["expires_at"] == str(utc_today(30)) and row["token"].endswith(new_secret[-4:])
    rotated = [e for e in read_events() if e["event"] == "rotated"]
    assert rotated[-1]["old_token_id"] == old.id and rotated[-1]["new_token_id"] == new.id
    log = os.path.join(os.environ["XDG_STATE_HOME"], "credhelper", "audit.log")
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"
    text = open(log).read()
    assert old.token not in text and new_secret not in text


def test_32_concurrent_gets_rotate_exactly_once(gitlab, gitlab_host):
    old = new_pat(gitlab, gitlab_host, expires_in_days=1)
    before = calls(gitlab, "POST", ROTATE)
    env = dict(os.environ)
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda _: get(gitlab_host, env), range(32)))
    secrets = {served(done) for done in results}
    unserved = [done.stderr for done in results if served(done) is None]   # says why
    assert unserved == [] and len(secrets) == 1
    (new_secret,) = secrets
    assert calls(gitlab, "POST", ROTATE) - before == 1
    new = gitlab.state.find_token(new_secret)
    assert gitlab.state.is_active(new)                   # reuse detection never fired
    assert not gitlab.state.is_active(gitlab.state.find_token(old.token))
    assert [e["event"] for e in read_events()].count("rotated") == 1


def test_a_get_that_meets_a_busy_holder_of_a_due_token_waits_for_it(gitlab, gitlab_host):
    """The lock's holder may be about to rotate the token (it is due), which would revoke the
    token as it is: a get past its lock wait keeps waiting, bounded, rather than serve it.
    Once the holder lets go, the get attends the token itself: one rotation, the new token."""
    from credhelper.lifecycle.book import LOCK_WAIT
    from credhelper.service import Service

    old = new_pat(gitlab, gitlab_host, expires_in_days=1)
    before = calls(gitlab, "POST", ROTATE)
    service = Service()
    (record,) = service.tokens.load()
    with service.book().lock_for(record, service.secret(record)):
        waiting = subprocess.Popen(["git-credential-gitlab", "get"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiting.stdin.write("protocol=https\nhost=%s\n\n" % gitlab_host)
        waiting.stdin.close()
        waiting.stdin = None                         # communicate() must not flush it again
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=LOCK_WAIT + 2)          # still waiting past its lock wait
    out, err = waiting.communicate(timeout=60)
    new = gitlab.state.find_token(served(subprocess.CompletedProcess([], 0, out, err)))
    assert new.previous_token_id == old.id and "still busy" not in err
    assert calls(gitlab, "POST", ROTATE) - before == 1


def test_no_rotation_without_a_rotation_scope_but_a_warning(gitlab, gitlab_host):
    token = new_pat(gitlab, gitlab_host, scopes=("read_repository",), expires_in_days=2)
    done = get(gitlab_host)
    assert served(done) == token.token
    assert "expires on %s (in 2 days); it cannot renew itself" % utc_today(2) in done.stderr
    assert not any(r.carries(token.token) for r in gitlab.requests if r.path == ROTATE)
    assert get(gitlab_host).stderr == ""       # told once a day, not on every git command


def test_server_refusing_the_date_falls_back_and_says_so(gitlab, gitlab_host, home):
    old = new_pat(gitlab, gitlab_host, expires_in_days=1, granted_days=365)
    write_config(home, "[policy]\nnew_lifetime_days = 200\n")
    gitlab.state.max_token_lifetime_days = 100
    try:
        done = get(gitlab_host)
    finally:
        gitlab.state.max_token_lifetime_days = 365
    new = gitlab.state.find_token(served(done))
    assert new.previous_token_id == old.id
    assert new.expires_at == utc_today(99)
    assert "refused the expiry" in done.stderr


# -- faults: the user is never blocked for long -----------------------------------------------

@pytest.mark.parametrize("fault", ["timeout", "500", "429", "garbage", "drop"])
def test_failed_rotation_keeps_the_old_token_in_use(gitlab, gitlab_host, fault):
    old = new_pat(gitlab, gitlab_host, expires_in_days=2)
    if fault == "timeout":
        gitlab.faults.timeout("POST", ROTATE, seconds=60)
    elif fault == "garbage":
        gitlab.faults.garbage("POST", ROTATE)
    elif fault == "drop":
        gitlab.faults.drop("POST", ROTATE)
    else:
        gitlab.faults.status("POST", ROTATE, int(fault), retry_after=120)
    start = time.monotonic()
    done = get(gitlab_host)
    elapsed = time.monotonic() - start
    gitlab.faults.clear()
    # a sent rotation is given its whole fixed time: cut short, a late commit would be lost
    from credhelper.lifecycle.renewal import ROTATE_TIMEOUT

    limit = ROTATE_TIMEOUT + 10 if fault == "timeout" else 10
    assert served(done) == old.token and elapsed < limit
    assert done.stderr.count("\n") == 1 and "could not complete the rotation" in done.stderr
    assert gitlab.state.is_active(gitlab.state.find_token(old.token))
    # a minute later (well within the policy's 10 minutes) nothing is tried again
    before = len(gitlab.requests)
    again = get(gitlab_host)
    assert served(again) == old.token and again.stderr == ""
    assert len(gitlab.requests) == before


def test_check_failures_serve_the_token_and_respect_retry_after(gitlab, gitlab_host, home):
    token = new_pat(gitlab, gitlab_host)
    write_config(home, '[policy]\ncheck_interval_hours = 0\n')
    gitlab.faults.status("GET", SELF, 503, retry_after=3600)
    done = get(gitlab_host)
    assert served(done) == token.token and "could not check" in done.stderr
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert row["state"] == "ok"
    before = calls(gitlab, "GET", SELF)
    assert served(get(gitlab_host)) == token.token
    assert calls(gitlab, "GET", SELF) == before


# -- crash safety: SIGKILL at every step of a rotation -----------------------------------------

def killed_get(host, failpoint):
    env = dict(os.environ, CREDHELPER_FAILPOINT=failpoint)
    done = get(host, env)
    assert done.returncode == -signal.SIGKILL and done.stdout == ""
    return done


def tokens_file():
    return os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")


def age_journal(seconds):
    """Let ``seconds`` pass for the journal entry (rather than sleeping): its start and the
    settle backoff move into the past."""
    with open(tokens_file()) as handle:
        data = json.load(handle)
    for token in data["tokens"]:
        if token.get("pending"):
            token["pending"]["started_at"] -= seconds
            if token.get("backoff_until"):
                token["backoff_until"] -= seconds
    with open(tokens_file(), "w") as handle:
        json.dump(data, handle)


def test_killed_before_the_call_rotates_only_once_that_call_cannot_commit(gitlab, gitlab_host):
    """The next get cannot tell "never sent" from "still in flight": it serves the still
    valid old token and rotates nothing until SETTLE_SECONDS have passed (issue 10)."""
    from credhelper.lifecycle.journal import SETTLE_SECONDS

    old = new_pat(gitlab, gitlab_host, expires_in_days=1)
    rotations = calls(gitlab, "POST", ROTATE)
    killed_get(gitlab_host, "before-rotate-call")
    assert gitlab.state.is_active(gitlab.state.find_token(old.token))
    assert served(get(gitlab_host)) == old.token
    assert served(get(gitlab_host)) == old.token
    assert calls(gitlab, "POST", ROTATE) == rotations
    age_journal(SETTLE_SECONDS + 1)
    secret = served(get(gitlab_host))
    new = gitlab.state.find_token(secret)
    assert gitlab.state.is_active(new) and new.previous_token_id == old.id
    assert calls(gitlab, "POST", ROTATE) == rotations + 1


def test_killed_after_the_server_committed_next_get_explains_recovery(gitlab, gitlab_host):
    old = new_pat(gitlab, gitlab_host, expires_in_days=1)
    killed_get(gitlab_host, "after-server-commit")
    done = get(gitlab_host)
    assert done.stdout == ""
    assert "never arrived" in done.stderr and "To recover" in done.stderr
    assert "credhelper add %s" % gitlab_host in done.stderr and old.token not in done.stderr
    assert status()[0]["state"] == "lost-in-rotation"


def test_response_lost_in_flight_is_detected_the_same_way(gitlab, gitlab_host):
    new_pat(gitlab, gitlab_host, expires_in_days=1)
    gitlab.faults.drop_after_commit("POST", ROTATE)
    first = get(gitlab_host)          # the old token is asked about at once: revoked
    assert first.stdout == "" and "To recover" in first.stderr
    second = get(gitlab_host)
    assert second.stdout == "" and "To recover" in second.stderr


@pytest.mark.parametrize("failpoint", ["after-store-write", "after-metadata-write"])
def test_killed_after_storing_next_get_hands_out_the_new_token(gitlab, gitlab_host, failpoint):
    old = new_pat(gitlab, gitlab_host, expires_in_days=1)
    killed_get(gitlab_host, failpoint)
    done = get(gitlab_host)
    secret = served(done)
    assert secret and secret != old.token
    new = gitlab.state.find_token(secret)
    assert gitlab.state.is_active(new) and new.previous_token_id == old.id
    assert [r["token"][-4:] for r in status()] == [secret[-4:]]
    # and the old, revoked token does not linger in the store
    secrets = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "secrets.json")
    assert list(json.load(open(secrets))["secrets"].values()) == [secret]


def test_paused_server_commit_and_a_killed_client(gitlab, gitlab_host):
    """The server has committed and not answered when the client dies: real SIGKILL."""
    new_pat(gitlab, gitlab_host, expires_in_days=1)
    fault = gitlab.faults.pause_after_commit("POST", ROTATE)
    process = subprocess.Popen(["git-credential-gitlab", "get"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdin.write(("protocol=https\nhost=%s\n\n" % gitlab_host).encode())
    process.stdin.close()
    assert fault.wait_committed(30)
    process.kill()
    process.wait(30)
    fault.release()
    done = get(gitlab_host)
    assert done.stdout == "" and "To recover" in done.stderr


# -- admin commands ----------------------------------------------------------------------------

def test_status_refresh_rotate_and_remove_revoke(gitlab, gitlab_host):
    old = new_pat(gitlab, gitlab_host, expires_in_days=60)
    done = credhelper("rotate", gitlab_host)
    assert "Rotated access token" in done.stdout
    new_secret = served(get(gitlab_host))
    assert new_secret != old.token
    gitlab.state.revoke(gitlab.state.find_token(new_secret))
    refreshed = json.loads(credhelper("status", "--refresh", "--json").stdout)
    assert refreshed[0]["state"] == "revoked"
    credhelper("remove", gitlab_host)
    assert status() == []


def test_remove_revoke_revokes_on_the_server(gitlab, gitlab_host):
    token = new_pat(gitlab, gitlab_host)
    credhelper("remove", gitlab_host, "--revoke")
    assert not gitlab.state.is_active(gitlab.state.find_token(token.token))
    assert status() == []


def test_deploy_token_expiry_warning(gitlab, gitlab_host):
    if gitlab.state.find_project("warn/project") is None:
        gitlab.state.add_project("warn/project")
    deploy = gitlab.state.create_deploy_token("warn/project", ["read_repository"])
    credhelper("add", gitlab_host, "--username", deploy.username, "--expires-at",
               str(utc_today(3)), input=deploy.token)
    first = get(gitlab_host)
    assert served(first) == deploy.token
    assert "expires on %s (in 3 days)" % utc_today(3) in first.stderr
    assert get(gitlab_host).stderr == ""       # once a day


# -- OAuth -----------------------------------------------------------------------------------

def test_oauth_token_checked_and_refreshed_near_expiry(gitlab, gitlab_host):
    oauth = gitlab.state.create_oauth_token("alice", ["read_repository"], expires_in=300)
    credhelper("add", gitlab_host, "--kind", "oauth", "--refresh-token", "--client-id",
               gitlab.state.application_uid(oauth) if hasattr(gitlab.state, "application_uid")
               else "1", input="%s\n%s\n" % (oauth.token, oauth.refresh_token))
    done = get(gitlab_host)
    secret = served(done)
    assert secret and secret != oauth.token
    assert gitlab.state.is_active(gitlab.state.find_token(secret))
    assert not gitlab.state.is_active(gitlab.state.find_token(oauth.token))


def test_status_refresh_gives_every_token_its_own_network_budget(gitlab, gitlab_host):
    """Four tokens, a healthy server that takes 2.5 s per answer: one budget for the whole
    command ran out after two of them and put the rest into the backoff (issue 9)."""
    for n in range(4):
        token = gitlab.state.create_pat("alice", ["read_repository"], expires_at=utc_today(90))
        credhelper("add", gitlab_host, "--path", "group%d" % n, input=token.token)
    checked_before = [row["checked_at"] for row in status()]
    slow = gitlab.faults.timeout("GET", SELF, seconds=2.5, handle=True, times=4)
    credhelper("status", "--refresh")
    assert slow.used_up
    rows = status()
    assert len(rows) == 4
    assert all(row["checked_at"] > before for row, before in zip(rows, checked_before))
    tokens = json.load(open(os.path.join(os.environ["XDG_DATA_HOME"], "credhelper",
                                         "tokens.json")))["tokens"]
    assert [t.get("backoff_until") for t in tokens] == [None] * 4
    assert all(row["state"] == "ok" for row in rows)
    assert calls(gitlab, "GET", SELF) >= 8     # four at add, four slow ones at refresh


def test_a_401_without_gitlabs_body_is_no_verdict(gitlab, gitlab_host):
    """A gateway's bare 401 (HTML, no GitLab error body) never marks a working token dead."""
    token = new_pat(gitlab, gitlab_host)
    erase(gitlab_host, token.token)
    gitlab.faults.status("GET", SELF, 401, body="<html>Unauthorized</html>")
    first = get(gitlab_host)
    assert served(first) == token.token and "without GitLab's error body" in first.stderr
    assert status()[0]["state"] != "unknown"


def test_an_unknown_token_is_asked_about_twice(gitlab, gitlab_host):
    """GitLab's own "401 Unauthorized" once, then a normal answer: the token stays good."""
    token = new_pat(gitlab, gitlab_host)
    erase(gitlab_host, token.token)
    gitlab.faults.status("GET", SELF, 401, body='{"message":"401 Unauthorized"}')
    before = calls(gitlab, "GET", SELF)
    assert served(get(gitlab_host)) == token.token
    assert status()[0]["state"] == "ok"
    assert calls(gitlab, "GET", SELF) - before == 2    # asked again before any verdict


def test_attend_rotates_off_the_git_path(gitlab, gitlab_host):
    """`credhelper attend` (a systemd timer's command) does what a get would have done."""
    old = new_pat(gitlab, gitlab_host, expires_in_days=2)
    done = credhelper("attend")
    (new,) = gitlab.state.active_tokens_of_family(old.token)
    assert new.previous_token_id == old.id and not gitlab.state.is_active(
        gitlab.state.find_token(old.token))
    assert "rotates itself from" in done.stdout and old.token not in done.stdout + done.stderr
    assert served(get(gitlab_host)) == new.token
    again = credhelper("attend")
    assert "rotated" not in again.stderr        # nothing more to do


def test_a_config_typo_never_blocks_a_valid_token(gitlab, gitlab_host, home):
    """Any config edit makes every token due for a check; a typo in it must not stop git."""
    token = new_pat(gitlab, gitlab_host)
    write_config(home, "[policy]\nrotatee = true\n")
    done = get(gitlab_host)
    assert served(done) == token.token
    assert done.stderr.count("\n") == 1 and "unknown setting policy.rotatee" in done.stderr
    assert "Traceback" not in done.stderr
