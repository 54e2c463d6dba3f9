"""`credhelper doctor`'s TLS check: can credhelper's API calls reach each host it checks and
rotates tokens for?  git may work while every API call fails TLS (other CAs), and then no
check or rotation ever happens; this is where that shows.

For each host with tokens the API can check, one GET of ``API/version`` with no token
(gitlab/probe.py), verified with the trust the host's API calls use (lifecycle/clients.py,
local/trust.py).  Any HTTP answer proves the handshake; its status does not matter.  A TLS
failure is a problem, told as the API client tells it (gitlab/answers.py): which CAs were
trusted and where to set ``ca_file``.  A host not reached at all is a line, not a problem:
it may only be offline from here.  The probe goes through the host's proxy, as its API
calls do (local/proxy.py), and the line names that proxy.
"""

from __future__ import annotations

import time

from credhelper.errors import CredhelperError
from credhelper.rules import freshness

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service

PROBE_TIMEOUT = 3.0     # seconds for one host
BUDGET = 6.0            # seconds for all hosts together: doctor is run by a waiting person
MIN_PROBE_TIME = 0.5


def tls_report(service: Service, records: list[TokenRecord], lines: list[str],
               problems: list[str]) -> None:
    ends = time.monotonic() + BUDGET
    seen: set[tuple[str, str]] = set()
    for record in records:
        key = (record.host, str(record.extra.get("ca_file")))   # `add --ca-file` differs
        if not freshness.can_use_api(record) or key in seen:
            continue
        seen.add(key)
        line, problem = _check(service, record, ends - time.monotonic())
        if line:
            lines.append(line)
        if problem:
            problems.append(problem)


def _check(service: Service, record: TokenRecord, left: float) -> tuple[str | None, str | None]:
    """(a report line, or a problem) for the TLS of ``record``'s API origin."""
    from credhelper.gitlab import answers, transport
    from credhelper.gitlab.probe import anonymous_get
    from credhelper.lifecycle.clients import destinations_of, trust_of

    host = record.host
    try:
        _, api_url = destinations_of(record, service.settings.host(host))
    except CredhelperError as error:
        return None, str(error)
    origin = api_url.split("://", 1)[0] + "://" + answers.where(api_url)
    if not api_url.startswith("https://"):
        return "  %s: API at %s over plain http: no TLS to check" % (host, origin), None
    if left < MIN_PROBE_TIME:
        return "  %s: TLS not checked (doctor's time for TLS checks is spent)" % host, None
    trust = trust_of(record, service.settings)
    timeout = min(PROBE_TIMEOUT, left)
    try:
        proxy = trust.proxy()
        anonymous_get(api_url + "/version", trust, timeout)
    except CredhelperError as error:          # a proxy credhelper cannot use
        return None, str(error)
    except transport.Failed as failed:
        said = answers.unavailable(failed, "GET", api_url, False, timeout)
        if failed.kind == "tls":
            return None, "%s: %s" % (host, said)
        return "  %s: TLS not checked: %s" % (host, said), None
    return "  %s: TLS ok with %s, trusting %s%s" % (
        host, origin, trust.source().words,
        ", through %s" % proxy.words if proxy is not None else ""), None
