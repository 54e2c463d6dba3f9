"""A credhelper installed the way users get it: the project's own install.sh, run into a
throwaway HOME, so the figures are those of the interpreter and launchers install.sh makes
(the development venv's .pth files import re and enum into its very floor)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import select
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# install.sh reads these; the benchmark's own (or the user's) must not steer where it installs
_STEERING = ("CREDHELPER_VENV", "CREDHELPER_BIN", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
             "XDG_STATE_HOME", "XDG_CACHE_HOME", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")


class Install:
    """Where install.sh put credhelper under ``directory``: ``src`` (the checkout it ran from),
    ``home`` (its HOME), the venv and the bin directory with the launchers."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self.src = os.path.join(self.directory, "src")
        self.home = os.path.join(self.directory, "home")
        self.venv = os.path.join(self.home, ".local", "share", "credhelper-venv")
        self.bin = os.path.join(self.home, "bin")
        self.python = os.path.join(self.venv, "bin", "python")
        self.stamp = os.path.join(self.directory, "source.txt")

    def tool(self, name: str) -> str:
        return os.path.join(self.bin, name)

    def venv_tool(self, name: str) -> str:
        """An executable install.sh wrote but did not link onto PATH (the Python launcher
        git-credential-gitlab-python, credhelper-daemon)."""
        return os.path.join(self.venv, "bin", name)

    def install_id(self) -> str:
        """The id install.sh wrote into the bash client: a daemon started with another one
        retires at its first request."""
        with open(self.venv_tool("git-credential-gitlab")) as handle:
            for line in handle:
                if line.startswith("id="):
                    return shlex.split(line[3:])[0]
        sys.exit("git-credential-gitlab is not the daemon's client: no warm daemon to measure")

    def daemon_pid(self, env: dict[str, str], wait: float = 0.0) -> int | None:
        """The live daemon serving ``env``'s XDG_RUNTIME_DIR, by the installed credhelper's own
        test (``live_pid``, the client's), waiting up to ``wait`` seconds for one to start."""
        done = subprocess.run([self.python, "-I", "-c", _LIVE_PID, env["XDG_RUNTIME_DIR"],
                               str(wait)], env=env, capture_output=True, text=True,
                              timeout=wait + 60)
        if done.returncode != 0:
            sys.exit("live_pid failed: %s" % done.stderr[-2000:])
        return int(done.stdout) if done.stdout.strip() else None

    def stop_daemon(self, env: dict[str, str], timeout: float = 30.0) -> None:
        """``credhelper-daemon --stop``, then wait until the process is gone (a pidfd: it
        is no child of ours, the client started it with setsid)."""
        pid = self.daemon_pid(env)
        if pid is None:
            return
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            subprocess.run([self.venv_tool("credhelper-daemon"), "--stop"], env=env,
                           check=True, capture_output=True, timeout=60)
            if not select.select([pidfd], [], [], timeout)[0]:
                sys.exit("the daemon %d did not retire within %.0f s" % (pid, timeout))
        finally:
            os.close(pidfd)

    def exists(self) -> bool:
        return all(os.access(p, os.X_OK) for p in (
            self.python, self.tool("git-credential-gitlab"), self.tool("credhelper"),
            self.tool("docker-credential-gitlab")))

    def source(self) -> str | None:
        """What install.sh installed from (written once it succeeded), or None."""
        try:
            with open(self.stamp) as handle:
                return handle.read().strip()
        except OSError:
            return None

    def describe(self) -> str:
        """The interpreter measured: the venv's python, its version and the one it was made
        from (pyvenv.cfg), and what it was installed from."""
        done = subprocess.run([self.python, "-I", "-c", "import sys; print(sys.version)"],
                              capture_output=True, text=True, check=True)
        base = _pyvenv_value(os.path.join(self.venv, "pyvenv.cfg"), "executable") or \
            _pyvenv_value(os.path.join(self.venv, "pyvenv.cfg"), "home") or "?"
        return "%s (Python %s; venv made by install.sh from %s, installed from %s)" % (
            self.python, done.stdout.split()[0], base, self.source())


