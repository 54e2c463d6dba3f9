"""How many examples the property tests run: a CI-sized default per test, or the count in
``CREDHELPER_HYPOTHESIS_EXAMPLES`` for an opt-in long run, e.g.

    CREDHELPER_HYPOTHESIS_EXAMPLES=200000 tests/run tests/test_parsers_property.py

Every property test also sets ``derandomize=True``, so a CI run is the same run every time."""

import os

VARIABLE = "CREDHELPER_HYPOTHESIS_EXAMPLES"


def examples(default: int) -> int:
    wanted = os.environ.get(VARIABLE, "")
    return int(wanted) if wanted.isascii() and wanted.isdigit() and int(wanted) > 0 else default
