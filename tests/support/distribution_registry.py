"""A real container registry (Docker's distribution, Debian's ``docker-registry``)
that takes its tokens from the fake GitLab's ``/jwt/auth``, and the client
side set-up for ``skopeo`` and the ``docker`` CLI.

No network and no docker engine: the registry listens on 127.0.0.1 on a port
the kernel picks (``addr: 127.0.0.1:0``; the registry logs the address it
got), stores blobs under the work directory, and verifies tokens offline
against the fake GitLab's signing certificate::

    with DistributionRegistry(tmp / "registry", gitlab, gitlab.ca) as registry:
        clients = RegistryClients(tmp / "clients", gitlab.ca)
        authfile = clients.write_authfile({registry.host: ("user", token)})
        clients.skopeo("copy", "--authfile", authfile, "oci:DIR:tag",
                       f"docker://{registry.host}/group/project/app:tag")

``DistributionRegistry.start()`` returns once ``GET /v2/`` answers 401 with the Bearer
challenge naming the fake GitLab's realm; ``stop()`` ends the process group
and reaps it.  Mapping for the project's tests: ``registry.host``
(``localhost:PORT``) belongs to ``registry.gitlab_host``
(``gitlab.example.com:GITLAB_PORT``).

Go programs (docker CLI, skopeo) trust the roots in ``SSL_CERT_FILE``:
``write_ca_bundle()`` writes the system bundle plus the test CA, and
``client_env()`` / ``RegistryClients.env`` point at it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterable, Mapping

import requests

from .processes import die_with_parent, marked_processes, terminate_group

__all__ = [
    "REGISTRY_PROGRAM",
    "SYSTEM_CA_BUNDLE",
    "DistributionRegistry",
    "RegistryClients",
    "RegistryError",
    "client_env",
    "docker_auth_entry",
    "write_authfile",
    "write_ca_bundle",
    "write_docker_config",
]

REGISTRY_PROGRAM = "docker-registry"  # Debian's name for distribution's `registry`
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SERVICE = "container_registry"

# Set only in the registry's environment, to find its processes in /proc.
MARKER_VARIABLE = "CREDHELPER_TEST_REGISTRY"

# Variables that would reconfigure the registry (REGISTRY_*) or send the
# clients elsewhere; removed from every environment made here.
_SCRUBBED_PREFIXES = ("REGISTRY_",)
_SCRUBBED = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
             "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
             "SSL_CERT_DIR", "REGISTRY_AUTH_FILE", "CONTAINERS_REGISTRIES_CONF",
             "CONTAINERS_CONF", "DOCKER_CONFIG")

_LISTENING = re.compile(r'listening on (\S+?), tls')

_CONFIG = """\
version: 0.1
log:
  level: info
  formatter: text
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: false
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:0
  net: tcp
  secret: {secret}
  relativeurls: false
  tls:
    certificate: {cert}
    key: {key}
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {rootcertbundle}
    autoredirect: false
health:
  storagedriver:
    enabled: false
