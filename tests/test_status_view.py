"""`credhelper status` as people read it, `status --check` for cron and shell prompts, and
the CI job's credentials listed inside a job: the real executables against the fake GitLab."""

import datetime
import json
import os
import re

import pytest

from credhelper.rules.redact import redact
from tests.conftest import credhelper

JOB = "glcbt-64_statusjobstatusjobstatus"
REGISTRY_PASSWORD = "glcbt-64_registrypasswordregistry"
DEPLOY_PASSWORD = "gldt-statusdeploystatusdeploy"


def utc_today(offset=0):
    return datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)


def rows(*args):
    return json.loads(credhelper("status", "--json", *args).stdout)


pytestmark = pytest.mark.usefixtures("gitlab_restored")


def test_a_rotating_token_shows_owner_name_last_check_and_its_rotation_date(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(90), name="laptop")
    credhelper("add", gitlab_host, input=token.token)
    shown = credhelper("status").stdout
    rotates = utc_today(83).isoformat()        # the default policy: 7 days before the expiry
    assert shown.splitlines()[0] == '%s  alice  "laptop"' % gitlab_host
    assert re.search(r"checked +(under a minute|\dm) ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)",
                     shown), shown
    assert re.search(r"next +rotates itself from %s \(in 8[23] days\)" % rotates, shown), shown
    assert "expires    %s (in 89 days)" % utc_today(90) in shown
    assert "attention" not in shown and token.token not in shown
    (row,) = rows()
    assert row["next_at"] == row["expires_utc"] - 7 * 86400 and row["attention"] is None
    assert row["source"] == "credhelper add (store: file)" and row["kind_name"] == "access token"
    assert credhelper("status", "--check").returncode == 0
    assert credhelper("status", "--check", "--quiet").stdout == ""


def test_a_policy_with_another_window_moves_the_rotation_date(gitlab, gitlab_host, home):
    from tests.conftest import write_config

    write_config(home, "rotate_before_days = 20\n")      # in the host's table (the fixture's)
    token = gitlab.state.create_pat("alice", ["self_rotate"], expires_at=utc_today(90))
    credhelper("add", gitlab_host, input=token.token)
    (row,) = rows()
    assert row["next_at"] == row["expires_utc"] - 20 * 86400, row


def test_an_oauth_token_with_two_hours_left_is_shown_in_hours(gitlab, gitlab_host):
    oauth = gitlab.state.create_oauth_token("alice", ["read_repository"], expires_in=7000)
    credhelper("add", gitlab_host, "--kind", "oauth", "--refresh-token", "--client-id", "1",
               input="%s\n%s\n" % (oauth.token, oauth.refresh_token))
    shown = credhelper("status").stdout
    assert re.search(r"expires +\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in 1h 5[0-6]m\)", shown), shown
    assert re.search(r"next +refreshed when 10 minutes are left \(at .* UTC, in 1h 4[0-6]m\)",
                     shown), shown
    assert "0 days" not in shown and "(0d)" not in credhelper("status", "--table").stdout
    (row,) = rows()
    assert row["next"] == "refreshed when 10 minutes are left"     # --json kept its text
    assert row["attention"] is None and row["next_at"] == row["expires_utc"] - 600
    assert oauth.token not in shown and oauth.refresh_token not in shown


def test_a_token_never_checked_is_shown_as_such_and_needs_attention(gitlab_host):
    credhelper("add", gitlab_host, "--no-check", input="glpat-" + "n" * 20)
    shown = credhelper("status").stdout
    assert re.search(r"checked +never checked", shown) and "(owner not known" in shown
    assert "attention  never checked by the server" in shown
    assert re.search(r"expires +not known until checked", shown), shown   # not "never"
    assert "not known" in credhelper("status", "--table").stdout
    check = credhelper("status", "--check", check=False)
    assert check.returncode == 1 and "never checked" in check.stdout
    quiet = credhelper("status", "--check", "--quiet", check=False)
    assert quiet.returncode == 1
    assert quiet.stdout.splitlines() == ["%s glpat-…nnnn (?): never checked by the server; "
                                         "never checked: checked at the next use" % gitlab_host]


def test_a_deploy_token_of_unknown_expiry_is_not_shown_as_one_that_never_expires(gitlab_host):
    credhelper("add", gitlab_host, "--kind", "deploy", "--username", "gitlab+deploy-token-1",
               input="gldt-" + "d" * 20)
    shown = credhelper("status").stdout
    assert re.search(r"expires +not known \(give it with credhelper add --expires-at\)",
                     shown), shown
    credhelper("add", gitlab_host, "--kind", "deploy", "--username", "gitlab+deploy-token-1",
               "--expires-at", str(utc_today(40)), input="gldt-" + "d" * 20)
    assert re.search(r"expires +%s \(in \d+ days\)" % utc_today(40), credhelper("status").stdout)


