"""The GitLab client against the fake GitLab misbehaving over real HTTPS: every answer is
DEFINITIVE (the server did or did not act) or AMBIGUOUS (``Unavailable.ambiguous``: a POST
that may have been carried out), and no call outlasts its deadline or its memory budget
(docs/gitlab.md#lost-answer-window)."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import subprocess
import sys
import time

import pytest

from credhelper.gitlab.client import GitLabClient
from credhelper.gitlab.errors import Refused, TokenRejected, Unavailable

ROTATE = r"/api/v4/personal_access_tokens/self/rotate"
SELF = r"/api/v4/personal_access_tokens/self"
OAUTH = r"/oauth/token"


@pytest.fixture(autouse=True)
def no_faults_left(gitlab):
    yield
    gitlab.faults.clear()


def client(gitlab, **options):
    return GitLabClient("https://localhost:%d" % gitlab.port, ca_file=gitlab.ca.ca_file,
                        **options)


def pat(gitlab):
    return gitlab.state.create_pat("alice", ["api"])


def expiry():
    return (dt.date.today() + dt.timedelta(days=30)).isoformat()


def committed(gitlab, token):
    """The rotation of *token* was stored: it is revoked and has a successor."""
    return not gitlab.state.is_active(token) and gitlab.state.descendants(token) != []


def failure(call, *args):
    with pytest.raises(Unavailable) as caught:
        call(*args)
    return caught.value


def assert_clean(error, *secrets):
    for secret in secrets:
        assert secret not in str(error)


# -- the rotation commits, the answer is lost: always ambiguous ------------------------------

def test_a_rotation_that_commits_after_the_client_gave_up_is_ambiguous(gitlab):
    token = pat(gitlab)
    fault = gitlab.faults.commit_late("POST", ROTATE, 2.5)
    start = time.monotonic()
    error = failure(client(gitlab, timeout=1.0).rotate, token.token, expiry())
    assert time.monotonic() - start < 1.5
    assert error.ambiguous and "did not answer within" in str(error)
    assert not committed(gitlab, token)
    assert fault.wait_committed(5) and committed(gitlab, token)   # and yet it happened


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_after_commit_is_ambiguous(gitlab, status):
    token = pat(gitlab)
    gitlab.faults.commit_then_status("POST", ROTATE, status)
    error = failure(client(gitlab).rotate, token.token, expiry())
    assert error.ambiguous and error.status == status and committed(gitlab, token)
    assert_clean(error, token.token)


def test_a_429_on_a_post_is_ambiguous_but_on_a_get_is_not(gitlab):
    token = pat(gitlab)
    gitlab.faults.status("POST", ROTATE, 429, retry_after=30)
    gitlab.faults.status("GET", SELF, 429, retry_after=30)
    rotate_error = failure(client(gitlab).rotate, token.token, expiry())
    self_error = failure(client(gitlab).token_self, token.token)
    assert rotate_error.ambiguous and not self_error.ambiguous
    assert rotate_error.retry_after == self_error.retry_after == 30


@pytest.mark.parametrize("body, length", [
    (b"<html><body>Sign in</body></html>", None),
    (b"[]", None),
    (b'{"id": 1, "token": "glpat-', None),
    (b'{"id": 1, "token": "glpat-abc', 4096),          # declares more than it sends
])
def test_a_malformed_200_after_commit_is_ambiguous(gitlab, body, length):
    token = pat(gitlab)
    gitlab.faults.commit_then_garbage("POST", ROTATE, body, content_length=length)
    error = failure(client(gitlab).rotate, token.token, expiry())
    assert error.ambiguous and committed(gitlab, token)
    assert_clean(error, token.token)


def test_a_dropped_answer_after_commit_is_ambiguous(gitlab):
    token = pat(gitlab)
    gitlab.faults.drop_after_commit("POST", ROTATE)
    error = failure(client(gitlab).rotate, token.token, expiry())
    assert error.ambiguous and committed(gitlab, token)


def test_an_oauth_refresh_that_fails_after_sending_is_ambiguous(gitlab):
    gitlab.faults.commit_then_status("POST", OAUTH, 502)
    error = failure(client(gitlab).oauth_refresh, "refresh-secret-123", "app")
    assert error.ambiguous and "refresh-secret-123" not in str(error)


# -- the request never reached the server: definitive -----------------------------------------

def test_connection_refused_is_not_ambiguous(gitlab):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    error = failure(GitLabClient("https://127.0.0.1:%d" % port).rotate, "glpat-x", expiry())
    assert not error.ambiguous


def test_a_name_that_does_not_resolve_says_so(gitlab):
    error = failure(GitLabClient("https://gitlab.invalid").rotate, "glpat-x", expiry())
    assert not error.ambiguous and "cannot resolve gitlab.invalid" in str(error)


def test_a_tls_handshake_failure_is_not_ambiguous(gitlab):
    token = pat(gitlab)
    untrusting = GitLabClient("https://localhost:%d" % gitlab.port, ca_file=None)
    error = failure(untrusting.rotate, token.token, expiry())
    assert not error.ambiguous and "TLS" in str(error)
    assert gitlab.state.is_active(token)


def test_refusals_are_definitive(gitlab):
    token = pat(gitlab)
    with pytest.raises(Refused):
        client(gitlab).rotate(token.token, "2999-01-01")
    gitlab.state.revoke(token)
    with pytest.raises(TokenRejected):
        client(gitlab).rotate(token.token, expiry())


# -- bounded in time ---------------------------------------------------------------------------

@pytest.mark.parametrize("whole", [True, False])
def test_a_dripped_answer_cannot_hold_a_call_past_its_deadline(gitlab, whole):
    token = pat(gitlab)
    gitlab.faults.drip("POST", ROTATE, 0.05, whole=whole)
    start = time.monotonic()
    error = failure(client(gitlab, timeout=1.5).rotate, token.token, expiry())
    elapsed = time.monotonic() - start
    print("drip (whole=%s): %.2f s" % (whole, elapsed))
    assert elapsed < 1.5 + 0.5 and error.ambiguous and committed(gitlab, token)


def test_the_call_deadline_is_the_earlier_of_timeout_and_deadline(gitlab):
    token = pat(gitlab)
    gitlab.faults.timeout("GET", SELF, seconds=5)
    start = time.monotonic()
    error = failure(client(gitlab, timeout=30, deadline=time.monotonic() + 1).token_self,
                    token.token)
    assert time.monotonic() - start < 1.5 and not error.ambiguous


def test_no_time_left_means_no_call(gitlab):
    before = len(gitlab.requests)
    error = failure(client(gitlab, deadline=time.monotonic()).rotate, "glpat-x", expiry())
    assert not error.ambiguous and len(gitlab.requests) == before


# -- bounded in input --------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["deep", "overflow", "nan", "infinity", "big_int"])
def test_hostile_json_is_unavailable(gitlab, what):
    token = pat(gitlab)
    gitlab.faults.huge("GET", SELF, what)
    error = failure(client(gitlab).token_self, token.token)
    assert not error.ambiguous and "JSON" in str(error)
    gitlab.faults.huge("POST", ROTATE, what)
    assert failure(client(gitlab).rotate, token.token, expiry()).ambiguous


BOMB = """
import resource, sys, time
from credhelper.gitlab.client import GitLabClient
from credhelper.gitlab.errors import Unavailable
client = GitLabClient(sys.argv[1], ca_file=sys.argv[2])
try:
    client.token_self(sys.argv[3])
    print("answered")
