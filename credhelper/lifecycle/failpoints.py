"""Named points where a test can make the process die (SIGKILL) to prove crash safety.

``CREDHELPER_FAILPOINT=after-store-write`` kills the process the moment it gets there, as a
power cut would; unset (always, outside tests) each point is one dict lookup.
"""

from __future__ import annotations

import os


def reached(name: str) -> None:
    if os.environ.get("CREDHELPER_FAILPOINT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
