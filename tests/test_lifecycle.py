"""Expiry arithmetic: import-free date functions checked against datetime."""

import datetime

import pytest

from credhelper.rules import dates, freshness
from credhelper.rules.model import EXPIRED, PAT, REVOKED, TokenRecord


@pytest.mark.parametrize("day", [datetime.date(1970, 1, 1), datetime.date(1969, 12, 31),
                                 datetime.date(2000, 2, 29), datetime.date(2024, 3, 1),
                                 datetime.date(2100, 2, 28), datetime.date(2400, 12, 31),
                                 datetime.date(1600, 3, 1)])
def test_days_from_civil_matches_datetime(day):
    days = (day - datetime.date(1970, 1, 1)).days
    assert dates.days_from_civil(day.year, day.month, day.day) == days
    assert dates.date_from_days(days) == day.isoformat()


def test_every_day_of_four_centuries_round_trips():
    start = datetime.date(1900, 1, 1)
    for offset in range(0, 146097, 1):
        day = start + datetime.timedelta(days=offset)
        days = (day - datetime.date(1970, 1, 1)).days
        assert dates.date_from_days(days) == day.isoformat()


@pytest.mark.parametrize("text", ["2026-02-29", "2026-13-01", "2026-1-01", "26-01-01",
                                  "2026/01/01", "", None, "2026-00-10", "2026-04-31"])
def test_parse_date_refuses_non_dates(text):
    with pytest.raises(ValueError):
        dates.parse_date(text)


def test_expiry_is_midnight_utc_of_the_date():
    record = TokenRecord(id="x", host="h", kind=PAT, expires_at="2026-12-01")
    midnight = int(datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc).timestamp())
    assert freshness.expiry_utc(record) == midnight
    assert freshness.unusable_reason(record, midnight - 1) is None
    assert freshness.unusable_reason(record, midnight) == "expired on 2026-12-01"
    assert freshness.days_left(record, midnight - 86400 * 3 + 5) == 3
    assert freshness.days_left(record, midnight - 1) == 1


def test_states_from_the_server_win():
    record = TokenRecord(id="x", host="h", kind=PAT)
    assert freshness.unusable_reason(record.replace(state=REVOKED), 0) == "was revoked"
    assert freshness.unusable_reason(record.replace(state=EXPIRED), 0) == \
        "has expired (the server says so)"
    assert freshness.unusable_reason(record.replace(state="needs-check"), 0) is None


# -- the lifecycle's decisions ---------------------------------------------------------------

from credhelper.rules.freshness import (  # noqa: E402
    DAY,
    Policy,
    needs_attention,
    new_expiry_date,
    next_check_at,
    rotation_due,
    warning_due,
)
from credhelper.rules.model import ADDED, DEPLOY, LOST, NEEDS_CHECK, OAUTH, UNKNOWN  # noqa: E402

NOW = 1_800_000_000            # 2027-01-15 08:00 UTC
TODAY = "2027-01-15"
POLICY = Policy()


def pat(**fields):
    fields.setdefault("scopes", ["api"])
    fields.setdefault("checked_at", NOW - 3600)
    fields.setdefault("next_check_at", NOW + 3600)
    return TokenRecord(id="p", host="h", kind=PAT, origin=ADDED, **fields)


def test_a_fresh_checked_token_needs_nothing():
    assert not needs_attention(pat(), NOW)


@pytest.mark.parametrize("changes", [
    {"checked_at": None},                       # never asked the server
    {"next_check_at": NOW - 1},                 # its time came
    {"state": NEEDS_CHECK},                     # git reported a rejection
    {"pending": {"new_id": "x"}},               # an interrupted rotation
])
def test_what_brings_a_token_to_attention(changes):
    assert needs_attention(pat(**changes), NOW)


def test_a_changed_config_means_a_new_look():
    assert needs_attention(pat(), NOW, config_changed_at=NOW - 60.5)
    assert not needs_attention(pat(config_mtime=NOW - 60.5), NOW, config_changed_at=NOW - 60.5)
    assert needs_attention(pat(config_mtime=NOW - 60.5), NOW, config_changed_at=None)


def test_backoff_silences_checks_and_recovery_alike():
    assert not needs_attention(pat(state=NEEDS_CHECK, backoff_until=NOW + 60), NOW)
    assert needs_attention(pat(state=NEEDS_CHECK, backoff_until=NOW - 1), NOW)
    assert not needs_attention(pat(pending={"new_id": "x"}, backoff_until=NOW + 60), NOW)
    assert needs_attention(pat(pending={"new_id": "x"}, backoff_until=NOW - 1), NOW)


def test_final_states_are_left_to_the_user():
    for state in (REVOKED, EXPIRED, UNKNOWN, LOST):
        assert not needs_attention(pat(state=state, next_check_at=NOW - 1), NOW)


def test_rotation_when_fewer_than_n_days_remain_and_a_scope_allows_it():
    in_six_days = dates.date_from_days(NOW // DAY + 6)
    in_eight_days = dates.date_from_days(NOW // DAY + 8)
    assert rotation_due(pat(expires_at=in_six_days), NOW, POLICY)
    assert not rotation_due(pat(expires_at=in_eight_days), NOW, POLICY)
    assert rotation_due(pat(expires_at=in_six_days, scopes=["self_rotate"]), NOW, POLICY)
    assert not rotation_due(pat(expires_at=in_six_days, scopes=["read_repository"]), NOW,
                            POLICY)
    assert not rotation_due(pat(expires_at=in_six_days), NOW, Policy(rotate=False))
    assert rotation_due(pat(expires_at=in_eight_days), NOW, Policy(rotate_before_days=10))
    assert not rotation_due(pat(expires_at=None), NOW, POLICY)


def test_next_check_is_the_interval_or_the_rotation_moment_whichever_first():
    far = dates.date_from_days(NOW // DAY + 100)
    assert next_check_at(pat(expires_at=far), NOW, POLICY) == NOW + 24 * 3600
    soon = dates.date_from_days(NOW // DAY + 7 + 1)   # rotation due in a day, minus 8 h
    rotate_at = freshness.expiry_utc(pat(expires_at=soon)) - 7 * DAY
    assert next_check_at(pat(expires_at=soon), NOW, POLICY) == rotate_at
    assert NOW < rotate_at < NOW + DAY


def test_new_expiry_never_past_the_server_maximum():
    assert new_expiry_date(NOW, POLICY) == "2027-02-14"
    assert new_expiry_date(NOW, Policy(new_lifetime_days=1000)) == "2028-01-15"


def test_deploy_token_warning_once_a_day_within_the_window():
    deploy = TokenRecord(id="d", host="h", kind=DEPLOY, origin=ADDED,
                         expires_at=dates.date_from_days(NOW // DAY + 3))
    assert warning_due(deploy, NOW) and needs_attention(deploy, NOW)
    assert not warning_due(deploy.replace(warned_at=NOW - 3600), NOW)
    assert warning_due(deploy.replace(warned_at=NOW - DAY), NOW)
    assert not warning_due(deploy.replace(expires_at=dates.date_from_days(NOW // DAY + 9)),
                           NOW)


def test_oauth_expiry_is_exact():
    token = TokenRecord(id="o", host="h", kind=OAUTH, origin=ADDED, expires_utc=NOW + 300,
                        expires_at=TODAY)
    assert freshness.expiry_utc(token) == NOW + 300
    assert freshness.refresh_due(token, NOW)
    assert not freshness.refresh_due(token.replace(expires_utc=NOW + 3600), NOW)
