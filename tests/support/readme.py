"""README.md's code blocks, for tests that follow README's steps as written, so that README
and the tests cannot drift apart.

A block is found by words of its first line (README starts each with a comment saying what it
is, for example ``# ~/.cargo/config.toml``); ``substitute`` replaces README's example values
(``gitlab.example.com``, ``ID``...) with the test's own, longest first, and must find each."""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_FENCE = re.compile(r"^( *)```[\w-]*\n(.*?)^\1```$", re.M | re.S)


def blocks() -> list[str]:
    """Every fenced code block of README.md, its indentation (inside a list item) removed."""
    return [textwrap.dedent(body) for _, body in _FENCE.findall(README.read_text())]


def block(first_line: str, substitute: dict[str, str] | None = None) -> str:
    """The one block whose first line contains *first_line*, with *substitute* applied."""
    found = [b for b in blocks() if first_line in b.split("\n", 1)[0]]
    assert len(found) == 1, "README.md has %d blocks starting %r" % (len(found), first_line)
    text = found[0]
    for old in sorted(substitute or {}, key=len, reverse=True):
        assert old in text, "README's block %r no longer says %r" % (first_line, old)
        text = text.replace(old, (substitute or {})[old])
    return text


def write_file(home: Path, first_line: str, substitute: dict[str, str] | None = None) -> Path:
    """Write README's block ``# ~/PATH`` to HOME/PATH (what README tells the user to put
    there); returns the path."""
    assert first_line.startswith("# ~/")
    path = home / first_line[len("# ~/"):]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block(first_line, substitute))
    return path


def run_shell(first_line: str, env: dict[str, str], substitute: dict[str, str] | None = None,
              timeout: int = 60) -> subprocess.CompletedProcess:
    """Run README's shell block with bash, stopping at the first failing command."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block(first_line, substitute)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done
