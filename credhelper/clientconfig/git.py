"""Reading and changing the user's git configuration for `credhelper setup git` and `doctor`.

Helpers are configured per URL (``credential.https://HOST.helper``), never globally, so other
hosts keep whatever helpers the user has.  ``git config --global`` honours ``GIT_CONFIG_GLOBAL``
and ``HOME``, which is how tests and users relocate it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

HELPER_NAME = "gitlab"   # git runs `git credential-gitlab`, i.e. git-credential-gitlab on PATH


def git(*args: str, check: bool = True, env: Mapping[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, env=env,
                              input=input, timeout=30)
    except FileNotFoundError:
        raise CredhelperError("git is not installed (or not on PATH)") from None
    if check and done.returncode not in (0, 1):  # 1: "key not found" for git config --get
        raise CredhelperError("git %s failed: %s" % (args[0], done.stderr.strip()[:300]))
    return done


def helper_command() -> str:
    """How git should name our helper: the short name when git will find it on PATH,
    else the absolute path of the executable next to this Python (a venv or a checkout)."""
    found = shutil.which("git-credential-gitlab")
    if found:
        return HELPER_NAME
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "git-credential-gitlab")
    if os.access(beside, os.X_OK):
        return beside
    raise CredhelperError("git-credential-gitlab is not on PATH; run install.sh or add the "
                          "bin directory to PATH")


def helpers_for(host: str) -> list[str]:
    """The helper values configured for exactly ``https://HOST`` in the global config."""
    done = git("config", "--global", "--get-all", "credential.https://%s.helper" % host)
    return done.stdout.splitlines()


def configure(host: str, reset_others: bool = False, use_http_path: bool = False) -> list[str]:
    """Make git ask credhelper for ``https://HOST``; returns a list of what changed."""
    key = "credential.https://%s.helper" % host
    command = helper_command()
    current = helpers_for(host)
    changes = []
    if reset_others:
        wanted = ["", command]
        if current != wanted:
            git("config", "--global", "--unset-all", key)
            git("config", "--global", "--add", key, "")
            git("config", "--global", "--add", key, command)
            changes.append("%s = (reset), %s" % (key, command))
    elif command not in current:
        git("config", "--global", "--add", key, command)
        changes.append("%s = %s" % (key, command))
    path_key = "credential.https://%s.useHttpPath" % host
    if use_http_path and git("config", "--global", "--get", path_key).stdout.strip() != "true":
        git("config", "--global", path_key, "true")
        changes.append("%s = true (tokens here are told apart by path)" % path_key)
    return changes


def fill(host: str, path: str | None = None) -> tuple[str | None, str | None] | None:
    """Ask git itself for a credential for ``https://HOST`` with no prompts, as a clone would.

    Returns (username, password) or None; the caller compares, never prints, the password.
    """
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", SSH_ASKPASS="")
    env.pop("DISPLAY", None)
    request = "protocol=https\nhost=%s\n%s\n" % (host, "path=%s\n" % path if path else "")
    done = git("credential", "fill", check=False, env=env, input=request)
    if done.returncode != 0:
        return None
    answer = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return answer.get("username"), answer.get("password")
