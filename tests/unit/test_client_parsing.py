"""The pure parts of the client: bounded JSON and Retry-After (credhelper/gitlab/wire.py).
Whatever the bytes, json_object returns a dict or raises BadBody, and retry_after returns
None or 0..3600; nothing else escapes."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper.gitlab import wire

JSON_BITS = st.sampled_from(['{', '}', '[', ']', '"', '\\', ':', ',', '1e400', 'NaN', '-Infinity',
                             '9' * 25, '0', '"a"', 'true', 'null', ' ', '\u00e9', '\\u0000'])
HEADER_BITS = st.sampled_from(["1", "0", "9" * 30, "١", "²", " ", "-", "GMT", "Mon,", "31",
                               "Feb", "9999", "0000", "+0000", "-0000", "12:00:00", ":", "x"])


def accepted_or_bad(body: bytes):
    try:
        value = wire.json_object(body)
    except wire.BadBody:
        return None
    assert isinstance(value, dict)
    return value


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_an_object_or_bad(body):
    accepted_or_bad(body)


@settings(max_examples=2000, deadline=None)
@given(st.lists(JSON_BITS, max_size=80))
def test_json_like_text_is_an_object_or_bad(bits):
    value = accepted_or_bad("".join(bits).encode())
    if value is not None:
        assert wire.nesting(json.dumps(value)) <= wire.MAX_DEPTH + 1


@settings(max_examples=1000, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-2**62, 2**62)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=30))
def test_ordinary_answers_round_trip(value):
    body = json.dumps({"value": value}).encode()
    if wire.nesting(body.decode()) <= wire.MAX_DEPTH:
        assert wire.json_object(body) == {"value": value}


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40, b'{"x": 1e400}',
    b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}', b'{"x": ' + b"9" * 4000 + b"}",
    b'{"x": 9223372036854775808}', b"[]", b'"text"', b"", b"\xff", b" " * (wire.MAX_BODY + 1),
    b'{"id": 1, "na',
])
def test_hostile_bodies_are_bad(body):
    with pytest.raises(wire.BadBody):
        wire.json_object(body)


def test_brackets_inside_strings_do_not_count():
    body = json.dumps({"message": "[" * 1000, "id": 7}).encode()
    assert wire.json_object(body)["id"] == 7


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(HEADER_BITS, max_size=12).map(" ".join),
                 st.integers(min_value=0).map(str)))
def test_any_retry_after_is_none_or_bounded(value):
    seconds = wire.retry_after(value, 1_800_000_000.0)
    assert seconds is None or (isinstance(seconds, int) and 0 <= seconds <= 3600)


@pytest.mark.parametrize("value, expected", [
    ("120", 120), (" 7 ", 7), ("0", 0), ("000000000000012", 12), ("9" * 400, 3600),
    ("3601", 3600), ("١٢٣", None), ("²³", None), ("-5", None), ("1.5", None), ("", None),
    (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0),
    ("Fri, 15 Jan 2027 08:00:30 GMT", 30), ("Sat, 15 Jan 2028 08:00:00 -0000", 3600),
])
def test_retry_after_examples(value, expected):
    assert wire.retry_after(value, 1_800_000_000.0) == expected   # 2027-01-15 08:00:00 UTC


def test_retry_after_date_within_the_hour():
    assert wire.retry_after("Fri, 15 Jan 2027 08:10:00 GMT", 1_800_000_000.0) == 600


def test_finite_floats_pass():
    assert math.isclose(wire.json_object(b'{"x": 1.5e300}')["x"], 1.5e300)
