"""What the client accepts from the wire, as pure functions: a bounded JSON object and a
bounded Retry-After (docs/gitlab.md#api-authentication-and-error-bodies).

GitLab's answers to the calls credhelper makes are under 4 KiB and a few levels deep; anything
far beyond that is a proxy, a broken server or an attack, and is refused with ``BadBody``
before it can cost memory, a RecursionError or an infinite number.
"""

from __future__ import annotations

import json
import math
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_BODY = 256 * 1024        # bytes, after decompression
MAX_DEPTH = 32               # nesting of arrays and objects
MAX_INT = 1 << 63            # integers beyond a 64-bit id are refused
MAX_RETRY_AFTER = 3600       # seconds; a longer Retry-After is taken as this

# a JSON string, matched possessively so no input backtracks
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class BadBody(ValueError):
    """The body is not a JSON object within the limits; the message says how (no content)."""


def json_object(body: bytes) -> dict[str, Any]:
    """The JSON object *body* holds, or ``BadBody`` (see ``json_value``; also when it is not
    an object)."""
    value = json_value(body)
    if not isinstance(value, dict):
        raise BadBody("JSON that is not an object")
    return value


def json_list(body: bytes) -> list[dict[str, Any]]:
    """The JSON array of objects *body* holds (a GitLab listing), or ``BadBody``."""
    value = json_value(body)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise BadBody("JSON that is not a list of objects")
    return value


def json_value(body: bytes) -> Any:
    """The JSON *body* holds, or ``BadBody``: not UTF-8, over ``MAX_BODY``, not JSON, nested
    deeper than ``MAX_DEPTH``, ``NaN``/``Infinity``, a float that overflows to infinity, or an
    integer of 2**63 or more.  Nothing else is raised."""
    if len(body) > MAX_BODY:
        raise BadBody("a body over %d KiB" % (MAX_BODY // 1024))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("a body that is not UTF-8") from None
    if nesting(text) > MAX_DEPTH:
        raise BadBody("JSON nested deeper than %d levels" % MAX_DEPTH)
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except BadBody:
        raise
    except (ValueError, RecursionError):
        raise BadBody("a body that is not JSON") from None


def nesting(text: str) -> int:
    """How deep arrays and objects nest in *text* (brackets inside strings do not count); the
    scan stops once past ``MAX_DEPTH``."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return text.count("[") + text.count("{")
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise BadBody("JSON with %s" % name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadBody("JSON with a number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 20:           # checked before int(): no huge conversions
        raise BadBody("JSON with an integer out of range")
    value = int(text)
    if not -MAX_INT <= value < MAX_INT:
        raise BadBody("JSON with an integer out of range")
    return value


def retry_after(value: str | None, now: float) -> int | None:
    """Seconds to wait from a Retry-After header at Unix time *now*: ASCII digits
    (delta-seconds) or an HTTP date, at most ``MAX_RETRY_AFTER``; None for anything else.
    Never raises."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        return MAX_RETRY_AFTER if len(digits) > 6 else min(int(digits), MAX_RETRY_AFTER)
    if not value.isascii() or len(value) > 64:
        return None
    return _seconds_until(value, now)


def _seconds_until(value: str, now: float) -> int | None:
    import datetime as dt
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:              # "-0000": UTC, said to be of unknown origin
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    if not math.isfinite(seconds):
        return None
    return int(max(0.0, min(seconds, MAX_RETRY_AFTER)))
