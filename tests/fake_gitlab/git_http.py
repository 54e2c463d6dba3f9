"""Git smart HTTP, served by the real ``git http-backend`` as a CGI program.

The access decision is made here, from the URL alone and before the backend
runs (``auth.authorize_git``), as GitLab does in its controller; the backend
then only moves git data.  URL shapes, as on GitLab:

    GET  /group/project.git/info/refs?service=git-upload-pack|git-receive-pack
    POST /group/project.git/git-upload-pack
    POST /group/project.git/git-receive-pack

``/group/project/info/refs`` (without ``.git``) is redirected to the
``.git`` URL, which git follows; POSTs need the ``.git`` form.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Iterator, cast

from . import auth
from .state import GitLabState, Project
from .web import Request, Response, Router, not_found

__all__ = ["GitHttp", "install", "denial_response", "unauthorized_response"]

logger = logging.getLogger("tests.fake_gitlab")

_REPO_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+")
_CGI_HEADER_LIMIT = 64 * 1024


def unauthorized_response(request: Request) -> Response:
    """401 with GitLab's Basic challenge and plain-text explanation."""
    return Response.text(401, auth.access_denied_message(request.base_url),
                         [("WWW-Authenticate", 'Basic realm="GitLab"')])


def denial_response(request: Request, denial: auth.Denial) -> Response:
    if denial.status == 401:
        return unauthorized_response(request)
    return Response.text(denial.status, denial.message or "")


class GitHttp:
    """The git routes of one fake GitLab."""

    def __init__(self, state: GitLabState, *, git: str = "git", home: str | os.PathLike | None = None):
        self.state = state
        self.git = git
        # A HOME without any git configuration, so the user's ~/.gitconfig
        # cannot change how the backend behaves.
        self.home = Path(home) if home else state.repo_root

    def install(self, router: Router) -> None:
        router.add("GET", r"/(?P<repo>.+)/info/refs", self.info_refs)
        router.add("POST", r"/(?P<repo>.+)/(?P<service>git-upload-pack|git-receive-pack)", self.rpc)

    # --- routes -------------------------------------------------------------------

    def info_refs(self, request: Request, match: re.Match) -> Response:
        repo = match["repo"]
        service = request.query_first("service")
        if not repo.endswith(".git"):
            # GitLab redirects git clients to the .git URL (git follows the
            # redirect of this first request and uses the new base URL).
            if service in (auth.FETCH, auth.PUSH) and _REPO_PATH.fullmatch(repo):
                location = f"{request.base_url}/{repo}.git/info/refs?{request.query_string}"
                return Response.redirect(location)
            return not_found(request)
        # Without a service parameter the client wants the "dumb" protocol,
        # which GitLab does not offer: it fails the command check.
        command = service if service in (auth.FETCH, auth.PUSH) else "info-refs"
        return self._serve(request, repo[: -len(".git")], command, "info/refs")

    def rpc(self, request: Request, match: re.Match) -> Response:
        repo = match["repo"]
        if not repo.endswith(".git"):
            return not_found(request)
        return self._serve(request, repo[: -len(".git")], match["service"], match["service"])

    # --- the decision, then the backend ---------------------------------------------

    def _serve(self, request: Request, project_path: str, command: str, suffix: str) -> Response:
        project = self.state.find_project(project_path) if _REPO_PATH.fullmatch(project_path) else None
        identity, denial = auth.authorize_git(self.state, request.authorization, project, command)
        if denial is not None:
            return denial_response(request, denial)
        assert project is not None and identity is not None
        return self._run_backend(request, project, identity, f"/{project.path}.git/{suffix}",
                                 allow_push=command == auth.PUSH)

    def _environment(self, request: Request, project: Project, identity: auth.Identity,
                     path_info: str, allow_push: bool) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "fake-gitlab",
            "GIT_PROJECT_ROOT": str(self.state.repo_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": path_info,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.header("Content-Type") or "",
            "REMOTE_ADDR": str(request.client_address[0]),
            # http-backend refuses receive-pack unless told otherwise; the
            # decision was already made above, so state it explicitly.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true" if allow_push else "false",
        }
        if identity.username:
            env["REMOTE_USER"] = identity.username
        if request.body.length is not None:
            # Known length; for a chunked body it is left out and the backend
            # reads the de-chunked stream until EOF.
            env["CONTENT_LENGTH"] = str(request.body.length)
        for header, name in (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                             ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            value = request.header(header)
            if value:
                env[name] = value
        return env

    def _run_backend(self, request: Request, project: Project, identity: auth.Identity,
                     path_info: str, allow_push: bool) -> Response:
        env = self._environment(request, project, identity, path_info, allow_push)
        proc = subprocess.Popen([self.git, "http-backend"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                cwd=str(self.state.repo_root))
        # Three pipes; stdout is buffered (read1 below).
        assert proc.stdin is not None and proc.stderr is not None
        stdin, stderr = proc.stdin, proc.stderr
        stdout = cast(io.BufferedReader, proc.stdout)

        # Feed the body from its own thread: the backend may write output
        # (progress, results) before it has read all input, and two pipes
        # served by one thread can deadlock.
        def pump() -> None:
            try:
                for data in request.body.iter_chunks():
                    stdin.write(data)
            except Exception:  # client gone, backend exited early, bad chunking
                logger.debug("request body to git http-backend stopped", exc_info=True)
            finally:
                try:
                    stdin.close()
                except OSError:
                    pass

        errors: list[bytes] = []

        def drain_stderr() -> None:
            data = stderr.read()
            if data:
                errors.append(data[-8192:])

        threads = [threading.Thread(target=pump, daemon=True),
                   threading.Thread(target=drain_stderr, daemon=True)]
        for thread in threads:
            thread.start()

        def finish(kill: bool) -> None:
            if kill and proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for thread in threads:
                thread.join(timeout=5)
            stdout.close()
            stderr.close()
            if errors or proc.returncode:
                logger.debug("git http-backend exited %s: %s", proc.returncode,
                             b"".join(errors).decode("utf-8", "replace").strip())

        status, reason, headers = self._read_cgi_headers(proc)
        if status is None:
            finish(kill=True)
            return Response.text(502, "502 Bad Gateway")

        def stream() -> Iterator[bytes]:
            finished = False
            try:
                while True:
                    data = stdout.read1(65536)
                    if not data:
                        break
                    yield data
                finished = True
            finally:
                # Not finished: the client went away, stop the backend.
                finish(kill=not finished)

        return Response(status, headers, stream(), reason)

    @staticmethod
    def _read_cgi_headers(proc) -> tuple[int | None, str | None, list[tuple[str, str]]]:
        """Parse the CGI response head: ``Status:`` plus ordinary headers."""
        status, reason = 200, None
        headers: list[tuple[str, str]] = []
        size = 0
        while True:
            line = proc.stdout.readline(_CGI_HEADER_LIMIT)
            size += len(line)
            if not line or size > _CGI_HEADER_LIMIT:
                return None, None, []
            line = line.rstrip(b"\r\n").decode("latin-1")
            if not line:
                return status, reason, headers
            name, sep, value = line.partition(":")
            if not sep:
                continue
            name, value = name.strip(), value.strip()
            if name.lower() == "status":
                code, _, text = value.partition(" ")
                try:
                    status, reason = int(code), (text or None)
                except ValueError:
                    return None, None, []
            else:
                headers.append((name, value))


def install(app) -> GitHttp:
    """Register git routes on a FakeGitLab (its ``router`` and ``state``)."""
    git_http = GitHttp(app.state, git=app.git, home=app.home)
    git_http.install(app.router)
    return git_http
