"""One machine of a simulated fleet: runs a credhelper executable (``credhelper`` or
``git-credential-gitlab``) in this process with the clock moved ``FLEET_CLOCK_OFFSET``
seconds ahead, the same offset the test moved the fake GitLab's clock by
(``GitLabState.advance``).  That is the whole difference from the installed executable:
the code, the stores, the lock files and the network are the real ones.

    python -m tests.support.fleet_machine git-credential-gitlab get
"""

from __future__ import annotations

import os
import sys
import time

_offset = float(os.environ.get("FLEET_CLOCK_OFFSET") or 0)
if _offset:
    _real_time = time.time
    time.time = lambda: _real_time() + _offset      # before credhelper binds time.time

from credhelper.protocols import run_credhelper, run_git  # noqa: E402

if __name__ == "__main__":
    program, sys.argv = sys.argv[1], sys.argv[1:]
    sys.exit({"credhelper": run_credhelper, "git-credential-gitlab": run_git}[program]())
