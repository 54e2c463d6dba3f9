"""Reading and changing the user's git configuration for `credhelper setup git`, `add` and
`doctor`.

Helpers are configured per URL (``credential.https://HOST.helper``), never globally, so other
hosts keep whatever helpers the user has.  For its own hosts credhelper must be the *only*
helper: git hands every successful credential to every configured helper's ``store``, so a
``store`` or ``cache`` helper anywhere in the list keeps a copy of our token (docs/protocols.md,
"Storage helpers keep a copy").  git applies every matching ``credential.*`` entry in the order
it reads them, whatever the URL's specificity, and an empty ``helper =`` clears the list
collected so far; so the host's section must hold an empty reset followed by credhelper, and
come after every other helper entry that matches the host.  ``git config --global`` honours
``GIT_CONFIG_GLOBAL`` and ``HOME``, which is how tests and users relocate it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    Entry = tuple[str, str | None]    # (key as git prints it, value; None: no "=" at all)

HELPER_NAME = "gitlab"   # git runs `git credential-gitlab`, i.e. git-credential-gitlab on PATH
_EXECUTABLE = "git-credential-gitlab"
_TRUE = ("true", "yes", "on", "1")


def git(*args: str, check: bool = True, env: Mapping[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, env=env,
                              input=input, timeout=30)
    except FileNotFoundError:
        raise CredhelperError("git is not installed (or not on PATH)") from None
    if check and done.returncode not in (0, 1):  # 1: "key not found" for git config --get
        raise CredhelperError(_failure(args, done))
    return done


def _failure(args: Sequence[str], done: subprocess.CompletedProcess[str]) -> str:
    """git's own message on one line; when git said nothing, which command and its status.
    The arguments are config keys and helper names, never a credential (those go on stdin)."""
    said = "; ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
    return "git %s failed: %s" % (" ".join(args), said[:300] or "exit status %d"
                                  % done.returncode)


def helper_command() -> str:
    """How git should name our helper: the short name when git will find it on PATH,
    else the absolute path of the executable next to this Python (a venv or a checkout)."""
    found = shutil.which(_EXECUTABLE)
    if found:
        return HELPER_NAME
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), _EXECUTABLE)
    if os.access(beside, os.X_OK):
        return beside
    raise CredhelperError("git-credential-gitlab is not on PATH; run install.sh or add the "
                          "bin directory to PATH")


def global_file() -> str:
    """The file `git config --global` writes: ``GIT_CONFIG_GLOBAL``, else ~/.gitconfig,
    or git's XDG file when only that one exists."""
    named = os.environ.get("GIT_CONFIG_GLOBAL")
    if named:
        return named
    home = os.path.join(os.path.expanduser("~"), ".gitconfig")
    xdg = os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"),
                       "git", "config")
    return xdg if not os.path.exists(home) and os.path.exists(xdg) else home


def is_ours(helper: str) -> bool:
    return helper == HELPER_NAME or os.path.basename(helper) == _EXECUTABLE


def helpers_for(host: str) -> list[str]:
    """The helper values configured for exactly ``https://HOST`` in the global config."""
    done = git("config", "--global", "--get-all", "credential.https://%s.helper" % host)
    return done.stdout.splitlines()


def config_entries(*scope: str) -> list[Entry]:
    """Every ``credential.*`` entry git reads (from the files ``scope`` selects; by default
    all of them, includes followed), in the order git reads them."""
    done = git("config", *scope, "-z", "--get-regexp", r"^credential\.")
    entries: list[Entry] = []
    for item in done.stdout.split("\0"):
        if item:
            key, newline, value = item.partition("\n")
            entries.append((key, value if newline else None))
    return entries


def _split_key(key: str) -> tuple[str | None, str]:
    """``credential.URL.NAME`` as (URL, NAME); ``credential.NAME`` as (None, NAME)."""
    rest = key[len("credential."):]
    url, dot, name = rest.rpartition(".")
    return (url if dot else None), name.lower()


def applies_to(url: str | None, host: str) -> bool:
    """Does a ``credential.URL.*`` entry apply to git's host-wide requests for ``https://HOST``?

    git's urlmatch rules (git-config(1), "credential.<url>.*"), as git 2.39 applies them
    (tests/test_git_setup.py compares with git itself): the scheme, the host (a label ``*``
    matches any one label) and the port must match, the default port counts as given; a URL
    without a scheme matches any scheme.  An entry naming a path or a user applies only to
    requests with that path or user, so not to host-wide ones.
    """
    if url is None:
        return True
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "https", url
    authority, slash, path = rest.partition("/")
    if scheme.lower() != "https" or path.strip("/") or "@" in authority:
        return False
    return _host_matches(authority, host)


