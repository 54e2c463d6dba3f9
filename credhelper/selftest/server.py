"""The smallest GitLab `credhelper selftest` needs, shipped with the package (the test suite's
full fake GitLab lives in tests/ and is not installed).

It knows one personal access token and nothing else, and listens on 127.0.0.1 (an ephemeral
port) over HTTPS with a certificate from a throwaway CA (``tls.TestCA``):

- git smart HTTP, run by the real ``git http-backend`` as a CGI program, behind HTTP Basic auth
  that accepts the token as the password with any username; anything else gets GitLab's
  challenge (401, ``WWW-Authenticate: Basic realm="GitLab"``);
- ``GET /api/v4/personal_access_tokens/self`` with ``PRIVATE-TOKEN`` (or Bearer): the token's
  entity, or ``401 {"message":"401 Unauthorized"}``.

The shapes are those of docs/gitlab.md (#git-over-http, #token-self-information).
``token_seen`` tells which kinds of request ("api", "git") carried the token.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import json
import os
import re
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

from credhelper.selftest.tls import TestCA

__all__ = ["SelftestGitLab"]

_SELF_PATH = "/api/v4/personal_access_tokens/self"
_GIT_PATH = re.compile(r"/(?P<repo>[A-Za-z0-9_][A-Za-z0-9_./-]*)\.git"
                       r"/(?P<what>info/refs|git-upload-pack|git-receive-pack)")
_SERVICES = ("git-upload-pack", "git-receive-pack")
_MAX_BODY = 64 * 1024 * 1024
_JSON = [("Content-Type", "application/json")]
_TEXT = [("Content-Type", "text/plain")]
_DENIED = (b"HTTP Basic: Access denied. If a password was provided for Git authentication, the "
           b"password was incorrect.\n")


class SelftestGitLab:
    """One user, one PAT, bare repositories under *workdir*; a context manager."""

    def __init__(self, workdir: str | os.PathLike, ca: TestCA, token: str, *,
                 scopes: Iterable[str] = ("write_repository",), git: str = "git"):
        self.workdir = Path(workdir)
        self.repo_root = self.workdir / "repositories"
        self.home = self.workdir / "home"   # no git configuration for the backend to pick up
        for directory in (self.repo_root, self.home):
            directory.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.token = token
        self.scopes = list(scopes)
        self.git = git
        self.created_at = datetime.datetime.now(datetime.timezone.utc)
        self.token_seen: set[str] = set()
        self.port: int | None = None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ---------------------------------------------------------------------------------

    def add_project(self, path: str, readme: str = "# selftest\n") -> Path:
        """A bare repository for *path* (``group/project``) with one commit on ``main``."""
        repo = self.repo_root / f"{path}.git"
        repo.parent.mkdir(parents=True, exist_ok=True)
        self._git("init", "-q", "--bare", "--initial-branch=main", str(repo))
        gd = f"--git-dir={repo}"
        blob = self._git(gd, "hash-object", "-w", "--stdin", data=readme.encode())
        tree = self._git(gd, "mktree", data=f"100644 blob {blob}\tREADME.md\n".encode())
        commit = self._git(gd, "commit-tree", tree, "-m", "Initial commit")
        self._git(gd, "update-ref", "refs/heads/main", commit)
        return repo

    def _git(self, *args: str, data: bytes = b"") -> str:
        env = self.base_env()
        env.update(GIT_AUTHOR_NAME="selftest", GIT_AUTHOR_EMAIL="selftest@example.com",
                   GIT_COMMITTER_NAME="selftest", GIT_COMMITTER_EMAIL="selftest@example.com")
        done = subprocess.run([self.git, *args], input=data, capture_output=True, env=env,
                              check=True, timeout=60)
        return done.stdout.decode().strip()

    def base_env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SelftestGitLab:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.ca.cert_file, self.ca.key_file)
        httpd = _Server(("127.0.0.1", 0), _Handler)
        # the handshake happens in the request's thread, not in the accepting one
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True,
                                           do_handshake_on_connect=False)
        httpd.gitlab = self
        self._httpd, self.port = httpd, httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, name="selftest-gitlab",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SelftestGitLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- answers --------------------------------------------------------------------------------

    def accepts(self, secret: str | None, where: str) -> bool:
        """Is *secret* the token?  Notes *where* ("api", "git") it was seen if so."""
        if secret is None or not hmac.compare_digest(secret.encode(), self.token.encode()):
            return False
        self.token_seen.add(where)
        return True

    def token_entity(self) -> dict[str, Any]:
        """API::Entities::PersonalAccessToken for the one token (docs/gitlab.md)."""
        expires = self.created_at.date() + datetime.timedelta(days=365)
        created = self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"id": 1, "name": "selftest", "active": True, "revoked": False, "expired": False,
                "created_at": created, "scopes": self.scopes, "user_id": 1,
                "expires_at": expires.isoformat()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gitlab: SelftestGitLab

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass   # a client that hung up or failed TLS: nothing for the selftest to report


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    server_version = "selftest-gitlab"
    protocol_version = "HTTP/1.0"   # one request per connection; answers end with it

    @property
    def gitlab(self) -> SelftestGitLab:
        return self.server.gitlab

    def log_message(self, format: str, *args: Any) -> None:
        pass   # the selftest prints its own steps

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == _SELF_PATH and self.command == "GET":
            bearer = self.headers.get("Authorization", "")
            secret = self.headers.get("PRIVATE-TOKEN") or (
                bearer[len("Bearer "):] if bearer.startswith("Bearer ") else None)
            if not self.gitlab.accepts(secret, "api"):
                return self._send(401, b'{"message":"401 Unauthorized"}', _JSON)
            return self._send(200, json.dumps(self.gitlab.token_entity()).encode(), _JSON)
        match = _GIT_PATH.fullmatch(url.path)
        if match is None or ".." in match["repo"]:
            return self._send(404, b'{"message":"404 Not Found"}', _JSON)
        user, password = _basic_auth(self.headers.get("Authorization"))
        if not self.gitlab.accepts(password, "git"):
            return self._send(401, _DENIED, [*_TEXT, ("WWW-Authenticate", 'Basic realm="GitLab"')])
        what = match["what"]
        refs = what == "info/refs"
        service = parse_qs(url.query).get("service", [""])[0] if refs else what
        repo = self.gitlab.repo_root / f"{match['repo']}.git"
        if self.command != ("GET" if refs else "POST") or service not in _SERVICES \
                or not repo.is_dir():
            return self._send(404, b"The project you were looking for could not be found.\n",
                              _TEXT)
        self._backend(url.path, url.query, user or "")

    do_POST = do_GET

    def _backend(self, path: str, query: str, user: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding") or not 0 <= length <= _MAX_BODY:
            # git sends chunked bodies only past http.postBuffer (1 MiB): not in the selftest
            return self._send(411, b"Length Required\n", _TEXT)
        body = self.rfile.read(length)
        env = self.gitlab.base_env()
        env.update(GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1",
                   GIT_PROJECT_ROOT=str(self.gitlab.repo_root), GIT_HTTP_EXPORT_ALL="1",
                   REQUEST_METHOD=self.command, PATH_INFO=path, QUERY_STRING=query,
                   REMOTE_USER=user or "selftest", REMOTE_ADDR=self.client_address[0],
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)),
                   # the token was checked above; the backend refuses pushes unless told so
                   GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.receivepack",
                   GIT_CONFIG_VALUE_0="true")
        for header in ("Content-Encoding", "Git-Protocol"):
            if self.headers.get(header):
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        done = subprocess.run([self.gitlab.git, "http-backend"], input=body, env=env,
                              capture_output=True, cwd=self.gitlab.repo_root, timeout=120)
        head, sep, payload = done.stdout.partition(b"\r\n\r\n")
        if not sep:
            return self._send(502, b"502 Bad Gateway\n", _TEXT)
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self._send(status, payload, headers)

    def _send(self, status: int, body: bytes, headers: Iterable[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        user, sep, password = decoded.partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return (user, password) if sep else (None, None)
