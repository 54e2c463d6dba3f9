"""What the server's answers say about a token, as record fields
(docs/gitlab.md#token-self-information).

Pure functions of the parsed JSON: anything of the wrong type is ignored rather than trusted,
and scopes are scope names (``scope_names``: malformed ones are dropped).
"""

from __future__ import annotations

from credhelper.rules import dates
from credhelper.rules.freshness import DAY
from credhelper.rules.model import EXPIRED, REVOKED, UNKNOWN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeGuard

# GitLab's scope names (api, read_repository, k8s_proxy, self_rotate, granular...): lowercase
# ASCII letters, digits and underscores (/work/shared/gitlab-facts.md).  Names GitLab adds
# later are well-formed too, and kept; anything else is no scope, whoever sent it.  Checked
# here, off the ``get`` path, for the server's answers and for ``add --scopes``.
_SCOPE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
MAX_SCOPE_NAME = 64

# TokenRejected.reason -> the record state it proves
REJECTION_STATES = {"expired": EXPIRED, "revoked": REVOKED, "unknown": UNKNOWN}


def is_scope_name(value: object) -> TypeGuard[str]:
    return (isinstance(value, str) and 0 < len(value) <= MAX_SCOPE_NAME
            and _SCOPE_CHARACTERS.issuperset(value))


def scope_names(values: list[object]) -> list[str]:
    """The well-formed scope names among ``values``, sorted, each once; the rest is dropped
    (a server's answer stays usable, and its junk never reaches a terminal)."""
    return sorted({value for value in values if is_scope_name(value)})


def pat_facts(info: dict[str, Any]) -> dict[str, Any]:
    """GET .../personal_access_tokens/self (or a rotation answer) -> record fields."""
    facts: dict[str, Any] = {}
    for field, name, kind in (("id", "token_id", int), ("user_id", "user_id", int)):
        if isinstance(info.get(field), kind):
            facts[name] = info[field]
    if isinstance(info.get("name"), str):
        facts["token_name"] = info["name"][:200]
    if isinstance(info.get("scopes"), list):
        facts["scopes"] = scope_names(info["scopes"])
    if "expires_at" in info:
        facts.update(_expiry(info["expires_at"]))
    created = _instant(info.get("created_at"))
    if created is not None:
        facts["created_utc"] = created
    state = _state(info)
    if state is not None:
        facts["state"] = state
    return facts


def _expiry(expires_at: object) -> dict[str, Any]:
    """``expires_at``: a date, or null for a token that never expires; else nothing."""
    if expires_at is None:
        return {"expires_at": None}
    if isinstance(expires_at, str):
        try:
            dates.parse_date(expires_at[:10])
            return {"expires_at": expires_at[:10]}
        except ValueError:
            pass
    return {}


def _instant(value: object) -> int | None:
    """``created_at`` (Rails' ISO 8601: ``2026-06-01T15:00:00.000Z``, or with the instance's
    UTC offset) in Unix seconds; None for anything else."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)     # GitLab writes UTC when it omits it
    return int(moment.timestamp())


def _state(info: dict[str, Any]) -> str | None:
    if info.get("revoked") is True:
        return REVOKED
    if info.get("expired") is True:
        return EXPIRED
    if info.get("active") is False:
        return REVOKED
    return None


def oauth_facts(info: dict[str, Any], now: float) -> dict[str, Any]:
    """GET /oauth/token/info -> record fields (OAuth tokens live hours, so expiry is exact)."""
    facts: dict[str, Any] = {}
    left = info.get("expires_in")
    if left is None:
        left = info.get("expires_in_seconds")
    if isinstance(left, (int, float)):
        facts["expires_utc"] = int(now + left)
        facts["expires_at"] = dates.date_from_days(int((now + left) // DAY))
    scopes = info.get("scopes") or info.get("scope")
    if isinstance(scopes, str):
        scopes = scopes.split()
    if isinstance(scopes, list):
        facts["scopes"] = scope_names(scopes)
    if isinstance(info.get("resource_owner_id"), int):
        facts["user_id"] = info["resource_owner_id"]
    return facts


def day_before_limit(message: str) -> str | None:
    """From GitLab's "... must be before YYYY-MM-DD" refusal: the last day it accepts."""
    import re

    found = re.search(r"(\d{4}-\d{2}-\d{2})", message)
    if not found:
        return None
    try:
        year, month, day = dates.parse_date(found.group(1))
    except ValueError:
        return None
    return dates.date_from_days(dates.days_from_civil(year, month, day) - 1)


MAX_TOKEN_LENGTH = 1024    # routable tokens run to about 316 characters; never a fixed length


def plausible_token(value: object) -> bool:
    """A token a server's answer may hand us: printable ASCII without spaces, of a sane
    length (docs/gitlab.md#changes-in-gitlab-2024-2026: dots allowed, no fixed length)."""
    return (isinstance(value, str) and 8 <= len(value) <= MAX_TOKEN_LENGTH
            and value.isascii() and value.isprintable() and " " not in value)
