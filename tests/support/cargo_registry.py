"""A minimal sparse cargo registry over real HTTPS, for running the real ``cargo`` against.

GitLab has no Cargo registry, so the tests of ``cargo-credential-gitlab`` need a registry that
asks for a token the way private cargo registries do (RFC 3139, "auth-required"):

* every request must carry ``Authorization: <token>`` (cargo sends the raw token, no
  scheme); anything else gets 401 with ``WWW-Authenticate: Cargo login_url="..."``;
* ``/index/config.json`` names the download and API URLs and says ``"auth-required": true``.
  Cargo first asks for it without a token; the 401 tells it the registry is private, and it
  asks its credential providers for a token and tries again;
* ``/index/<sparse path>`` holds one JSON line per published version, ``/dl/NAME/VERSION/
  download`` the ``.crate`` (a gzipped tar of ``NAME-VERSION/Cargo.toml`` and
  ``NAME-VERSION/src/lib.rs``) whose sha256 the index line names.

The server listens on 127.0.0.1 on a port the kernel picks and presents a certificate from the
test CA for ``localhost``; clients trust ``registry.ca_file`` (``CARGO_HTTP_CAINFO``)::

    with CargoRegistry(tmp / "cargo-registry") as registry:
        registry.token = "glpat-..."          # what the server accepts; None: nothing
        ... cargo with [registries.x] index = registry.index_url ...
        registry.requests                    # [Seen(method, path, authorization, status)]

Crates: ``small`` 0.1.0 (no dependencies) and 0.1.1 (depends on ``xyz`` ^1.0), and ``xyz``
1.0.0 -- so resolving ``small = "0.1"`` reads two index files (``sm/al/small``, ``3/x/xyz``)
and locks two packages.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import ssl
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable, Optional

from credhelper.selftest.tls import TestCA

__all__ = ["CargoRegistry", "Crate", "Seen", "DEFAULT_CRATES", "index_path", "make_crate_file"]


@dataclass(frozen=True)
class Crate:
    """One published version: ``deps`` are (name, requirement) in the same registry."""

    name: str
    version: str
    deps: tuple = ()


@dataclass(frozen=True)
class Seen:
    """One request as the registry saw it and what it answered."""

    method: str
    path: str
    authorization: Optional[str]
    status: int


DEFAULT_CRATES = (
    Crate("small", "0.1.0"),
    Crate("small", "0.1.1", deps=(("xyz", "^1.0"),)),
    Crate("xyz", "1.0.0"),
)


def index_path(name: str) -> str:
    """The sparse index's file for a crate: 1/a, 2/ab, 3/a/abc, ab/cd/abcd... (lower case)."""
    name = name.lower()
    if len(name) <= 2:
        return "%d/%s" % (len(name), name)
    if len(name) == 3:
        return "3/%s/%s" % (name[0], name)
    return "%s/%s/%s" % (name[:2], name[2:4], name)


