"""Simulated machines of a fleet for the OpenBao tests: each one a HOME of its own (config,
index, file store, lock files, machine id) whose commands run as separate processes on the
test's shared clock (fleet_machine.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


class Clock:
    """The simulated time: the fake GitLab's clock and every machine's, moved together."""

    def __init__(self, gitlab) -> None:
        self.gitlab = gitlab
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.gitlab.state.advance(seconds)

    def reset(self) -> None:
        self.gitlab.state.set_clock(None)
        self.offset = 0.0


class Machine:
    def __init__(self, root: Path, name: str, gitlab, clock: Clock) -> None:
        self.name = name
        self.home = root / name
        self.clock = clock
        self.extra_env: dict[str, str] = {}        # e.g. a CI job's ID token
        self.home.mkdir(parents=True)
        config = self.home / ".config" / "credhelper" / "config.toml"
        config.parent.mkdir(parents=True)
        self.host = "gitlab.example.com:%d" % gitlab.port
        config.write_text('[hosts."%s"]\napi_url = "https://localhost:%d/api/v4"\n'
                          'ca_file = "%s"\nallow_api_origin = "https://localhost:%d"\n'
                          % (self.host, gitlab.port, gitlab.ca.ca_file, gitlab.port))

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"),
                   XDG_DATA_HOME=str(self.home / ".local/share"),
                   XDG_STATE_HOME=str(self.home / ".local/state"),
                   XDG_CACHE_HOME=str(self.home / ".cache"), CREDHELPER_STORE="file",
                   FLEET_CLOCK_OFFSET=repr(self.clock.offset), PYTHONPATH=str(ROOT))
        env.pop("CREDHELPER_FAILPOINT", None)
        env.update(self.extra_env)
        env.update(extra)
        return env

    def popen(self, program: str, *args: str, failpoint: str | None = None
              ) -> subprocess.Popen[str]:
        extra = {"CREDHELPER_FAILPOINT": failpoint} if failpoint else {}
        return subprocess.Popen([sys.executable, "-m", "tests.support.fleet_machine", program,
                                 *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env(**extra),
                                cwd=ROOT)

    def run(self, program: str, *args: str, input: str = "", check: bool = True,
            failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
        process = self.popen(program, *args, failpoint=failpoint)
        out, err = process.communicate(input, timeout=120)
        done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        if check and done.returncode != 0:
            raise AssertionError("%s %s on %s failed (%d): %s%s" % (
                program, args, self.name, done.returncode, out, err))
        return done

    def credhelper(self, *args: str, input: str = "", check: bool = True
                   ) -> subprocess.CompletedProcess[str]:
        return self.run("credhelper", *args, input=input, check=check)

    def start_get(self, failpoint: str | None = None) -> subprocess.Popen[str]:
        process = self.popen("git-credential-gitlab", "get", failpoint=failpoint)
        assert process.stdin is not None
        process.stdin.write("protocol=https\nhost=%s\n\n" % self.host)
        process.stdin.close()
        process.stdin = None           # communicate() must not flush it again
        return process

    def get(self, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
        process = self.start_get(failpoint)
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def served(done: subprocess.CompletedProcess[str]) -> str | None:
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return lines.get("password")


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
