"""The two measures: user-space instructions under callgrind (a figure that repeats exactly,
where wall time on a shared VM drifts: the same `python -I -c pass` has measured 10 to 34 ms
within an hour), and wall time in interleaved rounds, so a busy moment hits every command
alike."""

from __future__ import annotations

import re
import statistics
import subprocess
import time

from benchmarks.homes import Scenario

_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.M)


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
