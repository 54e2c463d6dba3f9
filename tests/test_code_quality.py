"""The code's own checks, run by the test command so CI fails on a new error: ruff, mypy, and
the size and complexity budget the product holds itself to (README, "Architecture")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCT = ROOT / "credhelper"

MAX_MODULE_LINES = 300
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 50
MAX_COMPLEX_SHARE = 0.03          # blocks with cyclomatic complexity over 10
PARSER_TABLES = {"register", "build_parser"}   # argparse tables may be long


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, NO_COLOR="1"))


def test_ruff_is_clean():
    done = _run(str(BIN / "ruff"), "check", "credhelper", "tests", "benchmarks", "bin")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean():
    done = _run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr


def _product_modules() -> list[Path]:
    return sorted(PRODUCT.rglob("*.py"))


def test_no_module_is_over_the_size_budget():
    long = {str(p.relative_to(ROOT)): n for p in _product_modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def _blocks():
    from radon.complexity import cc_visit

    for path in _product_modules():
        for block in cc_visit(path.read_text()):   # methods come as blocks of their own
            yield path.relative_to(ROOT), block


def test_no_class_or_function_is_over_the_size_budget():
    too_long = []
    for path, block in _blocks():
        lines = block.endline - block.lineno + 1
        is_class = hasattr(block, "methods")
        limit = MAX_CLASS_LINES if is_class else MAX_FUNCTION_LINES
        if lines > limit and block.name not in PARSER_TABLES:
            too_long.append("%s:%d %s (%d lines)" % (path, block.lineno, block.name, lines))
    assert too_long == []


def test_complex_blocks_stay_rare():
    blocks = [(path, block) for path, block in _blocks() if not hasattr(block, "methods")]
    complex_ = ["%s:%d %s (%d)" % (path, b.lineno, b.name, b.complexity)
                for path, b in blocks if b.complexity > 10]
    assert len(complex_) <= MAX_COMPLEX_SHARE * len(blocks), complex_