def test_check_names_a_revoked_token_and_one_that_expires_unrenewed(gitlab, gitlab_host):
    users = [gitlab.state.add_user("%s%s" % (stem, os.urandom(3).hex())).username
             for stem in ("afine", "bdying", "cdead")]     # status sorts by owner
    fine = gitlab.state.create_pat(users[0], ["api"], expires_at=utc_today(90))
    dying = gitlab.state.create_pat(users[1], ["read_repository"], expires_at=utc_today(3))
    dead = gitlab.state.create_pat(users[2], ["api"], expires_at=utc_today(90))
    for token in (fine, dying, dead):
        credhelper("add", gitlab_host, input=token.token)
    assert credhelper("status", "--check", check=False).returncode == 1   # bob's, already
    gitlab.state.revoke(dead)
    credhelper("status", "--refresh")
    quiet = credhelper("status", "-q", check=False)
    assert quiet.returncode == 1
    lines = {line.split()[1]: line for line in quiet.stdout.splitlines()}   # by token hint
    assert sorted(lines) == sorted([redact(dying.token), redact(dead.token)]), lines
    assert re.search(r"expires in 2 days( \d+h)? and cannot renew itself",
                     lines[redact(dying.token)]), lines
    assert lines[redact(dead.token)].startswith("%s %s (%s): " % (
        gitlab_host, redact(dead.token), users[2]))
    assert "not served: it was revoked" in lines[redact(dead.token)]
    attention = {row["token"]: row["attention"] for row in rows()}
    assert attention[redact(fine.token)] is None, attention


def test_a_failing_server_is_shown_as_backing_off(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(90))
    credhelper("add", gitlab_host, input=token.token)
    assert credhelper("status", "--check").returncode == 0
    gitlab.faults.status("GET", r"/api/v4/personal_access_tokens/self", 503, times=5)
    credhelper("status", "--refresh", check=False)
    (row,) = rows()
    assert row["attention"] == "the last call to the server failed; backing off", row
    assert credhelper("status", "--check", check=False).returncode == 1


def test_inside_a_ci_job_status_lists_the_jobs_credentials_never_their_secrets(monkeypatch):
    for name, value in {"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.example.com",
                        "CI_JOB_TOKEN": JOB, "CI_REGISTRY": "registry.example.com",
                        "CI_REGISTRY_USER": "gitlab-ci-token",
                        "CI_REGISTRY_PASSWORD": REGISTRY_PASSWORD,
                        "CI_DEPLOY_USER": "gitlab+deploy-token-7",
                        "CI_DEPLOY_PASSWORD": DEPLOY_PASSWORD}.items():
        monkeypatch.setenv(name, value)
    listed = rows()
    assert [(r["host"], r["username"], r["source"]) for r in listed] == [
        ("gitlab.example.com", "gitlab+deploy-token-7", "CI job variable CI_DEPLOY_PASSWORD"),
        ("gitlab.example.com", "gitlab-ci-token", "CI job variable CI_JOB_TOKEN"),
        ("registry.example.com", "gitlab-ci-token", "CI job variable CI_REGISTRY_PASSWORD")]
    assert all(r["origin"] == "ci" and r["attention"] is None for r in listed)
    shown = credhelper("status").stdout + credhelper("status", "--table").stdout
    assert "source     CI job variable CI_JOB_TOKEN" in shown
    assert "expires    when the CI job ends" in shown
    for secret in (JOB, REGISTRY_PASSWORD, DEPLOY_PASSWORD):
        assert secret not in shown + json.dumps(listed)
    assert credhelper("status", "--check").returncode == 0     # the job's, not the user's


def test_outside_a_ci_job_no_ci_rows(monkeypatch):
    monkeypatch.delenv("CI_JOB_TOKEN", raising=False)
    assert rows() == []
    assert "No tokens registered" in credhelper("status").stdout


def test_a_broken_config_does_not_hide_the_tokens(gitlab_host, home):
    from tests.conftest import write_config

    credhelper("add", gitlab_host, "--no-check", input="glpat-" + "b" * 20)
    write_config(home, "bogus = [\n")
    done = credhelper("status")
    assert "glpat-…bbbb" in done.stdout and done.stderr.count("\n") == 1
    assert "dates shown under the default policy" in done.stderr


def test_an_interrupted_rotation_needs_you_only_once_unsettled_for_a_day(gitlab, gitlab_host):
    import signal
    import subprocess

    old = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(1))
    credhelper("add", gitlab_host, input=old.token)
    killed = subprocess.run(["git-credential-gitlab", "get"], text=True, capture_output=True,
                            input="protocol=https\nhost=%s\n\n" % gitlab_host, timeout=60,
                            env=dict(os.environ, CREDHELPER_FAILPOINT="before-rotate-call"))
    assert killed.returncode == -signal.SIGKILL
    (row,) = rows()
    assert row["state"] == "unsettled" and row["attention"] is None, row
    assert credhelper("status", "--check").returncode == 0    # settled at the next use
    tokens = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")
    with open(tokens) as handle:
        data = json.load(handle)
    (pending,) = [token["pending"] for token in data["tokens"] if token.get("pending")]
    pending["started_at"] -= 2 * 86400               # two days pass, nothing used it
    with open(tokens, "w") as handle:
        json.dump(data, handle)
    quiet = credhelper("status", "--check", "--quiet", check=False)
    assert quiet.returncode == 1 and "a rotation is unsettled since " in quiet.stdout
