"""The token lifecycle's decisions, as pure functions of (record, now, policy).

GitLab treats ``expires_at = D`` as "invalid from 00:00 UTC on D"
(docs/gitlab.md#api-authentication-and-error-bodies), so that instant is both the expiry we
announce to git (``password_expiry_utc``) and the one we enforce.

The ``get`` hot path only asks ``needs_attention``, which reads fields of the record: the
policy (from the config file) was already folded into ``next_check_at`` when the token was
last checked, so an ordinary ``get`` neither parses the config nor touches the network.
"""

from __future__ import annotations

from credhelper.rules.dates import date_from_days, days_from_civil, parse_date
from credhelper.rules.model import (
    ADDED,
    CI_ENV,
    DEPLOY,
    EXPIRED,
    JOB,
    LOST,
    NEEDS_CHECK,
    OAUTH,
    OK,
    PAT,
    REVOKED,
    UNKNOWN,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import TokenRecord

DAY = 86400
HOUR = 3600
FINAL_STATES = (REVOKED, EXPIRED, UNKNOWN, LOST)   # only the user can mend these
# Scopes that let a PAT rotate itself; fine-grained PATs report "granular" and may too
# (docs/gitlab.md#changes-in-gitlab-2024-2026).
SELF_ROTATE_SCOPES = frozenset({"api", "self_rotate", "granular"})
MIN_ROTATION_INTERVAL = HOUR        # never rotate one token family twice within this
SERVER_MAX_LIFETIME_DAYS = 365      # GitLab refuses a rotation expiry beyond today + 365 days
OAUTH_REFRESH_MARGIN = 10 * 60      # refresh an OAuth token with less than this left
SHORT_LIVED = DAY                   # a credential with less than this left is not for keeping
DEFAULT_LIFETIME_DAYS = 30          # a rotated token's lifetime when the old one's is unknown
# The least lifetime a rotation keeps: dates are whole days, so a kept 1-day lifetime asked
# for late in the day ends within the hour; with two, the half-lifetime window of
# ``rotate_at`` always falls on a later day than the rotation, so each one gains time.
MIN_KEPT_LIFETIME_DAYS = 2


class Policy:
    """What a host's tokens should do; defaults justified in README ("Token lifecycle")."""

    __slots__ = ("rotate", "rotate_before_days", "new_lifetime_days", "lifetime_set",
                 "check_interval", "retry_after_failure", "warn_before_days")

    rotate: bool
    rotate_before_days: int
    new_lifetime_days: int
    lifetime_set: bool
    check_interval: float
    retry_after_failure: float
    warn_before_days: int

    def __init__(self, rotate: bool = True, rotate_before_days: int = 7,
                 new_lifetime_days: int | None = None, check_interval: float = 24 * HOUR,
                 retry_after_failure: float = 10 * 60, warn_before_days: int = 7) -> None:
        self.rotate = rotate
        self.rotate_before_days = rotate_before_days
        # the config's own new_lifetime_days caps a kept lifetime; the default does not
        self.lifetime_set = new_lifetime_days is not None
        self.new_lifetime_days = DEFAULT_LIFETIME_DAYS if new_lifetime_days is None \
            else new_lifetime_days
        self.check_interval = check_interval
        self.retry_after_failure = retry_after_failure
        self.warn_before_days = warn_before_days


DEFAULT_POLICY = Policy()


def can_use_api(record: TokenRecord) -> bool:
    """PATs (with project and group access tokens) and OAuth tokens can describe themselves;
    deploy and job tokens cannot call the API."""
    return record.kind in (PAT, OAUTH) and record.origin == ADDED


def needs_attention(record: TokenRecord, now: float, config_changed_at: float | None = None
                    ) -> bool:
    """Must ``get`` look at this token before handing it out (check, rotate, recover, warn)?

    Cheap and import-free: this runs on every ``get``.
    """
    if record.origin != ADDED:
        return False
    if record.pending:                    # a rotation was interrupted: finish or explain it,
        return not (record.backoff_until and now < record.backoff_until)  # unless backing off
    if record.extra.get("stale_secret") or record.extra.get("rescued"):
        return True                       # a secret to delete, or one to move to its store
    if record.kind == DEPLOY and record.state == NEEDS_CHECK:
        return not (record.backoff_until and now < record.backoff_until)   # git refused it
    if check_due(record, now, config_changed_at):
        return True
    if record.state in FINAL_STATES:
        return _fleet_may_mend(record, now)   # a shared copy: its successor may be published
    if record.kind == PAT and SELF_ROTATE_SCOPES.intersection(record.scopes or ()):
        return False                      # it renews itself when its check comes
    return warning_due(record, now)


def check_due(record: TokenRecord, now: float, config_changed_at: float | None = None) -> bool:
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


def rotation_due(record: TokenRecord, now: float, policy: Policy) -> bool:
    """Should this PAT rotate itself now?"""
    if not renews_itself(record, policy) or record.state != OK:
        return False
    act_at = rotate_at(record, policy.rotate_before_days)
    if act_at is None or now < act_at:
        return False
    last = record.extra.get("rotated_at")
    return not (isinstance(last, (int, float)) and now - last < MIN_ROTATION_INTERVAL)


def renews_itself(record: TokenRecord, policy: Policy) -> bool:
    return (record.kind == PAT and policy.rotate
            and bool(SELF_ROTATE_SCOPES.intersection(record.scopes or ())))


def rotate_at(record: TokenRecord, rotate_before_days: float) -> float | None:
    """When a self-rotating PAT should rotate: ``rotate_before_days`` before its expiry, but
    never earlier than half way through the lifetime the server actually granted, so a
    server that grants less than the window (an instance maximum of a few days, its
    one-week default) does not make every ``get`` rotate."""
    expiry = expiry_utc(record)
    if expiry is None:
        return None
    window = rotate_before_days * DAY
    granted_from = record.extra.get("rotated_at")
    if isinstance(granted_from, (int, float)) and expiry > granted_from:
        window = min(window, (expiry - granted_from) / 2)
    return expiry - window


def refresh_due(record: TokenRecord, now: float) -> bool:
    """Should this OAuth token be refreshed now (it needs a refresh token to be)?"""
    expiry = expiry_utc(record)
    return (record.kind == OAUTH and record.state == OK and expiry is not None
            and expiry - now < OAUTH_REFRESH_MARGIN)


def renewal_due(record: TokenRecord, now: float, policy: Policy) -> bool:
    """Is a rotation or a refresh due, so that a process holding the token's lock may be
    renewing it (and revoking the token as it is) right now?"""
    return rotation_due(record, now, policy) or refresh_due(record, now)


def next_check_at(record: TokenRecord, now: float, policy: Policy) -> int:
    """When ``get`` should ask the server again: after the check interval, or as soon as a
    rotation (or an OAuth refresh) becomes due, whichever comes first."""
    due = now + policy.check_interval
    expiry = expiry_utc(record)
    if expiry is not None:
        if renews_itself(record, policy):
            act_at = rotate_at(record, policy.rotate_before_days) or expiry
            last = record.extra.get("rotated_at")
            if isinstance(last, (int, float)):
                act_at = max(act_at, last + MIN_ROTATION_INTERVAL)
        elif record.kind == OAUTH:
            act_at = expiry - OAUTH_REFRESH_MARGIN
        else:
            act_at = expiry
        due = min(due, max(act_at, now))   # already due: at once
    return int(due)


def backoff_until(now: float, policy: Policy, retry_after: float | None = None) -> int:
    """After a failed call: not again before the policy's pause or the server's Retry-After."""
    return int(now + max(policy.retry_after_failure, retry_after or 0))


def new_expiry_date(now: float, policy: Policy, max_days: int = SERVER_MAX_LIFETIME_DAYS,
                    record: TokenRecord | None = None) -> str:
    """The ``expires_at`` to ask for when rotating ``record``: the lifetime it was granted
    (``new_lifetime`` says how long), never past what the server allows."""
    days = max(1, min(new_lifetime(record, policy), max_days))
    return date_from_days(int(now // DAY) + days)


def new_lifetime(record: TokenRecord | None, policy: Policy) -> int:
    """Days the rotated token should live: as long as the old one was granted (issue 12: a
    182-day token must not come back with 30), at most the config's own ``new_lifetime_days``;
    the policy's lifetime when the old one's is unknown."""
    granted = granted_days(record) if record is not None else None
    if granted is None:
        return policy.new_lifetime_days
    granted = max(granted, MIN_KEPT_LIFETIME_DAYS)
    return min(granted, policy.new_lifetime_days) if policy.lifetime_set else granted


def granted_days(record: TokenRecord) -> int | None:
    """The lifetime the server granted a PAT: from the day it was made (UTC) to its
    ``expires_at``, in whole days (the span rounded up, so it is the same number for each
    token of a family); None when either end is unknown."""
    if record.created_utc is None or not record.expires_at:
        return None
    try:
        expires = days_from_civil(*parse_date(record.expires_at))
    except ValueError:
        return None
    days = expires - record.created_utc // DAY
    return days if days > 0 else None


def warning_due(record: TokenRecord, now: float, warn_before_days: int = 7) -> bool:
    """A token that will not renew itself (deploy tokens, PATs without a rotation scope) is
    near its expiry and the user was not told today.  An OAuth token with a refresh token
    (its client id is kept while the refresh works) renews itself: nothing to tell."""
    if record.kind == OAUTH and record.client_id:
        return False
    expiry = expiry_utc(record)
    if expiry is None or now >= expiry or expiry - now > warn_before_days * DAY:
        return False
    return record.warned_at is None or now - record.warned_at >= DAY


def expiry_utc(record: TokenRecord) -> int | None:
    """Unix seconds at which the token stops working, or None when no expiry is known."""
    if record.expires_utc:
        return record.expires_utc
    if not record.expires_at:
        return None
    try:
        return days_from_civil(*parse_date(record.expires_at)) * 86400
    except ValueError:
        return None


def short_lived(record: TokenRecord, now: float) -> bool:
    """Is this credential one a storage helper should not keep (git's ``ephemeral``)?  Job
    tokens and the CI job's other credentials end with the job, OAuth tokens live two hours
    (docs/gitlab.md#oauth), and any token with less than a day left is near its end."""
    if record.kind in (JOB, OAUTH) or record.origin == CI_ENV:
        return True
    expiry = expiry_utc(record)
    return expiry is not None and expiry - now < SHORT_LIVED


def days_left(record: TokenRecord, now: float) -> int | None:
    """Calendar days (UTC) from today to the expiry date: 1 when it expires at tomorrow's
    midnight, 0 on the last day; None when no expiry is known."""
    expiry = expiry_utc(record)
    return None if expiry is None else int(expiry // DAY - now // DAY)


def unusable_added(records: list[TokenRecord], now: float) -> list[TokenRecord]:
    """The tokens the user added among ``records`` that must not be handed out."""
    return [r for r in records if r.origin == ADDED and unusable_reason(r, now)]


def unusable_reason(record: TokenRecord, now: float) -> str | None:
    """Why this token must not be handed out, or None when it may be.

    A token marked ``needs-check`` (a client reported a rejection) is still usable here: only
    the API can tell whether it really stopped working (the lifecycle checks do that).
    """
    final = _FINAL_REASONS.get(record.state)
    if final:
        return None if _fleet_may_mend(record, now) else final
    expiry = expiry_utc(record)
    if expiry is not None and now >= expiry and not _fleet_may_mend(record, now):
        return "expired on %s" % record.expires_at if record.expires_at else "has expired"
    return None


_FINAL_REASONS = {REVOKED: "was revoked", UNKNOWN: "is unknown to the server",
                  LOST: "was rotated, but the new token was lost on the way",
                  EXPIRED: "has expired (the server says so)"}


def _fleet_may_mend(record: TokenRecord, now: float) -> bool:
    """A shared token's local copy that is dead (revoked, unknown, expired, lost) or past its
    expiry (the machine slept through the rotations) stays a candidate unless it is pausing,
    so that ``get`` reads the fleet record again and follows its current version: a newer
    token, or one an operator published to mend the fleet (README, "Fleets").  The fleet
    keeper pauses it again when the record has nothing better (fleet/keeper.py), and a copy
    that stays dead is never served (Service.lookup)."""
    return "fleet" in record.extra and not (record.backoff_until and now < record.backoff_until)
