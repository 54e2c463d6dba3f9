"""`credhelper selftest`: show the whole chain working on this machine, touching nothing of
the user's.  It starts a small GitLab stand-in (credhelper.selftest.server) over HTTPS with a
throwaway CA (credhelper.selftest.tls), registers a fresh token with `credhelper add`, points a
throwaway git config at the helper with `credhelper setup git`, and has the real git clone and
push with no prompt.  The test suite's full fake GitLab (tests/fake_gitlab) is not installed."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PROJECT = "demo/hello"


def run(say: Callable[[str], object] = print) -> None:
    from credhelper.selftest.server import SelftestGitLab
    from credhelper.selftest.tls import TestCA

    if shutil.which("git") is None:
        raise CredhelperError("git is not installed")
    bin_dir = _bin_dir()
    work = tempfile.mkdtemp(prefix="credhelper-selftest-")
    try:
        ca = TestCA(os.path.join(work, "tls"), names=["gitlab.example.com"])
        token = "glpat-" + secrets.token_urlsafe(15)   # GitLab's legacy PAT shape
        with SelftestGitLab(os.path.join(work, "gitlab"), ca, token) as gitlab:
            port = gitlab.port
            assert port is not None, "the stand-in listens once entered"
            host = "gitlab.example.com:%d" % port
            gitlab.add_project(PROJECT)
            say("1. fake GitLab listening at https://%s (a throwaway CA)" % host)
            env = _isolated_env(work, bin_dir, ca.ca_file)
            # git reaches the server by name (curloptResolve); the API is asked as localhost
            config = os.path.join(env["XDG_CONFIG_HOME"], "credhelper", "config.toml")
            os.makedirs(os.path.dirname(config))
            with open(config, "w") as handle:
                handle.write('[hosts."%s"]\napi_url = "https://localhost:%d/api/v4"\n'
                             'allow_api_origin = "https://localhost:%d"\nca_file = "%s"\n'
                             % (host, port, port, ca.ca_file))
            added = step(env, [os.path.join(bin_dir, "credhelper"), "add", host], token + "\n")
            if "The server says" not in added.stdout:
                raise CredhelperError("the token could not be checked with the API")
            say("2. credhelper add %s   (token read from stdin, checked with the API)" % host)
            step(env, [os.path.join(bin_dir, "credhelper"), "setup", "git", host])
            say("3. credhelper setup git %s" % host)
            resolve = ["-c", "http.curloptResolve=%s:127.0.0.1" % host]
            checkout = os.path.join(work, "clone")
            step(env, ["git", *resolve, "clone", "-q", "https://%s/%s.git" % (host, PROJECT),
                       checkout])
            say("4. git clone https://%s/%s.git   (no prompt: the helper answered)"
                % (host, PROJECT))
            with open(os.path.join(checkout, "selftest.txt"), "w") as handle:
                handle.write("pushed by credhelper selftest\n")
            step(env, ["git", "-C", checkout, "add", "selftest.txt"])
            step(env, ["git", "-C", checkout, "-c", "user.name=selftest", "-c",
                       "user.email=selftest@example.com", "commit", "-qm", "selftest"])
            step(env, ["git", "-C", checkout, *resolve, "push", "-q", "origin", "HEAD:main"])
            say("5. git push   (accepted by the server with the same token)")
            if "git" not in gitlab.token_seen:
                raise CredhelperError("the server never saw the token; the helper was not used")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say("selftest passed: git got its credential from credhelper over HTTPS")


def step(env: dict[str, str], argv: list[str], stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                          timeout=120)
    if done.returncode != 0:
        from credhelper.rules.redact import scrub

        detail = scrub((done.stderr or done.stdout).strip().splitlines()[-1:][0]
                       if (done.stderr or done.stdout).strip() else "no output")
        raise CredhelperError("selftest failed at `%s`: %s" % (" ".join(argv[:3]), detail))
    return done


def _bin_dir() -> str:
    """Where our executables are: next to this interpreter (a venv) or the checkout's bin/."""
    for directory in (os.path.dirname(sys.executable),
                      os.path.join(os.path.dirname(os.path.dirname(__file__)), "bin")):
        if os.access(os.path.join(directory, "git-credential-gitlab"), os.X_OK):
            return directory
    raise CredhelperError("git-credential-gitlab not found next to %s" % sys.executable)


def _isolated_env(work: str, bin_dir: str, ca_file: str) -> dict[str, str]:
    home = os.path.join(work, "home")
    os.makedirs(home)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CI_", "CREDHELPER_", "GIT_", "XDG_"))}
    env.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_DATA_HOME=os.path.join(home, ".local/share"),
               XDG_STATE_HOME=os.path.join(home, ".local/state"),
               GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_SSL_CAINFO=ca_file,
               CREDHELPER_STORE="file", PATH=bin_dir + os.pathsep + env.get("PATH", ""))
    return env
