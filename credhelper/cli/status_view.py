"""`credhelper status` for people: one block per token (owner, token name, expiry, last check,
what happens next, where it comes from), or the one-line-per-token table of ``--table``.

Everything here reads the rows ``status.describe`` makes (the same dicts ``--json`` prints),
so the two views cannot say different things.  Every cell is scrubbed: the index holds what
servers and clients said (a username git stored, a token name), which must not act on the
terminal.  Instants are shown in UTC, as GitLab's expiry dates are (docs/gitlab.md).
"""

from __future__ import annotations

import time

from credhelper.rules.freshness import DAY, HOUR
from credhelper.rules.redact import scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADER = ("HOST", "ACCOUNT", "KIND", "USERNAME", "PATH", "NAME", "SCOPES", "EXPIRES", "STORE",
          "TOKEN", "STATE", "CHECKED", "NEXT")


def span(seconds: float) -> str:
    """A duration for people: ``1h 55m`` under a day (a two-hour OAuth token is not "0
    days"), ``12m``, ``under a minute``; whole days from a day on."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "under a minute"
    if seconds < HOUR:
        return "%dm" % (seconds // 60)
    if seconds < DAY:
        return "%dh %02dm" % (seconds // HOUR, seconds % HOUR // 60)
    days = seconds // DAY
    if days == 1:       # "1 day" alone would hide up to 23 hours
        return "1 day %dh" % (seconds % DAY // HOUR)
    return "%d days" % days


def utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def checked(row: dict[str, Any], now: float) -> str:
    """``2h 05m ago (2026-12-01 14:20 UTC)``, or why there is no check to show."""
    at = row["checked_at"]
    if at is None:
        return "never checked" if row["checkable"] else "not checkable (this kind cannot call " \
            "the API)"
    return "%s ago (%s)" % (span(now - at), utc(at))


def expires(row: dict[str, Any], now: float) -> str:
    """``2027-01-01 (in 30 days)``; the exact instant and hours when less than a day is left;
    ``never`` for a token without expiry."""
    at = row["expires_utc"]
    if at is None:
        return no_expiry(row)
    if at <= now:
        return "%s (expired %s ago)" % (row["expires_at"] or utc(at), span(now - at))
    if at - now < DAY:
        return "%s (in %s)" % (utc(at), span(at - now))
    return "%s (in %s)" % (row["expires_at"], span(at - now))


def no_expiry(row: dict[str, Any]) -> str:
    """A token without an expiry date: ``never`` only when the server said so; a token it
    has not described yet, or that cannot call the API (deploy tokens, passwords), has one
    we do not know."""
    if row["origin"] == "ci":
        return "when the CI job ends"
    if row["checkable"]:
        return "never" if row["checked_at"] else "not known until checked"
    if row["origin"] == "added":
        return "not known (give it with credhelper add --expires-at)"
    return "not known"


def upcoming(row: dict[str, Any], now: float) -> str:
    """``next``, with when it happens (absolute and relative) when that is known."""
    at = row["next_at"]
    if at is None:
        return str(row["next"])
    when = "now" if at <= now else "in " + span(at - now)
    if utc(at)[:10] in row["next"]:          # "rotates itself from <that day>": said already
        return "%s (%s)" % (row["next"], when)
    return "%s (at %s, %s)" % (row["next"], utc(at), when)


def account(row: dict[str, Any]) -> str:
    return str(row["owner"]) + (" (default)" if row["default"] else "")


def block(row: dict[str, Any], now: float) -> list[str]:
    """One token as lines: a title (host, account, token name), then labelled fields."""
    fields = [("token", _what(row)), ("path", row["path"]), ("scopes", _scopes(row)),
              ("expires", expires(row, now)), ("checked", checked(row, now)),
              ("state", row["state"]), ("next", upcoming(row, now)),
              ("source", row["source"]), ("attention", row["attention"])]
    lines = [_title(row)] + ["  %-10s %s" % (label, value) for label, value in fields if value]
    return [scrub(line) for line in lines]


def _title(row: dict[str, Any]) -> str:
    owner = account(row) if row["owner"] != "?" else "(owner not known until checked)"
    return "%s  %s%s" % (row["host"], owner,
                         '  "%s"' % row["token_name"] if row["token_name"] else "")


def _what(row: dict[str, Any]) -> str:
    """``access token glpat-…0001 as oauth2``: the kind, the hint, the login git sends."""
    what = "%s %s" % (row["kind_name"], row["token"] or "")
    if row["username"] and row["username"] != row["owner"]:
        what += " as %s" % row["username"]
    return what.strip()


def _scopes(row: dict[str, Any]) -> str | None:
    if row["scopes"]:
        return ",".join(row["scopes"])
    return None if row["origin"] == "ci" else "unknown"


def blocks(rows: list[dict[str, Any]], now: float) -> list[str]:
    lines: list[str] = []
    for row in rows:
        lines += ([""] if lines else []) + block(row, now)
    return lines


def cells(row: dict[str, Any], now: float) -> tuple[str, ...]:
    """One token as the table's cells (the columns of ``HEADER``)."""
    at = row["checked_at"]
    expiry = row["expires_utc"]
    if expiry is None:
        expiring = no_expiry(row).partition(" (")[0]
    elif expiry - now < DAY:
        expiring = "%s (%s)" % (utc(expiry), "expired" if expiry <= now else span(expiry - now))
    else:
        expiring = "%s (%sd)" % (row["expires_at"], row["days_left"])
    return tuple(scrub(str(cell)) for cell in (
        row["host"], account(row), row["kind"], row["username"], row["path"] or "-",
        row["token_name"] or "-", ",".join(row["scopes"]) if row["scopes"] else "?",
        expiring, row["store"], row["token"] or "-", row["state"],
        "%s (%s ago)" % (utc(at), span(now - at)) if at else "never", upcoming(row, now)))
