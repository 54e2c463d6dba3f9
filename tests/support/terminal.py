"""A command run at a real terminal: a pty that is its controlling terminal, as a person's
shell gives it, so that getpass prompts there and Ctrl-D or Ctrl-C mean what they mean."""

from __future__ import annotations

import os
import subprocess


def answer_at_terminal(argv: list[str], prompt: bytes, keys: bytes,
                       timeout: float = 60) -> tuple[int, list[str]]:
    """Run ``argv`` at a pty, type ``keys`` once ``prompt`` is on the screen; (its exit code,
    every line the terminal showed, carriage returns dropped)."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                               start_new_session=True,
                               preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    seen = b""
    while prompt not in seen:
        chunk = os.read(master, 4096)
        assert chunk, "the terminal closed before %r appeared: %r" % (prompt, seen)
        seen += chunk
    os.write(master, keys)
    status = process.wait(timeout=timeout)
    try:
        while chunk := os.read(master, 4096):
            seen += chunk
    except OSError:                      # EIO: the command closed its terminal
        pass
    os.close(master)
    return status, seen.decode(errors="replace").replace("\r", "").splitlines()
