"""One request's context: the clock, the network deadline and where warnings go.

Each ``get`` (and each token of ``status --refresh``) gets a context of its own and passes it
down, so a caller that lives longer than one request never inherits a budget that an earlier
request already spent (README, "Architecture").
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

API_BUDGET = 6.0      # seconds of network one request may spend; git waits for us


class RequestContext:
    """The clock (Unix seconds), the deadline for network calls (a ``time.monotonic``
    instant) and the warning sink of one request."""

    __slots__ = ("clock", "sink", "deadline")

    def __init__(self, clock: Callable[[], float], warn: Callable[[str], None],
                 budget: float = API_BUDGET) -> None:
        self.clock = clock
        self.sink = warn
        self.deadline = time.monotonic() + budget

    def warn(self, message: str) -> None:
        """Tell the user ``message``, scrubbed whatever the sink: warnings quote the server's
        error text, which may carry terminal escapes or echo a token (rules/redact.py)."""
        from credhelper.rules.redact import scrub

        self.sink(scrub(message))

    def now(self) -> float:
        return self.clock()

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def for_call(self, seconds: float) -> RequestContext:
        """The same request with a full, fixed deadline for one call that must not be cut
        short (a rotation: once sent, its answer is the only proof of what happened)."""
        return RequestContext(self.clock, self.sink, budget=seconds)
