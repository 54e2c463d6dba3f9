"""The token lifecycle's decisions, as pure functions of (record, now, policy).

GitLab treats ``expires_at = D`` as "invalid from 00:00 UTC on D" (gitlab-facts.md), so that
instant is both the expiry we announce to git (``password_expiry_utc``) and the one we enforce.

The ``get`` hot path only asks ``needs_attention``, which reads fields of the record: the
policy (from the config file) was already folded into ``next_check_at`` when the token was
last checked, so an ordinary ``get`` neither parses the config nor touches the network.
"""

from .model import (ADDED, EXPIRED, LOST, NEEDS_CHECK, OAUTH, OK, PAT, REVOKED, UNKNOWN)

DAY = 86400
HOUR = 3600
FINAL_STATES = (REVOKED, EXPIRED, UNKNOWN, LOST)   # only the user can mend these
SELF_ROTATE_SCOPES = frozenset({"api", "self_rotate"})
SERVER_MAX_LIFETIME_DAYS = 365      # GitLab refuses a rotation expiry beyond today + 365 days
OAUTH_REFRESH_MARGIN = 10 * 60      # refresh an OAuth token with less than this left


class Policy:
    """What a host's tokens should do; defaults justified in README ("Token lifecycle")."""

    __slots__ = ("rotate", "rotate_before_days", "new_lifetime_days", "check_interval",
                 "retry_after_failure", "warn_before_days")

    def __init__(self, rotate=True, rotate_before_days=7, new_lifetime_days=30,
                 check_interval=24 * HOUR, retry_after_failure=10 * 60, warn_before_days=7):
        self.rotate = rotate
        self.rotate_before_days = rotate_before_days
        self.new_lifetime_days = new_lifetime_days
        self.check_interval = check_interval
        self.retry_after_failure = retry_after_failure
        self.warn_before_days = warn_before_days


DEFAULT_POLICY = Policy()


def can_use_api(record):
    """PATs (with project and group access tokens) and OAuth tokens can describe themselves;
    deploy and job tokens cannot call the API."""
    return record.kind in (PAT, OAUTH) and record.origin == ADDED


def needs_attention(record, now, config_changed_at=None):
    """Must ``get`` look at this token before handing it out (check, rotate, recover, warn)?

    Cheap and import-free: this runs on every ``get``.
    """
    if record.origin != ADDED:
        return False
    if record.pending:                    # a rotation was interrupted: finish or explain it,
        return not (record.backoff_until and now < record.backoff_until)  # unless backing off
    if record.extra.get("stale_secret"):
        return True                       # the replaced token's secret is still to delete
    if check_due(record, now, config_changed_at):
        return True
    if record.state in FINAL_STATES:
        return False
    if record.kind == PAT and SELF_ROTATE_SCOPES.intersection(record.scopes or ()):
        return False                      # it renews itself when its check comes
    return warning_due(record, now)


def check_due(record, now, config_changed_at=None):
    """Is it time to ask the server about this token?"""
    if not can_use_api(record) or record.state in FINAL_STATES:
        return False
    if record.backoff_until and now < record.backoff_until:
        return False                      # the last call failed: do not hammer the server
    if record.state == NEEDS_CHECK or record.checked_at is None:
        return True
    if config_changed_at != record.config_mtime:
        return True                       # the config (so maybe the policy) changed
    return record.next_check_at is None or now >= record.next_check_at


def rotation_due(record, now, policy):
    """Should this PAT rotate itself now?"""
    if record.kind != PAT or not policy.rotate or record.state != OK:
        return False
    if not SELF_ROTATE_SCOPES.intersection(record.scopes or ()):
        return False
    expiry = expiry_utc(record)
    return expiry is not None and expiry - now < policy.rotate_before_days * DAY


def refresh_due(record, now):
    """Should this OAuth token be refreshed now (it needs a refresh token to be)?"""
    expiry = expiry_utc(record)
    return (record.kind == OAUTH and record.state == OK and expiry is not None
            and expiry - now < OAUTH_REFRESH_MARGIN)


