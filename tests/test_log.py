"""`credhelper log`: the audit log for people (local time, one line per event) and for scripts
(`--json` lines), chosen by host, age and count, and never raw server text or a secret."""

import calendar
import datetime
import json
import os
import re
import time
import unicodedata

import pytest

from credhelper.local import paths
from credhelper.rules.redact import redact
from tests.conftest import credhelper, run, write_config

SELF = r"/api/v4/personal_access_tokens/self"
HOSTILE = "\x1b]0;pwned\x07 \x1b[2J \u202eevil\u202c \x9b31m \x7f"


def utc_today(offset=0):
    return datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)


def unsafe(text):
    return [c for c in text if c != "\n" and (unicodedata.category(c) in ("Cc", "Cs")
                                              or c in "\u202a\u202b\u202c\u202d\u202e"
                                              "\u2066\u2067\u2068\u2069\u200e\u200f\u061c")]


def log(*args, check=True):
    return credhelper("log", *args, check=check)


def audit_file():
    return os.path.join(paths.state_dir(), "audit.log")


pytestmark = pytest.mark.usefixtures("gitlab_restored")


def test_a_rotation_shows_as_one_line_in_local_time(gitlab, gitlab_host, monkeypatch):
    monkeypatch.setenv("TZ", "XST5")             # five hours behind UTC, called XST
    old = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(2))
    credhelper("add", gitlab_host, input=old.token)
    assert log().stdout.startswith("No events")
    credhelper("attend")                          # due: it rotates
    (new,) = gitlab.state.active_tokens_of_family(old.token)
    (event,) = [json.loads(line) for line in log("--json").stdout.splitlines()]
    assert event["event"] == "rotated" and event["token"] == redact(new.token)
    assert event["old_token_id"] == old.id and event["new_token_id"] == new.id
    local = time.strftime("%Y-%m-%d %H:%M:%S XST", time.gmtime(
        calendar.timegm(time.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")) - 5 * 3600))
    (line,) = log().stdout.splitlines()
    assert line.startswith("%s  %s  %s  rotated  " % (local, gitlab_host, redact(new.token)))
    assert "expires_at=%s" % new.expires_at in line and "new_token_id=%d" % new.id in line
    for secret in (old.token, new.token):
        assert secret not in log().stdout + log("--json").stdout


def test_server_text_in_a_failure_is_shown_clean(gitlab, gitlab_host, home):
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(90))
    credhelper("add", gitlab_host, input=token.token)
    write_config(home, "[policy]\ncheck_interval_hours = 0\n")
    gitlab.faults.status("GET", SELF, 422, body=json.dumps(
        {"message": "%s token %s is not welcome" % (HOSTILE, token.token)}))
    run("git-credential-gitlab", "get", input="protocol=https\nhost=%s\n\n" % gitlab_host)
    shown = log().stdout
    (line,) = [line for line in shown.splitlines() if " check-failed " in line]
    assert "error: " in line and "not welcome" in line
    assert not unsafe(shown) and token.token not in shown
    assert token.token not in log("--json").stdout


def test_an_edited_or_old_log_is_scrubbed_and_a_broken_line_skipped(gitlab_host):
    token = "glpat-" + "s" * 20
    os.makedirs(paths.state_dir(), mode=0o700, exist_ok=True)
    with open(audit_file(), "w") as handle:
        handle.write("not json at all\n[1, 2]\n")
        handle.write(json.dumps({"time": "2026-01-02T03:04:05Z", "event": "rotation-failed",
                                 "host": gitlab_host, "token": "glpat-…ssss",
                                 "reason": HOSTILE + " " + token}) + "\n")
    shown = log()
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 1
    assert "rotation-failed  reason: " in shown.stdout
    assert not unsafe(shown.stdout) and token not in shown.stdout
    (event,) = [json.loads(line) for line in log("--json").stdout.splitlines()]
    assert token not in json.dumps(event) and not unsafe(event["reason"])


def _events(*entries):
    os.makedirs(paths.state_dir(), mode=0o700, exist_ok=True)
    with open(audit_file(), "w") as handle:
        for stamp, host, event in entries:
            handle.write(json.dumps({"time": stamp, "event": event, "host": host,
                                     "token": "glpat-…0001", "kind": "pat"}) + "\n")


def test_host_since_and_count_choose_the_events():
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    _events(("2026-01-01T10:00:00Z", "a.example.com", "rotated"),
            ("2026-01-05T10:00:00Z", "b.example.com", "refresh-failed"),
            (recent, "a.example.com", "rejected"))

    def events(*args):
        return [(e["host"], e["event"]) for e in map(json.loads, log("--json", *args)
                                                     .stdout.splitlines())]

    assert len(events()) == 3
    assert events("a.example.com") == [("a.example.com", "rotated"), ("a.example.com",
                                                                      "rejected")]
    assert events("https://a.example.com/") == events("a.example.com")
    assert events("-n", "1") == [("a.example.com", "rejected")] and events("-n", "0") == []
    assert events("--since", "2026-01-03") == [("b.example.com", "refresh-failed"),
                                               ("a.example.com", "rejected")]
    assert events("--since", "2026-01-05T10:01") == events("--since", "2h") == [
        ("a.example.com", "rejected")]
    assert events("--since", "30m") == []
    assert "b.example.com  glpat-…0001  refresh-failed" in log("b.example.com").stdout


@pytest.mark.parametrize("args, message", [
    (["--since", "yesterday"], "--since takes a date"),
    (["--since", "3y"], "--since takes a date"),
    (["-n", "-2"], "-n takes a count"),
    (["https://h.example.com/group/project"], "give the host alone"),
])
def test_bad_arguments_get_one_line(args, message):
    done = log(*args, check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert re.match(r"credhelper: ", done.stderr)
