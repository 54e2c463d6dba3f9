"""What `credhelper add` refuses before anything is stored, each with one line that says what
was wrong and what to give instead: a token whose GitLab prefix contradicts ``--kind`` (or
that is no token git can use at all), an expiry date already past, scope names GitLab does
not have, a username GitLab would not accept.  The options are checked before the token is
asked for, so nobody pastes a token only to be told the date was wrong."""

from __future__ import annotations

import re

from credhelper.errors import InvalidInput
from credhelper.rules.model import DEPLOY, JOB, JOB_USERNAME, KIND_NAMES, kind_from_prefix

# GitLab's token scopes (docs/gitlab.md#token-kinds-and-prefixes): personal, project and group
# access tokens, deploy tokens, OAuth applications; "granular" is what /self reports for a
# fine-grained token.  An unknown name is a typo: GitLab would refuse to create it.
KNOWN_SCOPES = frozenset((
    "api", "read_api", "read_user", "read_repository", "write_repository", "read_registry",
    "write_registry", "read_virtual_registry", "write_virtual_registry",
    "read_package_registry", "write_package_registry", "sudo", "admin_mode", "create_runner",
    "manage_runner", "k8s_proxy", "ai_features", "ai_workflows", "self_rotate",
    "read_service_ping", "read_observability", "write_observability", "granular", "mcp",
    "openid", "profile", "email"))
# prefixes of GitLab secrets that are no credential for git, registries or packages
# (docs/gitlab.md#token-kinds-and-prefixes): refused with what they are
NOT_TOKENS = (
    ("gloas-", "an OAuth application's secret: add an access token the application issued "
     "(--kind oauth), or use the application's id with --client-id"),
    ("glrt-", "a runner authentication token"), ("glptt-", "a pipeline trigger token"),
    ("glft-", "a feed token"), ("glimt-", "an incoming email token"),
    ("glagent-", "a Kubernetes agent token"), ("glsoat-", "a SCIM token"),
    ("glffct-", "a feature flags client token"))
_USERNAME = re.compile(r"^[A-Za-z0-9_.+@\-]{1,255}$")


def before_the_token(expires_at: str | None, scopes: str | None, today: str) -> None:
    """The options that need no token: refused before the prompt."""
    expiry(expires_at, today)
    scope_names(scopes)


def kind(token: str, given: str | None) -> str | None:
    """``given`` (or None), once the token's prefix agrees with it."""
    for prefix, what in NOT_TOKENS:
        if token.startswith(prefix):
            raise InvalidInput("not added: this token starts with %s, %s; git and registries "
                               "take access, deploy, OAuth or job tokens" % (prefix, what))
    found = kind_from_prefix(token)
    if given and found and found != given:
        prefix, name = token.split("-", 1)[0] + "-", KIND_NAMES[found]
        raise InvalidInput("not added: --kind %s contradicts the token, whose prefix %s marks "
                           "%s %s; drop --kind (it is guessed from the prefix), or check that "
                           "you pasted the right token" % (
                               given, prefix, "an" if name[0] in "aeiou" else "a", name))
    return given


def expiry(expires_at: str | None, today: str | None) -> None:
    """``--expires-at`` is a real date after ``today`` (a token stops working at 00:00 UTC on
    its expiry date: docs/gitlab.md#api-authentication-and-error-bodies)."""
    if expires_at is None:
        return
    from credhelper.rules import dates

    try:
        dates.parse_date(expires_at)
    except ValueError:
        raise InvalidInput("--expires-at must be a date as YYYY-MM-DD") from None
    if today is not None and expires_at <= today:     # YYYY-MM-DD: text order is date order
        raise InvalidInput("--expires-at %s is not in the future (today is %s UTC, and a token "
                           "stops working at 00:00 UTC on that date); give the date GitLab "
                           "shows for the token" % (expires_at, today))


def scope_names(scopes: str | None) -> list[str] | None:
    """``--scopes a,b`` as a sorted list of distinct scope names GitLab has."""
    if scopes is None:
        return None
    from credhelper.lifecycle.facts import is_scope_name

    names = sorted({s.strip() for s in scopes.split(",") if s.strip()})
    if not names or not all(is_scope_name(s) for s in names):
        raise InvalidInput("--scopes takes names like read_repository,write_repository")
    unknown = [name for name in names if name not in KNOWN_SCOPES]
    if unknown:
        raise InvalidInput("--scopes: GitLab has no scope %s (its scopes include api, read_api, "
                           "read_repository, write_repository, read_registry, write_registry, "
                           "self_rotate)" % ", ".join(unknown))
    return names


def login(kind: str, username: str | None) -> str | None:
    """``--username`` checked for ``kind``: deploy tokens need one, job tokens have theirs."""
    if username is not None and not _USERNAME.match(username):
        raise InvalidInput("--username has characters GitLab does not allow")
    if kind == DEPLOY and not username:
        raise InvalidInput("deploy tokens log in with their own username: pass --username "
                           "(gitlab+deploy-token-ID, or the custom one set at creation)")
    if kind == JOB:
        if username not in (None, JOB_USERNAME):
            raise InvalidInput("job tokens always log in as %s" % JOB_USERNAME)
        return JOB_USERNAME
    return username