def _host_matches(pattern: str, host: str) -> bool:
    want_name, want_port = _name_and_port(pattern.lower())
    name, port = _name_and_port(host.lower())
    labels, wanted = name.split("."), want_name.split(".")
    if port != want_port or len(labels) != len(wanted):
        return False
    return all(w in ("*", label) for w, label in zip(wanted, labels, strict=True))


def _name_and_port(authority: str) -> tuple[str, str]:
    if authority.startswith("["):                      # [IPv6]:port
        name, _, rest = authority.partition("]")
        return name + "]", rest[1:] or "443"
    name, colon, port = authority.rpartition(":")
    return (name, port or "443") if colon else (authority, "443")


def effective_helpers(host: str, entries: Sequence[Entry]) -> list[str]:
    """The helpers git asks, and hands the credential to, for ``https://HOST``."""
    helpers: list[str] = []
    for key, value in entries:
        url, name = _split_key(key)
        if name == "helper" and applies_to(url, host):
            if value:
                helpers.append(value)
            else:
                helpers.clear()             # an empty helper = drops every earlier helper
    return helpers


def sends_path(host: str, entries: Sequence[Entry]) -> bool:
    """Does git send the repository path to helpers for ``https://HOST`` (useHttpPath)?
    The last matching entry wins, as git applies them in order."""
    value: str | None = "false"
    for key, raw in entries:
        url, name = _split_key(key)
        if name == "usehttppath" and applies_to(url, host):
            value = raw
    return value is None or value.lower() in _TRUE    # a bare "useHttpPath" means true


def configure(host: str, use_http_path: bool = False) -> list[str]:
    """Make credhelper the only helper git asks for ``https://HOST``; returns what changed."""
    from credhelper.clientconfig import written

    section = "credential.https://%s" % host
    command = helper_command()
    entries = config_entries("--global", "--includes")
    changes = []
    before = helpers_for(host)
    if before != ["", command] or effective_helpers(host, entries) != [command]:
        written.note_git(host, created_file=_create_global_file(),
                         helpers=[h for h in before if h and not is_ours(h)])
        _rewrite_section(section, command)
        changes.append("%s.helper = %s, after an empty helper = that drops every other "
                       "helper for %s" % (section, command, host))
    if use_http_path and not sends_path(host, config_entries("--global", "--includes")):
        git("config", "--global", section + ".useHttpPath", "true")
        written.note_git(host, use_http_path=True)
        changes.append("%s.useHttpPath = true (tokens here are told apart by path)" % section)
    return changes


def _create_global_file() -> bool:
    """Create the missing global file as 0644 at most: git would create it with whatever the
    umask allows, 0666 under umask 000, and anyone who can write it chooses git's helpers.
    git keeps the mode when it rewrites the file.  Returns whether it was created."""
    try:
        os.close(os.open(global_file(), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    except OSError:
        return False            # git says why when it writes
    return True


def _rewrite_section(section: str, command: str) -> None:
    """Write ``section`` anew at the end of the global file, with the reset and credhelper
    first: entries read after it could otherwise add a helper again.  Its other keys (such
    as useHttpPath) are kept."""
    own = [(key, value) for key, value in config_entries("--global")
           if key.rpartition(".")[0] == section]
    if own:
        git("config", "--global", "--remove-section", section)
    git("config", "--global", "--add", section + ".helper", "")
    git("config", "--global", "--add", section + ".helper", command)
    for key, value in own:
        if _split_key(key)[1] != "helper":
            git("config", "--global", "--add", key, "true" if value is None else value)


def ensure_use_http_path(host: str) -> str | None:
    """After a token for one path of ``host`` was added: if git is set up for the host, make
    it send the repository path, or else the token is never chosen by its path
    (docs/protocols.md).  Returns what was done or what to run; None if nothing was needed."""
    key = "credential.https://%s.useHttpPath" % host
    try:
        entries = config_entries("--global", "--includes")
        if not any(is_ours(h) for h in effective_helpers(host, entries)) \
                or sends_path(host, entries):
            return None
        git("config", "--global", key, "true")
        from credhelper.clientconfig import written

        written.note_git(host, use_http_path=True)
    except CredhelperError as error:
        return ("git does not send repository paths for %s, so it cannot choose this token "
                "by its path; run: git config --global %s true (%s)" % (host, key, error))
    return "%s = true: git now sends the repository path, so tokens for %s are chosen by " \
        "path" % (key, host)


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
