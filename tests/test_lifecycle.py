"""Expiry arithmetic: import-free date functions checked against datetime."""

import datetime

import pytest

from credhelper import lifecycle
from credhelper.model import EXPIRED, PAT, REVOKED, TokenRecord


@pytest.mark.parametrize("day", [datetime.date(1970, 1, 1), datetime.date(1969, 12, 31),
                                 datetime.date(2000, 2, 29), datetime.date(2024, 3, 1),
                                 datetime.date(2100, 2, 28), datetime.date(2400, 12, 31),
                                 datetime.date(1600, 3, 1)])
def test_days_from_civil_matches_datetime(day):
    days = (day - datetime.date(1970, 1, 1)).days
    assert lifecycle.days_from_civil(day.year, day.month, day.day) == days
    assert lifecycle.date_from_days(days) == day.isoformat()


def test_every_day_of_four_centuries_round_trips():
    start = datetime.date(1900, 1, 1)
    for offset in range(0, 146097, 1):
        day = start + datetime.timedelta(days=offset)
        days = (day - datetime.date(1970, 1, 1)).days
        assert lifecycle.date_from_days(days) == day.isoformat()


@pytest.mark.parametrize("text", ["2026-02-29", "2026-13-01", "2026-1-01", "26-01-01",
                                  "2026/01/01", "", None, "2026-00-10", "2026-04-31"])
def test_parse_date_refuses_non_dates(text):
    with pytest.raises(ValueError):
        lifecycle.parse_date(text)


def test_expiry_is_midnight_utc_of_the_date():
    record = TokenRecord(id="x", host="h", kind=PAT, expires_at="2026-12-01")
    midnight = int(datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc).timestamp())
    assert lifecycle.expiry_utc(record) == midnight
    assert lifecycle.unusable_reason(record, midnight - 1) is None
    assert lifecycle.unusable_reason(record, midnight) == "expired on 2026-12-01"
    assert lifecycle.days_left(record, midnight - 86400 * 3 + 5) == 2


def test_states_from_the_server_win():
    record = TokenRecord(id="x", host="h", kind=PAT)
    assert lifecycle.unusable_reason(record.replace(state=REVOKED), 0) == "was revoked"
    assert lifecycle.unusable_reason(record.replace(state=EXPIRED), 0) == "expired"
    assert lifecycle.unusable_reason(record.replace(state="needs-check"), 0) is None
