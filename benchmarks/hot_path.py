#!/usr/bin/env python3
"""Latency of `git-credential-gitlab get` on the hot path (token known, no network).

    .venv/bin/python benchmarks/hot_path.py [--rounds 60]

Runs, in one process and interleaved round by round (so a busy moment hits every command
alike), the median wall time of:

    python -I -c pass               the interpreter start, with this venv's python
    git credential-store get        git's own plain-file helper
    git-credential-gitlab get       with the file store
    git-credential-gitlab get       with the keyring store (a real Secret Service:
                                    gnome-keyring-daemon on a private D-Bus, started here)
    git-credential-gitlab get       a token shared through OpenBao (issue 14; a real
                                    `bao server -dev`, paused while measuring: a get that
                                    called it would wait out its timeout), file store
    docker-credential-gitlab get    the same token for its registry, file store

and prints each as a ratio to `python -I -c pass`.  Everything runs in a throwaway HOME.
Wall time on a shared 2-core VM drifts (the same `python -I -c pass` has measured 10 to 34 ms
here within an hour), so when valgrind is installed it also counts the user-space
instructions of each command once under callgrind: a figure that repeats exactly.
It then explains the keyring figure: the D-Bus client (jeepney) and round trip of the fast
path, and what the keyring library would have cost.  The target (issue 2): file store <= 2.5x
the interpreter.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Filled in by main() once the fake GitLab listens: gitlab.example.com:PORT.
HOST = None
REQUEST = None
REGISTRY = "registry.example.test"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()

    from tests.support.openbao import OpenBao
    from tests.support.secret_service import SecretService

    bin_dir = os.path.dirname(sys.executable)
    helper = shutil.which("git-credential-gitlab", path=bin_dir)
    admin = shutil.which("credhelper", path=bin_dir)
    if not helper or not admin:
        sys.exit("run me with the python of the environment credhelper is installed in "
                 "(e.g. .venv/bin/python benchmarks/hot_path.py)")
    from credhelper.selftest.tls import TestCA
    from tests.fake_gitlab import FakeGitLab

    global HOST, REQUEST
    work = tempfile.mkdtemp(prefix="credhelper-bench-")
    try:
        ca = TestCA(os.path.join(work, "tls"), names=["gitlab.example.com"])
        with SecretService(os.path.join(work, "secret-service")) as bus_env, \
                FakeGitLab(os.path.join(work, "gitlab"), ca) as gitlab, \
                OpenBao(os.path.join(work, "openbao")) as bao:
            # The tokens are checked once, when added (as a user's would be); every `get`
            # measured afterwards is the hot path: known, fresh token, no network.
            HOST = "gitlab.example.com:%d" % gitlab.port
            REQUEST = ("protocol=https\nhost=%s\n\n" % HOST).encode()
            gitlab.state.add_user("bench")
            config = ('[hosts."%s"]\napi_url = "https://localhost:%d/api/v4"\nca_file = "%s"\n'
                      'allow_api_origin = "https://localhost:%d"\n'
                      % (HOST, gitlab.port, ca.ca_file, gitlab.port))
            commands = prepare(work, helper, admin, bus_env, config,
                               lambda: gitlab.state.create_pat("bench", ["api"]).token)
            commands["shared"] = share(work, helper, admin, config, bao,
                                       gitlab.state.create_pat("bench", ["api"]).token)
            api_calls_before = len(gitlab.requests)
            bao.pause()
            try:
                times = measure(commands, args.rounds)
            finally:
                bao.resume()
            report(times, args.rounds)
            print("API calls during the measured runs: %d" % (len(gitlab.requests)
                                                             - api_calls_before))
            explain_keyring(commands["keyring"][1])
            if shutil.which("valgrind"):
                count_instructions(commands)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def environment(work, name, **extra):
    home = os.path.join(work, name)
    os.makedirs(home, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": os.path.join(home, ".config"),
           "XDG_DATA_HOME": os.path.join(home, ".local/share"),
           "XDG_STATE_HOME": os.path.join(home, ".local/state"), "GIT_CONFIG_NOSYSTEM": "1"}
    env.update(extra)
    return env


def prepare(work, helper, admin, bus_env, config, new_token):
    file_env = environment(work, "file", CREDHELPER_STORE="file")
    keyring_env = environment(work, "keyring", CREDHELPER_STORE="keyring",
                              DBUS_SESSION_BUS_ADDRESS=bus_env["DBUS_SESSION_BUS_ADDRESS"])
    tokens = {}
    for env in (file_env, keyring_env):
        os.makedirs(os.path.join(env["XDG_CONFIG_HOME"], "credhelper"))
        with open(os.path.join(env["XDG_CONFIG_HOME"], "credhelper", "config.toml"), "w") as f:
            f.write(config)
        tokens[id(env)] = token = new_token()
        subprocess.run([admin, "add", HOST, "--registry", REGISTRY], input=token.encode(),
                       env=env, check=True, stdout=subprocess.DEVNULL)
    token = tokens[id(file_env)]
    store_env = environment(work, "git-store")
    credentials = os.path.join(store_env["HOME"], "git-credentials")
    with open(credentials, "w") as handle:
        handle.write("https://oauth2:%s@%s\n" % (token, HOST))
    os.chmod(credentials, 0o600)
    docker = os.path.join(os.path.dirname(helper), "docker-credential-gitlab")
    commands = {
        "python -I -c pass": ([sys.executable, "-I", "-c", "pass"], file_env, b""),
        "git credential-store get": (["git", "credential-store", "--file", credentials, "get"],
                                     store_env, REQUEST),
        "file": ([helper, "get"], file_env, REQUEST),
        "keyring": ([helper, "get"], keyring_env, REQUEST),
        "docker": ([docker, "get"], file_env, REGISTRY.encode()),
    }
    for name, (argv, env, stdin) in commands.items():  # every helper must really answer
        out = subprocess.run(argv, input=stdin, env=env, capture_output=True).stdout
        if name != "python -I -c pass" and b"glpat-" not in out:
            sys.exit("%s did not return the token; cannot benchmark" % name)
    return commands


def share(work, helper, admin, config, bao, token):
    """A HOME whose token is published to OpenBao (`credhelper fleet publish`): shared."""
    env = environment(work, "shared", CREDHELPER_STORE="file")
    os.makedirs(os.path.join(env["XDG_CONFIG_HOME"], "credhelper"))
    with open(os.path.join(env["XDG_CONFIG_HOME"], "credhelper", "config.toml"), "w") as f:
        f.write(config)
    token_file = os.path.join(env["HOME"], "bao-token")
    with open(token_file, "w") as handle:
        handle.write(bao.root_token)
    subprocess.run([admin, "add", HOST], input=token.encode(), env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([admin, "fleet", "publish", HOST, "--addr", bao.addr, "--record",
                    "credhelper/fleet/bench", "--token-file", token_file], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run([helper, "get"], input=REQUEST, env=env, capture_output=True).stdout
    if token.encode() not in out:
        sys.exit("the shared token's get did not return it; cannot benchmark")
    return [helper, "get"], env, REQUEST


def measure(commands, rounds):
    times = {name: [] for name in commands}
    names = list(commands)
    for round_number in range(rounds + 3):
        order = names[round_number % len(names):] + names[:round_number % len(names)]
        for name in order:
            argv, env, stdin = commands[name]
            start = time.perf_counter()
            subprocess.run(argv, input=stdin, env=env, stdout=subprocess.DEVNULL)
            if round_number >= 3:  # the first rounds warm the page cache and .pyc files
                times[name].append(time.perf_counter() - start)
    return times


def report(times, rounds):
    base = statistics.median(times["python -I -c pass"])
    labels = {"file": "git-credential-gitlab get (file store)",
              "keyring": "git-credential-gitlab get (keyring: Secret Service)",
              "docker": "docker-credential-gitlab get (file store)",
              "shared": "git-credential-gitlab get (shared via OpenBao, file)"}
    print("median of %d interleaved runs, %s, %d cores" % (rounds, sys.version.split()[0],
                                                         os.cpu_count()))
    print("%-52s %9s %7s" % ("command", "median", "ratio"))
    for name, samples in times.items():
        median = statistics.median(samples)
        print("%-52s %7.1fms %6.2fx" % (labels.get(name, name), median * 1000, median / base))
    ratio = statistics.median(times["file"]) / base
    print("target: file store <= 2.50x python -I -c pass: %s (%.2fx)"
          % ("met" if ratio <= 2.5 else "NOT met", ratio))


def explain_keyring(env):
    """Where the keyring store's time goes: jeepney and the D-Bus calls of the fast path, and
    what going through the keyring library instead would cost."""
    probe = (
        "import time\n"
        "t0 = time.perf_counter()\n"
        "from credhelper.stores import secret_service\n"
        "import jeepney.io.blocking\n"
        "t1 = time.perf_counter()\n"
        "secret_service.read('credhelper:%s', 'x')\n"
        "t2 = time.perf_counter()\n"
        "import keyring.backends.SecretService\n"
        "t3 = time.perf_counter()\n"
        "import keyring\n"
        "keyring.get_keyring()\n"
        "t4 = time.perf_counter()\n"
        "print('%%.1f %%.1f %%.1f %%.1f' %% ((t1-t0)*1e3, (t2-t1)*1e3, (t3-t2)*1e3,"
        " (t4-t3)*1e3))\n") % HOST
    samples = []
    for _ in range(7):
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                             text=True).stdout.split()
        samples.append([float(x) for x in out])
    jeepney, dbus, backend, discovery = (statistics.median(c) for c in zip(*samples, strict=True))
    print("keyring store: importing jeepney %.1fms, D-Bus session + lookup %.1fms; avoided: "
          "keyring's SecretService backend import %.1fms and keyring.get_keyring() discovery "
          "%.1fms" % (jeepney, dbus, backend, discovery))


def count_instructions(commands):
    """User-space instructions per command under callgrind (deterministic, unlike wall time)."""
    counts = {}
    for name, (argv, env, stdin) in commands.items():
        done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                               *argv], input=stdin, env=env, capture_output=True)
        found = [line for line in done.stderr.decode().splitlines() if "Collected" in line]
        counts[name] = int(found[-1].split()[-1]) if found else None
    base = counts["python -I -c pass"]
    print("instructions (callgrind, user space only; syscalls and page faults not counted):")
    for name, count in counts.items():
        if count:
            print("  %-50s %8.1fM %6.2fx" % (name, count / 1e6, count / base))


if __name__ == "__main__":
    main()