def make_crate_file(crate: Crate, index_url: str) -> bytes:
    """A ``.crate``: gzipped tar of ``NAME-VERSION/{Cargo.toml,src/lib.rs}``, deterministic.

    Dependencies name the registry by index URL, as ``cargo package`` writes them for a crate
    published to an alternative registry (a bare ``version`` would mean crates.io)."""
    manifest = ['[package]', 'name = "%s"' % crate.name, 'version = "%s"' % crate.version,
                'edition = "2021"', 'description = "a tiny test crate"', 'license = "MIT"', '',
                '[dependencies]']
    for dep, req in crate.deps:
        manifest.append('%s = { version = "%s", registry-index = "%s" }' % (dep, req, index_url))
    files = {
        "Cargo.toml": ("\n".join(manifest) + "\n").encode(),
        "src/lib.rs": ("pub fn version() -> &'static str {\n    \"%s\"\n}\n"
                       % crate.version).encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for relative, data in files.items():
            info = tarfile.TarInfo("%s-%s/%s" % (crate.name, crate.version, relative))
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


# A client that stalls must not hold a connection thread (and so stop()) for long.
HANDSHAKE_TIMEOUT = 30
IDLE_TIMEOUT = 60


class _Server(ThreadingHTTPServer):
    """Accepts in the serving thread, does the TLS handshake in the connection's thread (a
    client that stalls in the handshake must not stop the others), and can cut every open
    connection when stopping (cargo keeps connections alive)."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address, handler, registry):
        self.registry = registry
        self._open = {}               # accepted socket -> a duplicate of its descriptor
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        # wrap_socket() takes the descriptor over from `request`; a duplicate stays here so
        # that stop() can shut the connection down without touching the TLS object that the
        # connection's thread is reading with.
        with self._open_lock:
            self._open[request] = socket.socket(fileno=os.dup(request.fileno()))
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            wrapped = self.registry.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self.registry.errors.append("TLS handshake with %s: %s" % (client_address, error))
            return
        try:
            self.RequestHandlerClass(wrapped, client_address, self)
        finally:
            try:
                wrapped.close()
            except OSError:
                pass

    def shutdown_request(self, request):
        with self._open_lock:
            duplicate = self._open.pop(request, None)
        if duplicate is not None:
            duplicate.close()
        super().shutdown_request(request)

    def cut_connections(self):
        with self._open_lock:
            open_now = list(self._open.values())
        for duplicate in open_now:
            try:
                duplicate.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        import traceback

        self.registry.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as cargo expects from a sparse index
    server_version = "tiny-cargo-registry"
    timeout = IDLE_TIMEOUT

    def log_message(self, format, *args):   # the record of requests is kept instead
        pass

    def do_GET(self):
        self.server.registry._answer(self)

    def do_HEAD(self):
        self.server.registry._answer(self, body=False)


class CargoRegistry:
    """Context manager: a running sparse registry.  ``token`` may be changed at any time."""

    def __init__(self, directory, ca: Optional[TestCA] = None, token: Optional[str] = None,
                 crates: Iterable[Crate] = DEFAULT_CRATES):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = ca or TestCA(self.directory / "tls", names=["localhost"])
        self.token = token
        self.crates = tuple(crates)
        self.requests: list = []
        self.errors: list = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self._files = {}

    # -- addresses ---------------------------------------------------------------------------

    @property
    def ca_file(self) -> str:
        return self.ca.ca_file

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        return "localhost:%d" % self.port

    @property
    def base_url(self) -> str:
        return "https://%s" % self.host

    @property
    def index_url(self) -> str:
        return "sparse+%s/index/" % self.base_url

    @property
    def login_url(self) -> str:
        return "%s/login" % self.base_url

    # -- life --------------------------------------------------------------------------------

    def start(self):
        cert, key = self.ca.issue(["localhost"])
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self.tls.load_cert_chain(cert, key)
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._publish()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                         name="cargo-registry", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()           # returns once serve_forever has left its loop
        self._server.cut_connections()    # kept-alive connections would keep threads reading
        self._server.server_close()       # joins the connection threads
        self._thread.join()
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- content -----------------------------------------------------------------------------

    def _publish(self):
        files = {"/index/config.json": json.dumps({
            "dl": "%s/dl/{crate}/{version}/download" % self.base_url,
            "api": self.base_url,
            "auth-required": True,
        }).encode()}
        lines = {}
        for crate in self.crates:
            data = make_crate_file(crate, self.index_url)
            files["/dl/%s/%s/download" % (crate.name, crate.version)] = data
            entry = {
                "name": crate.name,
                "vers": crate.version,
                "deps": [{"name": dep, "req": req, "features": [], "optional": False,
                          "default_features": True, "target": None, "kind": "normal"}
                         for dep, req in crate.deps],
                "cksum": hashlib.sha256(data).hexdigest(),
                "features": {},
                "yanked": False,
                "v": 2,
            }
            lines.setdefault(crate.name, []).append(json.dumps(entry, separators=(",", ":")))
        for name, entries in lines.items():
            files["/index/" + index_path(name)] = ("\n".join(entries) + "\n").encode()
        self._files = files

    def crate_file(self, name: str, version: str) -> bytes:
        """The ``.crate`` served for NAME VERSION."""
        return self._files["/dl/%s/%s/download" % (name, version)]

    def paths(self, authorized: Optional[bool] = None) -> list:
        """Paths requested so far; only those with (True) or without (False) a good token."""
        with self._lock:
            seen = list(self.requests)
        if authorized is None:
            return [s.path for s in seen]
        return [s.path for s in seen if (s.status != 401) == authorized]

    def _answer(self, handler, body=True):
        path = handler.path.split("?", 1)[0]
        authorization = handler.headers.get("Authorization")
        token = self.token
        if token is None or authorization != token:
            status, headers, data = 401, {
                "WWW-Authenticate": 'Cargo login_url="%s"' % self.login_url,
                "Content-Type": "text/plain"}, b"this registry needs a token\n"
        elif path in self._files:
            status, data = 200, self._files[path]
            kind = ("application/json" if path.endswith(".json") else
                    "application/octet-stream" if path.startswith("/dl/") else "text/plain")
            headers = {"Content-Type": kind}
        else:
            status, headers, data = 404, {"Content-Type": "text/plain"}, b"not found\n"
        with self._lock:
            self.requests.append(Seen(handler.command, path, authorization, status))
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)
