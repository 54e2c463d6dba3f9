"""A real docker engine for the tests: Debian's ``dockerd`` (package ``docker.io``), run as
root with everything it keeps in one temporary directory, so nothing of the machine's own
docker set-up is read or written::

    with DockerEngine(ca_bundle) as engine:
        image_id = engine.import_image("localhost:5000/group/project/app:v1", b"content")
        subprocess.run(["docker", "push", ...], env={..., "DOCKER_HOST": engine.host})

How it runs (/work/shared/protocols.md, "Real engines available on these machines"):

- ``--storage-driver=vfs``: plain directories, no overlay mounts (which a container may forbid);
- ``--iptables=false --ip6tables=false --bridge=none``: no network set-up at all; the engine
  only pushes and pulls, it never runs a container;
- its own ``-H unix://DIR/docker.sock``, ``--data-root``, ``--exec-root``, ``--pidfile`` and
  ``--config-file`` (so a machine's /etc/docker/daemon.json is not read), whose one key,
  ``deprecated-key-path``, keeps dockerd 20.10 from creating /etc/docker/key.json;
- images come from ``docker import`` of a tar made here: no download.

Trust: the engine, not the CLI, talks to the registry and to GitLab's ``/jwt/auth``.  Its
certificate directory is fixed (``/etc/docker/certs.d``, machine state; only rootless mode
moves it) and no flag or daemon.json key changes it, so the engine gets the test CA the way
Go programs take extra roots: ``SSL_CERT_FILE`` in its environment.  Registries on loopback
names are "insecure" to dockerd by default (127.0.0.0/8 cannot be removed from that list), so
for ``localhost:PORT`` it does not verify TLS at all; the bundle matters for any other name
(not exercised here: the test registry listens on 127.0.0.1 only).

``start()`` returns once ``GET /_ping`` on the socket answers ``OK``; ``stop()`` ends the
daemon (SIGTERM to its process group, SIGKILL after a deadline), then any process it left
(found by an environment marker: dockerd starts its containerd in a session of its own),
unmounts what it left mounted under its directory and removes the directory.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from .processes import die_with_parent, marked_processes, terminate_group

__all__ = ["DOCKERD_PROGRAM", "DockerEngine", "EngineError", "layer_tar"]

DOCKERD_PROGRAM = "dockerd"
# Set only in the engine's environment, to find its processes (and containerd's) in /proc.
MARKER_VARIABLE = "CREDHELPER_TEST_DOCKERD"
_EPOCH = 1704067200            # 2024-01-01: fixed mtimes give the same image for the same content


class EngineError(RuntimeError):
    """The docker engine could not be started."""


def layer_tar(content: bytes, name: str = "content.txt") -> bytes:
    """An uncompressed tar holding one file: what ``docker import -`` reads as the layer."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(content), _EPOCH, 0o644
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the engine's unix socket (the standard library has no such connection)."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DockerEngine:
    """``dockerd`` on its own socket, with its state in a temporary directory.

    Attributes (after ``start()``):
        directory: the temporary directory (short, under /tmp: unix socket paths are limited
            to 107 bytes, and containerd puts its sockets below the exec root).
        socket_path, host: the API socket and ``unix://`` + it (for ``DOCKER_HOST``).
        log_file: the daemon's stdout and stderr.
        startup_seconds: how long ``start()`` took.
    """

    def __init__(self, ca_bundle: str | os.PathLike, *, timeout: float = 60.0,
                 program: str = DOCKERD_PROGRAM):
        self.ca_bundle = str(ca_bundle)
        self.timeout = timeout
        self.program = program
        self.directory: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    # --- paths -----------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.directory is None:
            raise RuntimeError("DockerEngine is not started")
        return self.directory / name

    @property
    def socket_path(self) -> str:
        return str(self._path("docker.sock"))

    @property
    def host(self) -> str:
        return "unix://" + self.socket_path

    @property
    def log_file(self) -> Path:
        return self._path("dockerd.log")

    def _argv(self, program: str) -> list[str]:
        return [program, "--host", self.host,
                "--data-root", str(self._path("root")), "--exec-root", str(self._path("exec")),
                "--pidfile", str(self._path("dockerd.pid")),
                "--config-file", str(self._path("daemon.json")),
                "--storage-driver=vfs", "--iptables=false", "--ip6tables=false",
                "--bridge=none"]

    def _daemon_json(self) -> dict[str, str]:
        # dockerd 20.10 keeps its identity key in /etc/docker/key.json unless this (a
        # daemon.json key; it has no flag) says otherwise.
        return {"deprecated-key-path": str(self._path("key.json"))}

    def _env(self) -> dict[str, str]:
        """Only what the engine needs: PATH (it starts containerd and runc from it), the test
        CA, and the marker.  No proxy, DOCKER_* or REGISTRY_* variable of the caller's."""
        return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(self._path("home")),
                "SSL_CERT_FILE": self.ca_bundle, MARKER_VARIABLE: str(self.directory)}

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "DockerEngine":
        if self.proc is not None:
            return self
        started = time.monotonic()
        program = shutil.which(self.program) or shutil.which(self.program, path="/usr/sbin")
        if program is None:
            raise EngineError(f"{self.program} not found; install Debian's docker.io "
                              "(tests/run does)")
        self.directory = Path(tempfile.mkdtemp(prefix="dockerd-", dir="/tmp"))
        self._path("home").mkdir()
        self._path("daemon.json").write_text(json.dumps(self._daemon_json()))
        atexit.register(self.stop)
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(
                self._argv(program), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.directory, env=self._env(),
                start_new_session=True, preexec_fn=die_with_parent())
        try:
            self._wait_ping(started + self.timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def ping(self, timeout: float = 2.0) -> bool:
        """``GET /_ping`` answers 200 ``OK``: the API is served."""
        connection = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            connection.request("GET", "/_ping")
            response = connection.getresponse()
            return response.status == 200 and response.read() == b"OK"
        except OSError:       # no socket yet, refused, reset, timed out
            return False
        finally:
            connection.close()

    def _wait_ping(self, deadline: float) -> None:
        assert self.proc is not None
        while not self.ping():
            if self.proc.poll() is not None:
                raise EngineError(f"dockerd exited with {self.proc.returncode}:\n"
                                  f"{self.log_tail()}")
            if time.monotonic() >= deadline:
                raise EngineError(f"dockerd did not answer /_ping in {self.timeout:.0f} s:\n"
                                  f"{self.log_tail()}")
            # Wait on the process, not a fixed sleep: returns at once if it died.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(0.05)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate_group(proc, timeout=20.0)   # dockerd stops its containerd on SIGTERM
        directory = self.directory
        if directory is None:
            return
        for pid in marked_processes(MARKER_VARIABLE, str(directory)):
            _kill_and_wait(pid, timeout=10.0)
        _unmount_below(directory)
        shutil.rmtree(directory, ignore_errors=True)
        self.directory = None

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-limit:]
        except (OSError, RuntimeError):
            return ""

    def log_text(self) -> str:
        return self.log_tail(limit=10**9)

    def __enter__(self) -> "DockerEngine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- images ----------------------------------------------------------------------------

    def cli_env(self) -> dict[str, str]:
        """For docker CLI calls that need no credentials (import, inspect, rm)."""
        return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(self._path("home")),
                "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self._path("cli-config"))}

    def import_image(self, reference: str, content: bytes) -> str:
        """``docker import`` a one-file image tagged *reference*; returns its image ID."""
        done = subprocess.run(["docker", "import", "-", reference], input=layer_tar(content),
                              capture_output=True, env=self.cli_env(), timeout=120)
        if done.returncode != 0:
            raise EngineError("docker import failed: %s" % done.stderr.decode(errors="replace"))
        return done.stdout.decode().strip()

    def image_id(self, reference: str) -> str | None:
        """The local image ID of *reference*, or None when the engine has no such image."""
        done = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", reference],
                              capture_output=True, text=True, env=self.cli_env(), timeout=60)
        return done.stdout.strip() if done.returncode == 0 else None

    def remove_image(self, reference: str) -> None:
        subprocess.run(["docker", "image", "rm", "--force", reference], capture_output=True,
                       env=self.cli_env(), timeout=60, check=True)


def _kill_and_wait(pid: int, timeout: float) -> None:
    """SIGKILL a process that is not our child and wait until it has exited: a pidfd names
    exactly that process (no PID reuse race) and becomes readable when it exits."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:            # already gone
        return
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        select.select([fd], [], [], timeout)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unmount_below(directory: Path) -> None:
    """dockerd bind-mounts its data root onto itself (to make it a private mount) and undoes
    that on a clean shutdown; after a SIGKILL the mount would stay and keep the directory.
    Deepest first, so nested mounts come off before their parents."""
    prefix = str(directory) + "/"
    with contextlib.suppress(OSError):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "--lazy", point], capture_output=True, timeout=30)
