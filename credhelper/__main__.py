from __future__ import annotations

import sys

from credhelper.protocols import run_credhelper

sys.exit(run_credhelper())
