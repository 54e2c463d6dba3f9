from __future__ import annotations

import sys

from credhelper.cli import main

sys.exit(main())
