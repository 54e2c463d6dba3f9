"""A real HTTP proxy for the proxy tests: Debian's ``tinyproxy`` (tests/run installs it), on
loopback, in the foreground, logging every CONNECT it is asked for."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

from tests.support.openbao import free_port
from tests.support.processes import die_with_parent, terminate_group

READY_TIMEOUT = 30.0


class TinyProxy:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log_file = directory / "tinyproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self) -> TinyProxy:
        config = self.directory / "tinyproxy.conf"
        config.write_text("Port %d\nListen 127.0.0.1\nTimeout 60\nMaxClients 64\n"
                          'LogFile "%s"\nLogLevel Connect\nPidFile "%s"\n'
                          % (self.port, self.log_file, self.directory / "pid"))
        self.process = subprocess.Popen(["tinyproxy", "-d", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=die_with_parent())
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tinyproxy did not start") from None
                time.sleep(0.02)     # polling its port until it listens, bounded

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            terminate_group(self.process)

    def connects(self) -> list[str]:
        """The ``host:port`` of every CONNECT the proxy was asked for, in order."""
        text = self.log_file.read_text() if self.log_file.exists() else ""
        return re.findall(r"Request \(file descriptor \d+\): CONNECT (\S+) HTTP", text)
