"""A real, private freedesktop Secret Service for tests.

Starts its own D-Bus session bus (``dbus-daemon``) and a
``gnome-keyring-daemon --components=secrets`` on it, with a ``login``
collection that is created and unlocked non-interactively, so that
``keyring.backends.SecretService.Keyring`` and ``secret-tool`` work with no
X display, no systemd user session, and as root.

Everything lives under the directory you pass in: HOME, XDG_DATA_HOME (where
the keyring files are written), XDG_CONFIG_HOME, XDG_CACHE_HOME and a
private XDG_RUNTIME_DIR, so the real user's keyrings are never touched.

How the keyring gets unlocked: ``gnome-keyring-daemon --unlock`` reads a
password from stdin and, since no login keyring exists yet, creates the
``login`` collection with that password, unlocked, and makes it the
``default`` alias.  (An *empty* password does not work: no login keyring is
created and the first ``CreateCollection`` then needs a GUI prompt.)

The bus has no service directories, so nothing is ever D-Bus-activated: a
client that triggers a prompt gets an immediate "prompt dismissed" instead of
a ``gcr-prompter`` hanging without a display.

Usage::

    with secret_service_session(tmp_path) as env:
        subprocess.run([...], env=env, check=True)

    env, stop = start_secret_service(tmp_path_factory)   # for a fixture
    ...
    stop()

``env`` is a full environment (a copy of ``os.environ`` with the session's
variables set and DISPLAY/WAYLAND_DISPLAY removed) for child processes.  To
use the service in-process, copy ``SESSION_VARIABLES`` from it into
``os.environ`` (e.g. with ``monkeypatch.setenv``); secretstorage reads
DBUS_SESSION_BUS_ADDRESS when keyring connects.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from .processes import die_with_parent, marked_processes, terminate_group

__all__ = [
    "KEYRING_PASSWORD",
    "SESSION_VARIABLES",
    "SecretService",
    "SecretServiceError",
    "secret_service_session",
    "start_secret_service",
]

#: Password of the ``login`` collection the daemon creates.
KEYRING_PASSWORD = "credhelper-test-keyring"

#: Variables a session sets; copy these to use the service in-process.
SESSION_VARIABLES = (
    "DBUS_SESSION_BUS_ADDRESS",
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "GNOME_KEYRING_CONTROL",
)

#: Variables removed from the environment given to the daemons and to ``env``.
_REMOVED_VARIABLES = (
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "GNOME_KEYRING_PID",
)

#: Set only in the daemons' environment, to find every process a session ran.
MARKER_VARIABLE = "CREDHELPER_TEST_SECRET_SERVICE"

_SECRETS_NAME = "org.freedesktop.secrets"
_SECRETS_PATH = "/org/freedesktop/secrets"
_SERVICE_IFACE = "org.freedesktop.Secret.Service"
_COLLECTION_IFACE = "org.freedesktop.Secret.Collection"

# sockaddr_un.sun_path is 108 bytes; keep room for "keyring/control".
_MAX_RUNTIME_DIR = 80

_BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- no <servicedir>: nothing is ever activated on this bus -->
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class SecretServiceError(RuntimeError):
    """The private Secret Service could not be started."""


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise SecretServiceError(
            f"{program} not found on PATH; install the Debian packages "
            "gnome-keyring and dbus (tests/run does this)"
        )
    return path


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


class SecretService:
    """One private D-Bus session bus plus gnome-keyring-daemon.

    ``start()`` returns once ``org.freedesktop.secrets`` is owned on the bus
    and its ``default`` alias points at an unlocked collection.  ``stop()``
    is idempotent and is also registered with ``atexit``.
    """

    def __init__(self, directory: os.PathLike | str, *, timeout: float = 20.0):
        self.directory = Path(directory).resolve()
        self.timeout = timeout
        self.home = self.directory / "home"
        self.data_home = self.home / ".local" / "share"
        self.config_home = self.home / ".config"
        self.cache_home = self.home / ".cache"
        self.keyrings_dir = self.data_home / "keyrings"
        self.dbus_log = self.directory / "dbus-daemon.log"
        self.keyring_log = self.directory / "gnome-keyring-daemon.log"
        self.runtime_dir: Path | None = None
        self._own_runtime_dir = False
        self.bus_address: str | None = None
        self.env: dict[str, str] = {}
        self.dbus: subprocess.Popen | None = None
        self.keyring: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self.marker = str(self.directory)
        self._stopped = False

    # -- public -----------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        """PIDs of the daemons this session started."""
        return [p.pid for p in (self.dbus, self.keyring) if p is not None]

    def start(self) -> dict[str, str]:
        started = time.monotonic()
        deadline = started + self.timeout
        dbus_daemon = _require("dbus-daemon")
        keyring_daemon = _require("gnome-keyring-daemon")
        atexit.register(self.stop)
        try:
            self._make_dirs()
            base = self._base_env()
            self._start_bus(dbus_daemon, base, deadline)
            base["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
            self._start_keyring(keyring_daemon, base, deadline)
        except BaseException:
            self.stop()
            raise
        env = {k: v for k, v in os.environ.items() if k not in _REMOVED_VARIABLES}
        env.update({k: base[k] for k in SESSION_VARIABLES})
        self.env = env
        self.startup_seconds = time.monotonic() - started
        return dict(env)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        # The keyring daemon first, so it does not log the bus vanishing.
        for proc in (self.keyring, self.dbus):
            if proc is not None:
                terminate_group(proc)
        if self._own_runtime_dir and self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def running_processes(self) -> list[int]:
        """Live (non-zombie) processes carrying this session's marker.

        Every process the session started has ``CREDHELPER_TEST_SECRET_SERVICE
        =<directory>`` in its initial environment, inherited by anything it
        spawns, so after ``stop()`` this should be empty.
        """
        return marked_processes(MARKER_VARIABLE, self.marker)

    def __enter__(self) -> dict[str, str]:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- internals --------------------------------------------------------

    def _make_dirs(self) -> None:
        for d in (self.directory, self.data_home, self.config_home, self.cache_home):
            d.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        runtime = self.directory / "run"
        if len(str(runtime)) <= _MAX_RUNTIME_DIR:
            runtime.mkdir(mode=0o700, exist_ok=True)
        else:  # unix socket paths are short; fall back to a fresh /tmp dir
            runtime = Path(tempfile.mkdtemp(prefix="credhelper-ss-", dir="/tmp"))
            self._own_runtime_dir = True
        runtime.chmod(0o700)
        self.runtime_dir = runtime

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _REMOVED_VARIABLES}
        env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.data_home),
            XDG_CONFIG_HOME=str(self.config_home),
            XDG_CACHE_HOME=str(self.cache_home),
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            GNOME_KEYRING_CONTROL=str(self.runtime_dir / "keyring"),
        )
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env[MARKER_VARIABLE] = self.marker
        return env

    def _start_bus(self, program: str, env: dict, deadline: float) -> None:
        socket_path = self.runtime_dir / "bus"
        config = self.directory / "session-bus.conf"
        config.write_text(_BUS_CONFIG.format(socket=socket_path))
        with open(self.dbus_log, "ab") as log:
            self.dbus = subprocess.Popen(
                [program, f"--config-file={config}", "--nofork",
                 "--nopidfile", "--print-address=1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                env=env, cwd=self.directory, start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        # dbus-daemon prints the address only once it is listening.
        try:
            line = _read_line(self.dbus, deadline)
        finally:
            self.dbus.stdout.close()
        if not line:
            raise SecretServiceError(
                f"dbus-daemon exited ({self.dbus.poll()}) without printing an "
                f"address:\n{_tail(self.dbus_log)}"
            )
        self.bus_address = line.strip()

    def _start_keyring(self, program: str, env: dict, deadline: float) -> None:
        (self.runtime_dir / "keyring").mkdir(mode=0o700, exist_ok=True)
        with open(self.keyring_log, "ab") as log:
            self.keyring = subprocess.Popen(
                [program, "--foreground", "--unlock", "--components=secrets",
                 f"--control-directory={self.runtime_dir / 'keyring'}"],
                stdin=subprocess.PIPE, stdout=log, stderr=log,
                env=env, cwd=self.directory, start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        try:
            self.keyring.stdin.write(KEYRING_PASSWORD.encode())
        finally:
            self.keyring.stdin.close()  # EOF ends the password
        _wait_for_secret_service(self.bus_address, self.keyring, deadline, self.keyring_log)


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    fd = proc.stdout.fileno()
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SecretServiceError("timed out waiting for dbus-daemon's address")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:  # EOF: the daemon died
            break
        data += chunk
    return data.decode(errors="replace").split("\n", 1)[0] if b"\n" in data else ""


def _wait_for_secret_service(
    address: str, proc: subprocess.Popen, deadline: float, log: Path
) -> None:
    """Block until the default collection on ``address`` exists and is unlocked.

    Wakes up on bus signals (NameOwnerChanged, Secret.Service signals) and
    re-checks at least every 50 ms; gives up at ``deadline`` or when the
    daemon exits.
    """
    from jeepney import DBusAddress, MatchRule, Properties, message_bus, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import DBusErrorResponse, unwrap_msg

    conn = open_dbus_connection(bus=address)
    try:
        owner_changed = MatchRule(
            type="signal", sender="org.freedesktop.DBus", interface="org.freedesktop.DBus",
            member="NameOwnerChanged", path="/org/freedesktop/DBus",
        )
        owner_changed.add_arg_condition(0, _SECRETS_NAME)
        for rule in (owner_changed, MatchRule(type="signal", interface=_SERVICE_IFACE)):
            unwrap_msg(conn.send_and_get_reply(message_bus.AddMatch(rule)))

        service = DBusAddress(_SECRETS_PATH, bus_name=_SECRETS_NAME, interface=_SERVICE_IFACE)

        def ready() -> bool:
            owned = unwrap_msg(conn.send_and_get_reply(message_bus.NameHasOwner(_SECRETS_NAME)))[0]
            if not owned:
                return False
            try:
                path = unwrap_msg(conn.send_and_get_reply(
                    new_method_call(service, "ReadAlias", "s", ("default",))))[0]
                if path == "/":
                    return False
                collection = DBusAddress(path, bus_name=_SECRETS_NAME,
                                         interface=_COLLECTION_IFACE)
                (_sig, locked), = unwrap_msg(
                    conn.send_and_get_reply(Properties(collection).get("Locked")))
            except DBusErrorResponse:
                return False
            return not locked

        while not ready():
            if proc.poll() is not None:
                raise SecretServiceError(
                    f"gnome-keyring-daemon exited with {proc.returncode}:\n{_tail(log)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SecretServiceError(
                    "timed out waiting for an unlocked default collection on "
                    f"org.freedesktop.secrets:\n{_tail(log)}"
                )
            with contextlib.suppress(TimeoutError):
                conn.receive(timeout=min(0.05, remaining))
    finally:
        conn.close()


@contextlib.contextmanager
def secret_service_session(
    tmpdir: os.PathLike | str, *, timeout: float = 20.0
) -> Iterator[dict[str, str]]:
    """Run a private Secret Service under ``tmpdir``; yield the child env."""
    service = SecretService(tmpdir, timeout=timeout)
    try:
        yield service.start()
    finally:
        service.stop()


def start_secret_service(
    tmp, *, timeout: float = 20.0
) -> tuple[dict[str, str], Callable[[], None]]:
    """Fixture helper: start a session, return ``(env, stop)``.

    ``tmp`` is pytest's ``tmp_path_factory`` (a fresh ``secret-service``
    directory is made with it) or a directory path.  ``stop`` is idempotent;
    ``stop.__self__`` is the :class:`SecretService`.

    Example conftest::

        @pytest.fixture(scope="session")
        def secret_service_env(tmp_path_factory):
            env, stop = start_secret_service(tmp_path_factory)
            yield env
            stop()
    """
    directory = tmp.mktemp("secret-service") if hasattr(tmp, "mktemp") else tmp
    service = SecretService(directory, timeout=timeout)
    env = service.start()
    return env, service.stop