def next_check_at(record, now, policy):
    """When ``get`` should ask the server again: after the check interval, or as soon as a
    rotation (or an OAuth refresh) becomes due, whichever comes first."""
    due = now + policy.check_interval
    expiry = expiry_utc(record)
    if expiry is not None:
        if record.kind == PAT and policy.rotate and SELF_ROTATE_SCOPES.intersection(
                record.scopes or ()):
            act_at = expiry - policy.rotate_before_days * DAY
        elif record.kind == OAUTH:
            act_at = expiry - OAUTH_REFRESH_MARGIN
        else:
            act_at = expiry
        due = min(due, max(act_at, now))   # already due: at once
    return int(due)


def backoff_until(now, policy, retry_after=None):
    """After a failed call: not again before the policy's pause or the server's Retry-After."""
    return int(now + max(policy.retry_after_failure, retry_after or 0))


def new_expiry_date(now, policy, max_days=SERVER_MAX_LIFETIME_DAYS):
    """The ``expires_at`` to ask for when rotating: the policy's lifetime, never past what
    the server allows."""
    days = max(1, min(policy.new_lifetime_days, max_days))
    return date_from_days(int(now // DAY) + days)


def warning_due(record, now, warn_before_days=7):
    """A token that will not renew itself (deploy tokens, PATs without a rotation scope) is
    near its expiry and the user was not told today."""
    expiry = expiry_utc(record)
    if expiry is None or now >= expiry or expiry - now > warn_before_days * DAY:
        return False
    return record.warned_at is None or now - record.warned_at >= DAY


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).

    Used instead of ``datetime`` so the hot path stays import-free; a test checks it against
    ``datetime`` across centuries.
    """
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def date_from_days(days):
    """Inverse of ``days_from_civil``: days since 1970-01-01 -> ``"YYYY-MM-DD"``."""
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524
                   - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = year_of_era + era * 400 + (month <= 2)
    return "%04d-%02d-%02d" % (year, month, day)


def parse_date(text):
    """``"2026-12-01"`` -> (2026, 12, 1); ValueError when it is not a real YYYY-MM-DD date."""
    parts = text.split("-") if isinstance(text, str) else ()
    if len(parts) != 3 or [len(p) for p in parts] != [4, 2, 2] or not all(p.isdigit()
                                                                          for p in parts):
        raise ValueError("not a YYYY-MM-DD date: %r" % (text,))
    year, month, day = (int(p) for p in parts)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not 1 <= month <= 12 or not 1 <= day <= month_days[month - 1]:
        raise ValueError("not a real date: %r" % (text,))
    return year, month, day


def expiry_utc(record):
    """Unix seconds at which the token stops working, or None when no expiry is known."""
    if record.expires_utc:
        return record.expires_utc
    if not record.expires_at:
        return None
    try:
        return days_from_civil(*parse_date(record.expires_at)) * 86400
    except ValueError:
        return None


def days_left(record, now):
    """Calendar days (UTC) from today to the expiry date: 1 when it expires at tomorrow's
    midnight, 0 on the last day; None when no expiry is known."""
    expiry = expiry_utc(record)
    return None if expiry is None else int(expiry // DAY - now // DAY)


def unusable_reason(record, now):
    """Why this token must not be handed out, or None when it may be.

    A token marked ``needs-check`` (a client reported a rejection) is still usable here: only
    the API can tell whether it really stopped working (the lifecycle checks do that).
    """
    if record.state == REVOKED:
        return "was revoked"
    if record.state == UNKNOWN:
        return "is unknown to the server"
    if record.state == LOST:
        return "was rotated, but the new token was lost on the way"
    if record.state == EXPIRED:
        return "has expired (the server says so)"
    expiry = expiry_utc(record)
    if expiry is not None and now >= expiry:
        return "expired on %s" % record.expires_at if record.expires_at else "has expired"
    return None
