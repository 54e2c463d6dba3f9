"""What a person is told about a token that is not served, or whose rotation went wrong:
one line, which token, why, and what to run.  Never the secret: only its redacted hint."""

from __future__ import annotations

import time

from credhelper.rules import freshness, resolver
from credhelper.rules.model import (
    ADDED,
    DEPLOY,
    KIND_NAMES,
    LOST,
    NEEDS_CHECK,
    OAUTH,
    REVOKED,
    UNKNOWN,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import Request, TokenRecord


def kind_name(record: TokenRecord) -> str:
    return KIND_NAMES.get(record.kind, "token")


def add_again(record: TokenRecord) -> str:
    """The command that mends it; for a shared token, also the publish every machine of its
    fleet follows (README, "Fleets")."""
    add = "credhelper add %s%s" % (record.host, " --path " + record.path if record.path else "")
    if "fleet" not in record.extra:
        return add
    return "%s on one machine, then: credhelper fleet publish %s --replace (the others " \
        "follow it)" % (add, record.host)


def explain_unusable(record: TokenRecord, reason: str) -> str:
    """One line: which token, why it is not served, and what to run."""
    if record.state == LOST:
        return recovery_steps(record)
    if record.state == UNKNOWN:
        return ("the %s %s for %s is unknown to the server (deleted, or made on another "
                "instance); check it, then run: %s" % (kind_name(record), record.hint,
                                                      record.host, add_again(record)))
    if record.state == REVOKED and record.kind == DEPLOY:
        return ("GitLab refuses the deploy token %s for %s (revoked or expired); create a new "
                "one and run: %s --username NAME" % (record.hint, record.host,
                                                     add_again(record)))
    if record.state == REVOKED:
        return ("the %s %s for %s was revoked on the server; create a new one and run: %s"
                % (kind_name(record), record.hint, record.host, add_again(record)))
    return ("the %s %s for %s %s; create a new one and run: %s"
            % (kind_name(record), record.hint or "token", record.host, reason,
               add_again(record)))


def recovery_steps(record: TokenRecord) -> str:
    """What to do when a rotation's answer was lost (the only way a token can be lost)."""
    base = "https://%s" % record.host
    path = " --path %s" % record.path if record.path else ""
    if record.kind == OAUTH:
        return ("the OAuth token %s for %s was refreshed on the server, but the answer never "
                "arrived, so the new token is lost. Sign in again to get a new token, then run: "
                "credhelper add %s --kind oauth%s" % (record.hint, record.host, record.host, path))
    started = (record.pending or {}).get("started_at", record.extra.get("lost_at", 0))
    return ("the access token %s for %s was rotated on the server (GitLab revoked it) but the "
            "new token never arrived, so it is lost. To recover: 1. open %s/-/user_settings/"
            "personal_access_tokens (or the project's or group's Settings > Access tokens), "
            "2. revoke the active token named %r created at %s UTC%s, 3. create a new token "
            "with scopes %s, 4. run: credhelper add %s%s" % (
                record.hint, record.host, base, record.token_name or "(same name)",
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
                " (id %s)" % ", ".join(str(i) for i in record.extra["orphans"])
                if record.extra.get("orphans") else "",
                ",".join(record.scopes or ["(the same)"]), record.host, path))


def expiry_warning(record: TokenRecord, days_left: int | None) -> str:
    return ("the %s %s for %s expires on %s (%s); it cannot renew itself: create a new one "
            "and run %s" % (kind_name(record), record.hint, record.host,
                            record.expires_at or "soon",
                            "today" if days_left == 0 else "in %d days" % (days_left or 0),
                            add_again(record)))


def why_nothing(records: list[TokenRecord], request: Request, now: float, allow_http: bool
                ) -> str | None:
    """Why a host we know gets nothing, so the user is not left with a bare prompt."""
    for record in resolver.matching(records, request, allow_http):
        reason = freshness.unusable_reason(record, now)
        if reason and record.origin == ADDED:
            return explain_unusable(record, reason)
    if request.protocol == "http" and any(r.host == request.host for r in records):
        return ("not sending a token for %s over plain http (set allow_http in the config to "
                "allow it)" % request.host)
    return None


def remove_command(record: TokenRecord) -> str:
    """``credhelper remove`` selecting this one token (path, and a deploy token's name)."""
    return "credhelper remove %s%s%s" % (
        record.host, " --path " + record.path if record.path else "",
        " --username " + record.username if record.kind == DEPLOY and record.username else "")


def passed_over(record: TokenRecord, reason: str, answering: TokenRecord) -> str:
    """A token that matched but is not served while another one answers: without this line
    the client would only report what the other token cannot do ("repository not found")."""
    return ("%s; until then the %s %s%s answers instead, which may not have its access (to "
            "drop the old one: %s)" % (explain_unusable(record, reason), kind_name(answering),
                                       answering.hint or "token",
                                       " (path %s)" % answering.path if answering.path else "",
                                       remove_command(record)))


def call_failed(record: TokenRecord, what: str, error: object, usable: bool) -> str:
    """A check, rotation or refresh that got no verdict (the server could not be reached, or
    answered 5xx or 429).  When a client had reported a rejection, only a check would tell
    why, so the line says what to run rather than leave every fetch failing unexplained."""
    line = "could not %s the %s %s for %s (%s)" % (
        "check" if what == "check" else "complete the " + what + " of", kind_name(record),
        record.hint or "token", record.host, error)
    if record.state == NEEDS_CHECK and usable:
        return ("%s; using it as it is, but %s refused it lately: if it was revoked or has "
                "expired, create a new one and run: %s (to check it again now: credhelper "
                "status --refresh)" % (line, record.host, add_again(record)))
    return line + ("; using it as it is" if usable else "")


def refused_by_server(record: TokenRecord) -> str:
    return ("%s refused the %s %s; it stays registered and will be re-checked (to drop it: "
            "%s)" % (record.host, kind_name(record), record.hint or "token",
                     remove_command(record)))


def unsettled(record: TokenRecord) -> str:
    """A rotation whose answer never came, and which may still complete on the server."""
    until = record.backoff_until or 0
    return ("a rotation of the %s %s for %s was sent but not answered, and may still complete "
            "on the server; the current token is used until %s UTC, then credhelper checks "
            "what happened (rotating again before that could revoke the whole token family)"
            % (kind_name(record), record.hint, record.host,
               time.strftime("%H:%M:%S", time.gmtime(until))))
