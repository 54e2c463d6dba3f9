"""The two measures: user-space instructions under callgrind (a figure that repeats exactly,
where wall time on a shared VM drifts: the same `python -I -c pass` has measured 10 to 34 ms
within an hour), and wall time in interleaved rounds, so a busy moment hits every command
alike."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time

from benchmarks.homes import Scenario
from benchmarks.installed import Install

_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.M)
_COMMAND = re.compile(r"^==\d+== Command: (\S+)", re.M)


def instructions(scenario: Scenario) -> int:
    """The instructions callgrind counts for the command (and, for git, every process it
    starts: its remote helper and the credential helpers; the server's side is not counted).
    The kernel's work (syscalls, page faults) is not in it."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    if scenario.children:
        argv.append("--trace-children=yes")
    done = subprocess.run(argv + scenario.argv, input=scenario.stdin, env=scenario.env,
                          capture_output=True, timeout=600)
    counts = [int(n) for n in _COLLECTED.findall(done.stderr.decode(errors="replace"))]
    if done.returncode != 0 or not counts:
        raise RuntimeError("callgrind of %s failed (%d): %s" % (
            scenario.argv[0], done.returncode, done.stderr.decode(errors="replace")[-1500:]))
    return sum(counts)


def programs(scenario: Scenario) -> list[str]:
    """The programs the command runs, as valgrind's none tool names them following every
    process it starts or execs: a client the daemon answered starts no Python, one that fell
    back runs git-credential-gitlab-python."""
    done = subprocess.run(["valgrind", "--tool=none", "--trace-children=yes", *scenario.argv],
                          input=scenario.stdin, env=scenario.env, capture_output=True,
                          timeout=600)
    found = _COMMAND.findall(done.stderr.decode(errors="replace"))
    if done.returncode != 0 or not found or (scenario.expect or b"") not in done.stdout:
        raise RuntimeError("valgrind of %s failed (%d): %s" % (
            scenario.argv[0], done.returncode, done.stderr.decode(errors="replace")[-1500:]))
    return found


def starts_python(scenario: Scenario) -> bool:
    """Whether any of its programs is a Python interpreter or a script run by one (each
    launcher install.sh writes is a ``#!.../python -IS`` script)."""
    for name in programs(scenario):
        path = shutil.which(name, path=scenario.env.get("PATH")) or name
        if os.path.basename(path).startswith("python"):
            return True
        try:
            with open(path, "rb") as handle:
                first = handle.readline(256)
        except OSError:
            continue
        if first.startswith(b"#!") and b"python" in first:
            return True
    return False


def daemon_instructions(install: Install, scenario: Scenario, runs: int = 10) -> float:
    """The instructions the warm daemon spends per run of ``scenario`` (it is nobody's child,
    so callgrind's --trace-children never sees it): the HOME's daemon is replaced by one under
    callgrind with instrumentation off, switched on (callgrind_control) only while it serves
    ``runs`` runs after one warm-up; one more run then checks that, this slow, it still
    answers within the client's bound (no Python starts).  Its idle wake-ups (one a second)
    inside the window are counted too.  The caller starts the ordinary daemon again."""
    install.stop_daemon(scenario.env)
    daemon = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
         install.venv_tool("credhelper-daemon"), install.install_id()],
        env=scenario.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    try:
        if install.daemon_pid(scenario.env, wait=120) != daemon.pid:
            raise RuntimeError("the daemon under callgrind did not come up")
        scenario.check("warm-up of the daemon under callgrind")
        _instrument(daemon.pid, "on")
        for _ in range(runs):      # plain runs: a short window, few of its idle wake-ups
            scenario.check("a run served by the daemon under callgrind")
        _instrument(daemon.pid, "off")
        if starts_python(scenario):     # as slow as it was: did it answer in time?
            raise RuntimeError("%s fell back to the launcher while the daemon ran under "
                               "callgrind" % scenario.argv[0])
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=120)
    counts = [int(n) for n in _COLLECTED.findall(err.decode(errors="replace"))]
    if not counts:
        raise RuntimeError("callgrind of the daemon failed: %s"
                           % err.decode(errors="replace")[-1500:])
    return sum(counts) / runs


def _instrument(pid: int, state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(pid)], check=True,
                   capture_output=True, timeout=120)


def interleaved(scenarios: dict[str, Scenario], rounds: int, warmup: int = 3
                ) -> dict[str, list[float]]:
    """Wall seconds of every command, ``rounds`` times, round-robin with the order rotated
    each round; the first ``warmup`` rounds (page cache, .pyc files) are not kept."""
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    names = list(scenarios)
    for number in range(warmup + rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            scenario = scenarios[name]
            start = time.perf_counter()
            done = subprocess.run(scenario.argv, input=scenario.stdin, env=scenario.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=120)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError("%s exited %d during the measurement" % (name,
                                                                            done.returncode))
            if number >= warmup:
                times[name].append(elapsed)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(samples) for name, samples in times.items()}