except Unavailable as error:
    print(error)
# VmHWM: this process's own peak (ru_maxrss keeps the forking parent's size across exec)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmHWM"].split()[0]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_of_token_self(gitlab, token):
    done = subprocess.run([sys.executable, "-c", BOMB, "https://localhost:%d" % gitlab.port,
                           gitlab.ca.ca_file, token.token], capture_output=True, text=True,
                          timeout=60)
    message, peaks = done.stdout.splitlines()
    hwm, maxrss = (int(kib) for kib in peaks.split())
    return message, hwm, maxrss


def test_a_gzip_bomb_is_cut_off_small(gitlab):
    token = pat(gitlab)
    answered, plain_peak, _ = peak_of_token_self(gitlab, token)
    gitlab.faults.huge("GET", SELF, "gzip_bomb")
    message, bomb_peak, maxrss = peak_of_token_self(gitlab, token)
    print("gzip bomb: %s; peak RSS %.1f MiB (a plain answer: %.1f MiB; ru_maxrss %.1f MiB)"
          % (message, bomb_peak / 1024, plain_peak / 1024, maxrss / 1024))
    assert answered == "answered" and "too big" in message
    assert bomb_peak < 64 * 1024 and bomb_peak - plain_peak < 8 * 1024


# -- Retry-After as servers and proxies really send it ------------------------------------------

def http_date(days):
    return email.utils.format_datetime(dt.datetime.now(dt.timezone.utc)
                                       + dt.timedelta(days=days), usegmt=True)


@pytest.mark.parametrize("value, expected", [
    ("120", 120),
    ("9" * 400, 3600),
    ("١٢٣", None),
    ("²³", None),
    ("-5", None),
    ("soon", None),
    (http_date(365), 3600),
])
def test_retry_after_values(gitlab, value, expected):
    gitlab.faults.status("GET", SELF, 503, retry_after=value)
    assert failure(client(gitlab).token_self, "glpat-x").retry_after == expected


def test_existing_answers_still_parse(gitlab):
    token = pat(gitlab)
    info = client(gitlab).token_self(token.token)
    assert info["id"] == token.id and json.dumps(info)
    rotated = client(gitlab, timeout=30).rotate(token.token, expiry())
    assert rotated["token"] != token.token and committed(gitlab, token)
