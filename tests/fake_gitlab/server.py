"""``FakeGitLab``: the GitLab model, its routes and its listeners in one object.

Usable from pytest fixtures and from plain Python run from the checkout
(e.g. benchmarks/speed.py)::

    ca = TestCA(tmp / "tls", names=["gitlab.example.com"])
    with FakeGitLab(tmp / "gitlab", ca) as gl:
        gl.state.add_project("group/project", members={"alice": "developer"})
        pat = gl.state.create_pat("alice", ["read_repository"])
        # git -c http.curloptResolve=... (gl.git_config_args()) with
        # GIT_SSL_CAINFO=ca.ca_file clones gl.url_for() + "/group/project.git"

The server listens on 127.0.0.1 only, on ephemeral ports.  Clients reach it
under GitLab-like host names through ``http.curloptResolve`` (git) or an
equivalent resolver override, and verify TLS against ``ca.ca_file``.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path
from typing import Iterable

from credhelper.selftest.tls import TestCA

from . import api, git_http, oauth, oidc, packages, registry_auth
from .faults import Faults
from .httpd import Listener
from .records import RequestLog
from .state import GitLabState
from .web import Router

__all__ = ["FakeGitLab"]


class FakeGitLab:
    """A fake GitLab over HTTPS (and optionally plain HTTP) on 127.0.0.1.

    Attributes:
        state: the ``GitLabState`` (users, projects, tokens, clock).
        router: the route table; add handlers with ``router.add(method, regex, fn)``.
        requests: ``RequestLog`` of every request received (credentials kept in
            memory only, redacted in repr).  ``count()`` counts from it.
        faults: ``Faults``, test faults for chosen requests (timeouts, error
            statuses, garbage, dropped connections, pauses after a commit).
        api: ``GitLabAPI``, the REST/OAuth token routes (its ``rotations``
            lists every rotation committed; ``api.dpop`` is the DPoP check
            and ``api.dpop_proofs`` every proof it accepted).
        registry_auth: ``RegistryAuth``, the container registry token service
            (``GET /jwt/auth``): issuer, token lifetime, the signing key and
            the tokens it issued.
        packages: ``PackageRegistry``, the package registry routes (PyPI, npm,
            Go proxy, generic, Terraform modules): its settings and URL helpers.
            Packages themselves live in ``state`` (``state.add_package_file``).
        port / http_port: the listening ports once started (http_port None
            unless ``http_port=True``).
        hostnames: names the TLS certificate covers (besides localhost,
            127.0.0.1, ::1).
    """

    def __init__(self, workdir: str | os.PathLike, ca: TestCA,
                 hostnames: Iterable[str] = ("gitlab.example.com",), http_port: bool = False,
                 *, cert: tuple[str, str] | None = None, git: str = "git"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.hostnames = tuple(hostnames)
        if not self.hostnames:
            raise ValueError("at least one host name is needed")
        self.git = git
        self.home = self.workdir / "home"  # empty HOME for git subprocesses
        self.home.mkdir(exist_ok=True)
        self.state = GitLabState(self.workdir / "repositories", git=git)
        self.router = Router()
        self.requests = RequestLog()
        self.faults = Faults()
        # One certificate for every name this instance answers to; a test
        # wanting a mismatching certificate passes its own *cert*.
        self.cert_file, self.key_file = cert or ca.issue(self.hostnames)
        self._want_http = bool(http_port)
        self._listeners: list[Listener] = []
        self.port: int | None = None
        self.http_port: int | None = None
        self.git_http = git_http.install(self)
        self.api = api.install(self)
        self.oauth = oauth.install(self)
        self.registry_auth = registry_auth.install(self)
        self.packages = packages.install(self)
        self.oidc = oidc.install(self)   # CI ID tokens: discovery and JWKS (oidc.py)

    # --- lifecycle -------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def start(self) -> "FakeGitLab":
        if self._listeners:
            return self
        self.faults.reopen()
        try:
            https = Listener(self, ssl_context=self._ssl_context())
            self._listeners.append(https)
            https.start()
            self.port = https.port
            if self._want_http:
                plain = Listener(self)
                self._listeners.append(plain)
                plain.start()
                self.http_port = plain.port
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Held requests (timeout and pause faults) end first, so no handler
        # thread outlives the server.
        self.faults.close()
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.stop()

    def __enter__(self) -> "FakeGitLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- observation -----------------------------------------------------------------------

    def count(self, method: str | None = None, path: str | None = None, *,
              status: int | None = None, host: str | None = None) -> int:
        """How many logged requests match *method*, *path* (a regex matched
        against the whole decoded path), *status* and *host* (without port)."""
        pattern = re.compile(path) if path is not None else None
        return sum(1 for r in self.requests.snapshot()
                   if (method is None or r.method.upper() == method.upper())
                   and (pattern is None or pattern.fullmatch(r.path))
                   and (status is None or r.status == status)
                   and (host is None or r.hostname == host))

    def connections(self) -> tuple[int, int]:
        """(TCP connections accepted, TLS handshakes completed) on the HTTPS port so far:
        counted at the server, so a client reusing one connection for several requests shows
        as one."""
        self._require_started()
        https = self._listeners[0]
        return https.accepted, https.handshakes

    # --- addressing ----------------------------------------------------------------------

    @property
    def hostname(self) -> str:
        """The primary host name (the first one given)."""
        return self.hostnames[0]

    def _require_started(self) -> None:
        if self.port is None:
            raise RuntimeError("FakeGitLab is not started")

    def url_for(self, host: str | None = None) -> str:
        """``https://HOST:PORT`` for *host* (default: the primary name)."""
        self._require_started()
        return f"https://{host or self.hostname}:{self.port}"

    def http_url_for(self, host: str | None = None) -> str:
        """``http://HOST:HTTP_PORT``; only with ``http_port=True``."""
        self._require_started()
        if self.http_port is None:
            raise RuntimeError("FakeGitLab was created without http_port=True")
        return f"http://{host or self.hostname}:{self.http_port}"

    def resolve_entries(self, hosts: Iterable[str] | None = None) -> list[str]:
        """``HOST:PORT:127.0.0.1`` entries (curl's --resolve) for every name and port."""
        self._require_started()
        ports = [p for p in (self.port, self.http_port) if p is not None]
        return [f"{h}:{p}:127.0.0.1" for h in (hosts or self.hostnames) for p in ports]

    def git_config_args(self, hosts: Iterable[str] | None = None) -> list[str]:
        """``-c http.curloptResolve=...`` arguments making git reach this server by name."""
        args: list[str] = []
        for entry in self.resolve_entries(hosts):
            args += ["-c", f"http.curloptResolve={entry}"]
        return args

    # --- container registry ------------------------------------------------------------

    @property
    def registry_signing_cert(self) -> str:
        """PEM certificate of the key that signs registry tokens (the
        registry's ``auth.token.rootcertbundle``); written on first use."""
        return self.registry_auth.cert_file

    @property
    def registry_issuer(self) -> str:
        """The ``iss`` of registry tokens (the registry's ``auth.token.issuer``)."""
        return self.registry_auth.issuer

    def registry_realm(self, host: str | None = None) -> str:
        """``https://HOST:PORT/jwt/auth``: the registry's ``auth.token.realm``."""
        return self.url_for(host) + "/jwt/auth"

    def git_env(self) -> dict[str, str]:
        """Environment for git clients: trust the test CA."""
        return {"GIT_SSL_CAINFO": self.ca.ca_file}

    def __repr__(self) -> str:
        return f"FakeGitLab(hostnames={self.hostnames!r}, port={self.port}, http_port={self.http_port})"
