"""Who issues a container registry's tokens: ``GET https://REGISTRY/v2/`` with no credential,
whose 401 names the token service (``WWW-Authenticate: Bearer realm="https://H/jwt/auth"``;
docs/gitlab.md#container-registry).

The probe sends nothing secret: no Authorization, no cookies, no netrc (``trust_env`` off), and
follows no redirect (gitlab/probe.py).  TLS is verified with the ``Trust`` of the GitLab
host's API calls (registry_service.py, local/trust.py): the same instance's CA.  It is
short: a registry that does not answer within PROBE_TIMEOUT has proven nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.local.trust import Trust

PROBE_TIMEOUT = 3.0     # seconds in all; docker waits on the `get` that triggers the probe


def token_realm(registry: str, trust: Trust, timeout: float = PROBE_TIMEOUT) -> str | None:
    """The realm of the registry's Bearer challenge, or None (no answer, a TLS failure, an
    answer that is not a 401 Bearer challenge)."""
    from credhelper.gitlab import transport
    from credhelper.gitlab.probe import anonymous_get
    from credhelper.rules.container_registries import challenge_realm

    try:
        response = anonymous_get("https://%s/v2/" % registry, trust, timeout)
    except transport.Failed:
        return None
    if response.status_code != 401:
        return None
    return challenge_realm(response.headers.get("WWW-Authenticate", ""))
