"""Rotation keeps the lifetime the old token was granted (issue 12: a 182-day token came back
with 30 days), and `credhelper rotate` tells each rotation once.  Real `credhelper` and
`git-credential-gitlab` against the fake GitLab over HTTPS."""

import datetime
import itertools

from credhelper.local.audit import read_events
from tests.conftest import credhelper, write_config
from tests.test_lifecycle_api import ROTATE, calls, get, served, utc_today

_numbers = itertools.count(1)


def _pat(gitlab, lifetime_days, days_left=None, scopes=("api",)):
    """A PAT the server granted ``lifetime_days``, of which ``days_left`` remain (default:
    all of them), owned by a user of its own."""
    user = gitlab.state.add_user("life%d" % next(_numbers)).username
    left = lifetime_days if days_left is None else days_left
    token = gitlab.state.create_pat(user, list(scopes), expires_at=utc_today(left))
    token.created_at -= datetime.timedelta(days=lifetime_days - left)
    return token


def _successor(gitlab, token):
    (new,) = gitlab.state.descendants(token)
    return new


def test_rotate_says_once_what_it_rotated(gitlab, gitlab_host):
    token = _pat(gitlab, 90)
    credhelper("add", gitlab_host, input=token.token)
    done = credhelper("rotate", gitlab_host)
    told = [line for line in (done.stdout + done.stderr).splitlines() if "otated" in line]
    assert len(told) == 1 and told[0].startswith("Rotated"), done.stdout + done.stderr
    assert done.stderr == ""
    assert [e["event"] for e in read_events()].count("rotated") == 1     # the audit log stays


def test_rotate_keeps_a_182_day_lifetime(gitlab, gitlab_host):
    token = _pat(gitlab, 182)
    credhelper("add", gitlab_host, input=token.token)
    done = credhelper("rotate", gitlab_host)
    new = _successor(gitlab, token)
    assert new.expires_at == utc_today(182)
    assert str(utc_today(182)) in done.stdout


def test_self_rotation_on_get_keeps_the_granted_lifetime(gitlab, gitlab_host):
    token = _pat(gitlab, 182, days_left=2)
    credhelper("add", gitlab_host, input=token.token)
    before = calls(gitlab, "POST", ROTATE)
    first = get(gitlab_host)
    new = _successor(gitlab, token)
    assert served(first) == new.token and new.expires_at == utc_today(182)
    assert "rotated the access token" in first.stderr           # get's warning stays as it was
    assert served(get(gitlab_host)) == new.token
    assert calls(gitlab, "POST", ROTATE) - before == 1
    # the new token's own created -> expires span is 182 days again: the next one keeps it too
    assert (new.expires_at - new.created_at.date()).days == 182


def test_an_explicit_lifetime_in_the_config_caps_the_kept_one(gitlab, gitlab_host, home):
    write_config(home, "[policy]\nnew_lifetime_days = 60\n")
    token = _pat(gitlab, 182)
    credhelper("add", gitlab_host, input=token.token)
    credhelper("rotate", gitlab_host)
    assert _successor(gitlab, token).expires_at == utc_today(60)


def test_a_longer_explicit_lifetime_does_not_lengthen_the_kept_one(gitlab, gitlab_host, home):
    write_config(home, "[policy]\nnew_lifetime_days = 300\n")
    token = _pat(gitlab, 45)
    credhelper("add", gitlab_host, input=token.token)
    credhelper("rotate", gitlab_host)
    assert _successor(gitlab, token).expires_at == utc_today(45)


def test_a_lifetime_past_gitlabs_maximum_asks_for_the_maximum(gitlab, gitlab_host):
    token = _pat(gitlab, 500)            # made before the instance had a maximum
    credhelper("add", gitlab_host, input=token.token)
    done = credhelper("rotate", gitlab_host)
    assert _successor(gitlab, token).expires_at == utc_today(365)
    assert "refused" not in done.stderr            # asked for 365 days at once, not refused


def test_a_lower_instance_maximum_is_met_by_the_fallback(gitlab, gitlab_host):
    token = _pat(gitlab, 182)
    credhelper("add", gitlab_host, input=token.token)
    gitlab.state.max_token_lifetime_days = 100
    try:
        done = credhelper("rotate", gitlab_host)
    finally:
        gitlab.state.max_token_lifetime_days = 365
    assert _successor(gitlab, token).expires_at == utc_today(99)
    assert "refused the expiry %s" % utc_today(182) in done.stderr


def test_an_unknown_lifetime_keeps_the_policys(gitlab, gitlab_host):
    token = _pat(gitlab, 182)
    credhelper("add", gitlab_host, "--no-check", input=token.token)   # never asked about
    credhelper("rotate", gitlab_host)
    assert _successor(gitlab, token).expires_at == utc_today(30)


def test_a_one_day_lifetime_is_kept_as_two(gitlab, gitlab_host):
    """A whole day is the unit: a kept 1-day lifetime could end within the hour (a token
    rotated at 23:30 expiring at midnight), so two days is the least credhelper asks for."""
    token = _pat(gitlab, 1)
    credhelper("add", gitlab_host, input=token.token)
    credhelper("rotate", gitlab_host)
    assert _successor(gitlab, token).expires_at == utc_today(2)
