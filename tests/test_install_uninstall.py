"""`./install.sh --uninstall` for real (issue 13, item 3): after install.sh and an `add` that set
git up, it leaves ~/.gitconfig and docker's config.json byte for byte as they were, removes
what install.sh put in place, and git names no helper that is gone.  The venv borrows the test
venv's dependencies (as in tests/test_readme_steps.py), so nothing is downloaded."""

import os
import subprocess
import sys
from pathlib import Path

from credhelper.daemon.server import live_pid
from credhelper.local import compact
from tests.test_daemon import alive, wait_until
from tests.test_logout import DOCKER, GITCONFIG, REGISTRY

ROOT = Path(__file__).resolve().parent.parent


def _run(args, env, input=""):
    return subprocess.run(args, env=env, input=input, capture_output=True, text=True,
                          timeout=540)


def test_install_then_uninstall_leaves_the_users_files_as_they_were(gitlab, tmp_path, home):
    (home / ".gitconfig").write_text(GITCONFIG)
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(DOCKER)
    before = [(home / name).read_bytes() for name in (".gitconfig", ".docker/config.json")]
    venv, bindir = tmp_path / "venv", home / "bin"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    # only the installed executables on PATH, not the test venv's
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if p != os.path.dirname(sys.executable))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, CREDHELPER_VENV=str(venv), CREDHELPER_BIN=str(bindir),
               PATH="%s%s%s" % (bindir, os.pathsep, path), XDG_RUNTIME_DIR=str(runtime))
    installed = _run(["bash", str(ROOT / "install.sh")], env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # git's helper is the warm daemon's client; a get with no daemon starts one
    assert (venv / "bin" / "git-credential-gitlab").read_text().startswith("#!/bin/bash -p\n")
    first = _start_daemon(env, runtime)
    token = gitlab.state.create_pat("alice", ["api"])
    added = _run(["credhelper", "add", "other.example.com", "--no-check", "--registry",
                  REGISTRY], env, token.token)
    assert "~/.gitconfig: " in added.stdout, added.stdout + added.stderr
    assert "~/.docker/config.json: " in added.stdout
    # data from a version without the compact copies: re-running install.sh (an upgrade)
    # writes them, so git's get takes the fast path again (credhelper/local/compact.py)
    (data,) = [path.parent for path in home.rglob("tokens.json")]
    for name in ("tokens.index", "secrets.index"):
        (data / name).unlink()
    upgraded = _run(["bash", str(ROOT / "install.sh")], env)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    wait_until(lambda: not alive(first), "the upgrade stops the old daemon")
    second = _start_daemon(env, runtime)
    assert compact.tokens_fresh(str(data)) and compact.secrets_fresh(str(data))

    done = _run(["bash", str(ROOT / "install.sh"), "--uninstall", "--keep"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: not alive(second), "the uninstall stops the daemon")
    assert [(home / name).read_bytes() for name in (".gitconfig", ".docker/config.json")] \
        == before
    assert not venv.exists() and not (bindir / "git-credential-gitlab").exists()
    assert not (home / ".terraform.d" / "plugins" / "terraform-credentials-gitlab").exists()
    assert not (home / ".local" / "share" / "man" / "man1" / "credhelper.1").exists()
    assert "Kept 1 token(s)" in done.stdout and not token.revoked
    fill = _run(["git", "credential", "fill"], env, "protocol=https\nhost=other.example.com\n\n")
    assert "is not a git command" not in fill.stderr and "credential-gitlab" not in fill.stderr


def _start_daemon(env, runtime):
    nothing = _run(["git-credential-gitlab", "get"], env, "protocol=https\nhost=none.test\n\n")
    assert (nothing.returncode, nothing.stdout) == (0, ""), nothing.stderr
    wait_until(lambda: live_pid(str(runtime)) is not None, "a daemon")
    return live_pid(str(runtime))


def test_uninstall_options_need_uninstall(tmp_path):
    done = _run(["bash", str(ROOT / "install.sh"), "--revoke"], dict(os.environ))
    assert done.returncode == 2 and "goes with --uninstall" in done.stderr