"""


class RegistryError(RuntimeError):
    """The registry could not be started."""


def _clean_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if name in _SCRUBBED or name.startswith(_SCRUBBED_PREFIXES):
            del env[name]
    return env


class DistributionRegistry:
    """``docker-registry serve`` with token auth against a FakeGitLab.

    Attributes (after ``start()``):
        host: ``localhost:PORT``, the registry as clients name it.
        url: ``https://localhost:PORT``.
        port: the port the registry listens on (127.0.0.1).
        realm: ``https://REALM_HOST:GITLAB_PORT/jwt/auth``.
        gitlab_host: ``HOSTNAME:GITLAB_PORT`` (the fake GitLab's primary name):
            the GitLab instance this registry belongs to.
        config_file, log_file, storage: files under *workdir*.
        startup_seconds: how long ``start()`` took.
    """

    def __init__(self, workdir: str | os.PathLike, gitlab, ca, realm_host: str = "localhost", *,
                 timeout: float = 30.0, program: str = REGISTRY_PROGRAM):
        self.workdir = Path(workdir).resolve()
        self.gitlab = gitlab
        self.ca = ca
        self.realm_host = realm_host
        self.timeout = timeout
        self.program = program
        self.config_file = self.workdir / "config.yml"
        self.log_file = self.workdir / "registry.log"
        self.storage = self.workdir / "storage"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self.cert_file: str | None = None
        self.key_file: str | None = None
        self._listening = threading.Event()
        self._address: str | None = None
        self._reader: threading.Thread | None = None
        self._log_lock = threading.Lock()

    # --- addressing ----------------------------------------------------------------------

    def _require_started(self) -> int:
        if self.port is None:
            raise RuntimeError("DistributionRegistry is not started")
        return self.port

    @property
    def host(self) -> str:
        return f"localhost:{self._require_started()}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def realm(self) -> str:
        return f"https://{self.realm_host}:{self.gitlab.port}/jwt/auth"

    @property
    def gitlab_host(self) -> str:
        return f"{self.gitlab.hostname}:{self.gitlab.port}"

    @property
    def host_mapping(self) -> dict[str, str]:
        """``{registry host: GitLab host}``, as the helper's configuration would hold it."""
        return {self.host: self.gitlab_host}

    def reference(self, repository: str, tag: str = "latest") -> str:
        """``localhost:PORT/REPOSITORY:TAG``."""
        return f"{self.host}/{repository}:{tag}"

    # --- lifecycle ---------------------------------------------------------------------------

    def write_config(self) -> Path:
        if self.gitlab.port is None:
            raise RuntimeError("start the FakeGitLab before the registry")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        self.cert_file, self.key_file = self.ca.issue(["localhost"])
        self.config_file.write_text(_CONFIG.format(
            storage=self.storage,
            secret=secrets.token_hex(16),
            cert=self.cert_file,
            key=self.key_file,
            realm=self.realm,
            service=SERVICE,
            issuer=self.gitlab.registry_issuer,
            rootcertbundle=self.gitlab.registry_signing_cert,
        ))
        return self.config_file

    def start(self) -> "DistributionRegistry":
        if self.proc is not None:
            return self
        started = time.monotonic()
        deadline = started + self.timeout
        program = shutil.which(self.program)
        if program is None:
            raise RegistryError(f"{self.program} not found; install Debian's docker-registry "
                                "(tests/run does)")
        self.write_config()
        env = _clean_env()
        env[MARKER_VARIABLE] = str(self.workdir)
        atexit.register(self.stop)
        self._listening.clear()
        self._address = None
        self.log_file.write_bytes(b"")
        self.proc = subprocess.Popen(
            [program, "serve", str(self.config_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=self.workdir, env=env, start_new_session=True, preexec_fn=die_with_parent(),
        )
        self._reader = threading.Thread(target=self._read_output, name="registry-log", daemon=True)
        self._reader.start()
        try:
            self._wait_listening(deadline)
            self._wait_challenge(deadline)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _read_output(self) -> None:
        """Copy the registry's output to the log file; note the listening address."""
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        with open(self.log_file, "ab") as log:
            for line in iter(stream.readline, b""):
                log.write(line)
                log.flush()
                if not self._listening.is_set():
                    match = _LISTENING.search(line.decode("utf-8", "replace"))
                    if match:
                        self._address = match.group(1)
                        self._listening.set()
        self._listening.set()  # EOF: the process is gone; wake the waiter

    def _wait_listening(self, deadline: float) -> None:
        if not self._listening.wait(max(0.0, deadline - time.monotonic())):
            raise RegistryError(f"registry did not start listening in time:\n{self.log_tail()}")
        if self._address is None:
            self.proc.wait(5)
            raise RegistryError(f"registry exited with {self.proc.returncode}:\n{self.log_tail()}")
        self.port = int(self._address.rsplit(":", 1)[1])

    def _wait_challenge(self, deadline: float) -> None:
        """The registry logs "listening" after bind(): GET /v2/ must give the challenge."""
        last: Exception | str | None = None
        while True:
            try:
                response = requests.get(self.url + "/v2/", verify=self.ca.ca_file, timeout=5)
                challenge = response.headers.get("WWW-Authenticate", "")
                if response.status_code == 401 and challenge.startswith(f'Bearer realm="{self.realm}"'):
                    return
                last = f"{response.status_code} {challenge!r}"
            except requests.RequestException as error:
                last = error
            if time.monotonic() >= deadline:
                raise RegistryError(f"registry never challenged for a token ({last}):\n{self.log_tail()}")
            # Wait on the process (not a fixed sleep): returns at once if it died.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(0.05)
            if self.proc.returncode is not None:
                raise RegistryError(f"registry exited with {self.proc.returncode}:\n{self.log_tail()}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        proc, self.proc = self.proc, None
        if proc is None:
            return
        terminate_group(proc, timeout=10.0)
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        self.port = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def running_processes(self) -> list[int]:
        """Live processes started by this registry (by its environment marker)."""
        return marked_processes(MARKER_VARIABLE, str(self.workdir))

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def log_text(self) -> str:
        return self.log_tail(limit=10**9)

    def __enter__(self) -> "DistributionRegistry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DistributionRegistry(port={self.port}, realm={self.realm!r})"


# --- clients ----------------------------------------------------------------------------------


def write_ca_bundle(ca, path: str | os.PathLike, system_bundle: str = SYSTEM_CA_BUNDLE) -> str:
    """System roots plus the test CA in one PEM file (for ``SSL_CERT_FILE``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    with contextlib.suppress(OSError):
        parts.append(Path(system_bundle).read_text())
    parts.append(Path(ca.ca_file).read_text())
    path.write_text("\n".join(p.rstrip("\n") + "\n" for p in parts))
    return str(path)


def docker_auth_entry(username: str, secret: str) -> dict[str, str]:
    """An ``auths`` entry as ``docker login`` writes it: base64 of ``user:secret``."""
    return {"auth": base64.b64encode(f"{username}:{secret}".encode()).decode()}


def _write_private_json(path: Path, data: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(path, 0o600)
    return str(path)


def write_authfile(path: str | os.PathLike, credentials: Mapping[str, tuple[str, str]]) -> str:
    """A containers-auth.json (skopeo ``--authfile``): ``{host: (user, secret)}``."""
    auths = {host: docker_auth_entry(user, secret) for host, (user, secret) in credentials.items()}
    return _write_private_json(Path(path), {"auths": auths})


def write_docker_config(directory: str | os.PathLike, *,
                        auths: Mapping[str, tuple[str, str]] | None = None,
                        cred_helpers: Mapping[str, str] | None = None,
                        creds_store: str | None = None) -> str:
    """``DIR/config.json`` for the docker CLI (``DOCKER_CONFIG=DIR``); returns its path."""
    config: dict = {}
    if auths:
        config["auths"] = {host: docker_auth_entry(u, s) for host, (u, s) in auths.items()}
    if cred_helpers:
        config["credHelpers"] = dict(cred_helpers)
    if creds_store:
        config["credsStore"] = creds_store
    return _write_private_json(Path(directory) / "config.json", config)


def client_env(ca_bundle: str, *, docker_config: str | os.PathLike | None = None,
               registries_conf: str | os.PathLike | None = None,
               base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for docker/skopeo: trust *ca_bundle*, use *docker_config* (a directory)."""
    env = _clean_env(base)
    env["SSL_CERT_FILE"] = str(ca_bundle)
    if docker_config is not None:
        env["DOCKER_CONFIG"] = str(docker_config)
    if registries_conf is not None:
        env["CONTAINERS_REGISTRIES_CONF"] = str(registries_conf)
    return env


class RegistryClients:
    """Files and environment for running ``skopeo`` and ``docker`` against a DistributionRegistry.

    Everything lives under *directory*: the CA bundle, a docker config
    directory, an empty registries.conf, an accept-anything signature policy
    and a temporary directory for skopeo.  No credentials appear on a command
    line: ``write_authfile()`` / ``write_docker_config()`` put them in 0600
    files.
    """

    def __init__(self, directory: str | os.PathLike, ca, *, base_env: Mapping[str, str] | None = None):
        self.directory = Path(directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.ca_bundle = write_ca_bundle(ca, self.directory / "ca-bundle.pem")
        self.docker_config = self.directory / "docker"
        self.docker_config.mkdir(exist_ok=True)
        self.registries_conf = self.directory / "registries.conf"
        self.registries_conf.write_text("# empty: fully qualified references only\n")
        self.registries_d = self.directory / "registries.d"
        self.registries_d.mkdir(exist_ok=True)
        self.policy = self.directory / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.tmpdir = self.directory / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.env = client_env(self.ca_bundle, docker_config=self.docker_config,
                              registries_conf=self.registries_conf, base=base_env)
        # No docker engine, ever: were one running here, `docker login` would
        # log in through it (with the engine's own trust store).  With the
        # engine unreachable the CLI logs in itself.
        self.env["DOCKER_HOST"] = f"unix://{self.directory / 'no-docker-engine.sock'}"
        self._authfiles = 0

    def write_authfile(self, credentials: Mapping[str, tuple[str, str]], name: str | None = None) -> str:
        self._authfiles += 1
        return write_authfile(self.directory / (name or f"auth-{self._authfiles}.json"), credentials)

    def write_docker_config(self, **kwargs) -> str:
        return write_docker_config(self.docker_config, **kwargs)

    def skopeo(self, *args: str, check: bool = False, timeout: float = 120,
               env: Mapping[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """``skopeo --policy P --registries.d D --tmpdir T ARGS`` (text output).

        *env* adds to (or overrides) ``self.env``; *input* goes to stdin.
        """
        cmd = ["skopeo", "--policy", str(self.policy), "--registries.d", str(self.registries_d),
               "--tmpdir", str(self.tmpdir), *args]
        return _run(cmd, {**self.env, **(env or {})}, check, timeout, input)

    def docker(self, *args: str, check: bool = False, timeout: float = 120,
               env: Mapping[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """The docker CLI with this DOCKER_CONFIG (no engine is involved)."""
        return _run(["docker", *args], {**self.env, **(env or {})}, check, timeout, input)


def _run(cmd: Iterable[str], env: Mapping[str, str], check: bool, timeout: float,
         input: str | None = None) -> subprocess.CompletedProcess:
    cmd = list(cmd)
    done = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=timeout,
                          input=input, stdin=subprocess.DEVNULL if input is None else None)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done
