"""One GET that carries nothing secret: no Authorization, no cookies, no netrc (``trust_env``
off), no redirect followed, TLS verified with a host's ``Trust`` (local/trust.py) alone, and a
total deadline (transport.py).  The registry probe and `doctor`'s TLS check use it."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import requests

    from credhelper.local.trust import Trust


def anonymous_get(url: str, trust: Trust, timeout: float) -> requests.Response:
    """The answer, whatever its status, or ``transport.Failed`` (with its TLS hint)."""
    import requests

    from credhelper.gitlab import transport

    session = requests.Session()
    transport.prepare(session, trust)
    session.trust_env = False
    session.headers["User-Agent"] = "credhelper"
    try:
        with transport.Exchange(time.monotonic() + timeout) as exchange:
            return transport.exchange(session, exchange, "GET", url, (timeout, timeout))
    finally:
        session.close()