def _pyvenv_value(path: str, key: str) -> str | None:
    try:
        with open(path) as handle:
            for line in handle:
                name, _, value = line.partition("=")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def install(directory: str, *, working_tree: bool = False, reuse: bool = False,
            python: str | None = None) -> Install:
    """Run install.sh from a copy of this checkout into ``directory``, fresh.  The copy is
    ``git archive HEAD`` unless ``working_tree``: the committed code, not whatever is being
    edited.  With ``reuse``, an install there of the very same source is used as it is, and
    one of other source is upgraded in place by re-running install.sh (as a user would)."""
    target = Install(directory)
    os.makedirs(os.path.dirname(target.directory), exist_ok=True)
    with open(target.directory + ".lock", "w") as lock:   # one install at a time in DIR
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install(target, working_tree, reuse, python)


def _install(target: Install, working_tree: bool, reuse: bool, python: str | None) -> Install:
    source = _source(working_tree) + (" with PYTHON=%s" % python if python else "")
    if reuse and target.exists() and target.source() == source:
        return target
    if not reuse:
        shutil.rmtree(target.directory, ignore_errors=True)
    shutil.rmtree(target.src, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target.stamp)
    os.makedirs(target.src)
    os.makedirs(target.home, mode=0o700, exist_ok=True)
    _copy_checkout(target.src, working_tree)
    env = {k: v for k, v in os.environ.items()
           if k not in _STEERING and not k.startswith("CREDHELPER_")}
    env.update(HOME=target.home, CREDHELPER_BIN=target.bin, PATH=_path_without_venvs())
    if python:
        env["PYTHON"] = python
    done = subprocess.run(["bash", os.path.join(target.src, "install.sh")], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0 or not target.exists():
        sys.exit("install.sh failed (%d):\n%s%s" % (done.returncode, done.stdout[-3000:],
                                                    done.stderr[-3000:]))
    with open(target.stamp, "w") as handle:    # only once install.sh succeeded
        handle.write(source + "\n")
    return target


def _source(working_tree: bool) -> str:
    """What an install is made from: HEAD's commit, or a digest of the working tree's files."""
    head = _git("rev-parse", "HEAD").strip()
    if not working_tree:
        return "HEAD %s" % head[:12]
    digest = hashlib.sha256()
    for name in _tree_files():
        digest.update(name.encode() + b"\0")
        with open(os.path.join(ROOT, name), "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return "the working tree on %s (files %s)" % (head[:12], digest.hexdigest()[:12])


def _tree_files() -> list[str]:
    """Tracked and untracked files that are not ignored, as they are on disk now."""
    return sorted(n for n in _git("ls-files", "-co", "--exclude-standard", "-z").split("\0")
                  if n and os.path.isfile(os.path.join(ROOT, n)))


def _copy_checkout(destination: str, working_tree: bool) -> None:
    if not working_tree:
        archive = subprocess.Popen(["git", "-C", ROOT, "archive", "HEAD"], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", destination], stdin=archive.stdout, check=True)
        archive.stdout.close()   # type: ignore[union-attr]
        if archive.wait() != 0:
            sys.exit("git archive HEAD failed")
        return
    for name in _tree_files():
        target = os.path.join(destination, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), target)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                          check=True).stdout


def _path_without_venvs() -> str:
    """PATH without virtual environments' bin directories: install.sh must pick the python3 a
    user has, not the development venv's (a test runs with that first on PATH)."""
    entries = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    kept = [e for e in entries
            if e and not os.path.exists(os.path.join(os.path.dirname(e), "pyvenv.cfg"))]
    return os.pathsep.join(kept)


# Run by the installed python: poll the client's own liveness test until a deadline (the
# daemon is started in the background by the client, with setsid: nothing to wait on).
_LIVE_PID = """
import sys, time
from credhelper.daemon.server import live_pid
deadline = time.monotonic() + float(sys.argv[2])
while (pid := live_pid(sys.argv[1])) is None and time.monotonic() < deadline:
    time.sleep(0.01)
print(pid or "")
"""
