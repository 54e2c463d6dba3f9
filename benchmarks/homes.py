"""The benchmark's scenarios: one throwaway HOME each, its tokens registered through the
installed `credhelper add` (checked with the fake GitLab's API now, next check a day away), and
the command to time with the stdin git or docker would give it.

Every command is run once here and must answer with the token; a scenario that does not
stops the benchmark rather than timing a failure."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.installed import Install, _path_without_venvs

REGISTRY = "registry.example.test"
PROJECT = "bench/app"


class Scenario:
    """A command as git (or docker, or a person) runs it: argv, environment and stdin."""

    def __init__(self, argv: list[str], env: dict[str, str], stdin: bytes = b"",
                 expect: bytes | None = None, children: bool = False) -> None:
        self.argv, self.env, self.stdin = argv, env, stdin
        self.expect = expect          # what its output must hold
        self.children = children      # count its child processes' instructions too

    def run(self) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.argv, input=self.stdin, env=self.env, capture_output=True,
                              timeout=120)

    def check(self, name: str) -> bytes:
        done = self.run()
        if done.returncode != 0 or (self.expect is not None and self.expect not in done.stdout):
            sys.exit("%s: %s answered %d without the expected output; cannot benchmark:\n%s"
                     % (name, os.path.basename(self.argv[0]), done.returncode,
                        done.stderr.decode(errors="replace")[-2000:]))
        return done.stdout


class Homes:
    """Makes the HOMEs under ``work`` for one install and one fake GitLab."""

    def __init__(self, work: str, install: Install, gitlab, bus_env: dict[str, str]) -> None:
        self.work, self.install, self.gitlab = work, install, gitlab
        self.bus = bus_env["DBUS_SESSION_BUS_ADDRESS"]
        self.host = "gitlab.example.com:%d" % gitlab.port
        self.request = ("protocol=https\nhost=%s\n\n" % self.host).encode()
        self.made: list[dict[str, str]] = []     # every HOME's environment, for its daemon
        gitlab.state.add_project(PROJECT, members={"bench": "developer"})

    def environment(self, name: str, **extra: str) -> dict[str, str]:
        """A HOME of its own, and a private XDG_RUNTIME_DIR as a Linux session gives one: the
        bash client then asks the HOME's warm daemon."""
        home = os.path.join(self.work, "homes", name)
        os.makedirs(home, mode=0o700)
        runtime = os.path.join(self.work, "runtime", name)
        for directory in (os.path.dirname(runtime), runtime):
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)     # not the umask's: the daemon refuses a shared one
        env = {"PATH": self.install.bin + os.pathsep + _path_without_venvs(), "HOME": home,
               "LANG": "C.UTF-8", "XDG_CONFIG_HOME": os.path.join(home, ".config"),
               "XDG_DATA_HOME": os.path.join(home, ".local/share"),
               "XDG_STATE_HOME": os.path.join(home, ".local/state"),
               "XDG_CACHE_HOME": os.path.join(home, ".cache"), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_TERMINAL_PROMPT": "0", "GIT_SSL_CAINFO": self.gitlab.ca.ca_file,
               "XDG_RUNTIME_DIR": runtime}
        env.update(extra)
        self.made.append(env)
        return env

    def new_token(self) -> str:
        return self.gitlab.state.create_pat("bench", ["api"]).token

    def registered(self, name: str, store: str = "file", **extra: str) -> tuple[dict, str]:
        """A HOME with one fresh token for the fake GitLab, added (and git and docker set up
        for it) by the installed `credhelper add`; returns its environment and the token."""
        env = self.environment(name, **extra)
        config = os.path.join(env["XDG_CONFIG_HOME"], "credhelper", "config.toml")
        os.makedirs(os.path.dirname(config))
        with open(config, "w") as handle:
            handle.write('[hosts."%s"]\napi_url = "https://localhost:%d/api/v4"\n'
                         'ca_file = "%s"\nallow_api_origin = "https://localhost:%d"\n'
                         % (self.host, self.gitlab.port, self.gitlab.ca.ca_file,
                            self.gitlab.port))
        token = self.new_token()
        subprocess.run([self.install.tool("credhelper"), "add", self.host, "--registry",
                        REGISTRY], input=token.encode(), env=dict(env, CREDHELPER_STORE=store),
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        return env, token

    def helper(self, env: dict[str, str], action: str = "get",
               tool: str = "") -> Scenario:
        """git-credential-gitlab (the bash client, which its daemon answers), or ``tool``
        (the Python launcher alone); children counted: a client that fell back to the
        launcher would show it."""
        argv = [tool or self.install.tool("git-credential-gitlab"), action]
        return Scenario(argv, env, self.request,
                        expect=b"password=glpat-" if action == "get" else None, children=True)

    def launcher(self, env: dict[str, str]) -> Scenario:
        """The Python launcher alone: what the client runs when it cannot ask a daemon."""
        return self.helper(env, tool=self.install.venv_tool("git-credential-gitlab-python"))

    def served_again(self, env: dict[str, str]) -> Scenario:
        """The `store` git sends after the credential `get` gave it worked: the same fields
        back, with protocol and host."""
        answer = self.helper(env).check("get before store")
        fields = [line for line in answer.decode().splitlines()
                  if line and not line.startswith(("protocol=", "host="))]
        stdin = "protocol=https\nhost=%s\n%s\n\n" % (self.host, "\n".join(fields))
        store = Scenario([self.install.tool("git-credential-gitlab"), "store"], env,
                         stdin.encode(), children=True)
        before = _data_files(env)
        store.check("store")
        if _data_files(env) != before:
            sys.exit("store of the credential just served changed credhelper's files: it is "
                     "not the no-op this row measures; cannot benchmark")
        return store

    def docker(self, env: dict[str, str]) -> Scenario:
        return Scenario([self.install.tool("docker-credential-gitlab"), "get"], env,
                        REGISTRY.encode(), expect=b'"Secret"')

    def floor(self, env: dict[str, str]) -> Scenario:
        return Scenario([self.install.python, "-I", "-c", "pass"], env)

    def add_other_hosts(self, env: dict[str, str], count: int) -> None:
        """``count`` more tokens, each for a host of its own, registered before the one that
        is served (the worst place for it), written by the installed credhelper's own
        TokenIndex and FileStore: tokens.json, secrets.json and both compact copies."""
        secrets = "\n".join(self.new_token() for _ in range(count))
        subprocess.run([self.install.python, "-I", "-c", _ADD_OTHERS], input=secrets.encode(),
                       env=env, check=True, timeout=120)

    def ls_remote(self, env: dict[str, str], runtime_dir: bool = True) -> Scenario:
        """``runtime_dir=False``: without XDG_RUNTIME_DIR, where the client execs the
        launcher (a user without a session's runtime directory)."""
        if not runtime_dir:
            env = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
        argv = ["git", *self.gitlab.git_config_args(), "ls-remote",
                "https://%s/%s.git" % (self.host, PROJECT)]
        return Scenario(argv, env, expect=b"refs/heads/main", children=True)

    def credential_store(self, token: str) -> dict[str, str]:
        """A HOME where git's own `credential-store` holds the same token."""
        env = self.environment("git-credential-store")
        credentials = os.path.join(env["HOME"], ".git-credentials")
        with open(credentials, "w") as handle:
            handle.write("https://oauth2:%s@%s\n" % (token, self.host))
        os.chmod(credentials, 0o600)
        with open(os.path.join(env["HOME"], ".gitconfig"), "w") as handle:
            handle.write("[credential]\n\thelper = store\n")
        return env


def _data_files(env: dict[str, str]) -> dict[str, bytes]:
    """credhelper's data files in a HOME, by name."""
    directory = os.path.join(env["XDG_DATA_HOME"], "credhelper")
    found = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                found[name] = handle.read()
    return found


# Run by the installed python: the records of other hosts are copies of the served one with
# their own id, host and secret (what `add` would write for them, without 1000 API checks).
_ADD_OTHERS = """
import sys
from credhelper.local.files import FileLock
from credhelper.local.token_index import TokenIndex
from credhelper.stores.file import FileStore

secrets = sys.stdin.read().split()
ids = ["bench%04d" % n for n in range(len(secrets))]
index = TokenIndex()
with index.lock():
    records = index.load()
    served = records[0]
    others = [served.replace(id=i, host="host%s.example.test" % i[5:], registry=None)
              for i in ids]
    index.save(others + records)
store = FileStore(index.directory)
with FileLock(store.path + ".lock"):   # one write for all, as set() would make a thousand
    known = store._load()
    known.update(zip(ids, secrets))
    store._write(known)
"""
