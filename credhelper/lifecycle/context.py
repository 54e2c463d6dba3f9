"""One request's context: the clock, the network deadline and where warnings go.

Each ``get`` (and each token of ``status --refresh``) gets a context of its own and passes it
down, so a caller that lives longer than one request never inherits a budget that an earlier
request already spent (see README, "Architecture").
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

API_BUDGET = 6.0      # seconds of network one request may spend; git waits for us


def warn_on_stderr(message: str) -> None:
    """One line for a person on stderr; stdout belongs to the protocol.  Scrubbed of anything
    token-shaped, since messages can quote a server's own error text."""
    import sys

    from credhelper.rules.redact import scrub

    sys.stderr.write("credhelper: %s\n" % scrub(" ".join(str(message).split())))
    sys.stderr.flush()


class RequestContext:
    """The clock (Unix seconds), the deadline for network calls (a ``time.monotonic``
    instant) and the warning sink of one request."""

    __slots__ = ("clock", "warn", "deadline")

    def __init__(self, clock: Callable[[], float] = time.time,
                 warn: Callable[[str], None] = warn_on_stderr,
                 budget: float = API_BUDGET) -> None:
        self.clock = clock
        self.warn = warn
        self.deadline = time.monotonic() + budget

    def now(self) -> float:
        return self.clock()

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def quiet(self) -> RequestContext:
        """The same request with its warnings dropped (for reports that explain themselves)."""
        twin = RequestContext(self.clock, _drop)
        twin.deadline = self.deadline
        return twin


def _drop(message: str) -> None:
    del message
