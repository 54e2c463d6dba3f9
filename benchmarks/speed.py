#!/usr/bin/env python3
"""credhelper's speed (issue 15), measured against what install.sh really installs.

    .venv/bin/python benchmarks/speed.py [--rounds 40] [--install DIR [--reuse]]
                                         [--working-tree] [--no-callgrind] [--json FILE]

Installs credhelper with the project's install.sh into a throwaway HOME (from `git archive
HEAD`, or the working tree with --working-tree; --install DIR --reuse keeps and reuses one),
says which interpreter that gave, and measures that venv's python and launchers in throwaway
HOMEs whose tokens the installed `credhelper add` registered against the fake GitLab over real
HTTPS (fresh: checked at add, next check a day away; no API call while measuring).  Each HOME
has a private XDG_RUNTIME_DIR, as a Linux desktop or SSH session gives: git-credential-gitlab
is then install.sh's bash client, answered by the HOME's warm daemon (rows marked †; the
daemon is started by one warm-up get and must stay live, the same process, throughout, and
every daemon is stopped at the end):

    python -I -c pass                  the floor: the installed venv's interpreter start
    git-credential-gitlab get          † file store; Secret Service (gnome-keyring-daemon on
                                       a private D-Bus); with 1000 tokens for other hosts
    git-credential-gitlab store        † of the credential get just served (git sends it back)
    docker-credential-gitlab get       the same token for its registry
    git-credential-gitlab get          † a token shared through OpenBao (skipped without hvac)
    git-credential-gitlab-python get   the Python launcher alone, for reference
    git ls-remote https://...          real git against the fake GitLab, through git's
                                       credential-store with the same token, through
                                       credhelper (†), and through credhelper without
                                       XDG_RUNTIME_DIR (the client execs the Python launcher)

Every command is first run once under valgrind's none tool: a † row that starts Python (its
client fell back to the launcher) stops the benchmark.  Each then gets its user-space
instruction count under callgrind (with its child processes: git's, or a client's fallback)
and, for a † row, plus the daemon's instructions per run, counted apart (the daemon is no
child: it runs under callgrind with instrumentation switched on only while it serves), and
its median wall time over interleaved rounds (the daemon's work is inside it: the client waits
for the answer), with its ratio to the floor (the 1000-token get to the 1-token one, the
ls-remotes to credential-store's), printed as a markdown table beside issue 15's limits.  The
machine is a shared VM: trust the instruction counts, and compare wall times only within one
run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import installed, measure, table  # noqa: E402
from benchmarks.homes import Homes, Scenario  # noqa: E402
from benchmarks.shared import publisher, shared  # noqa: E402


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds (40)")
    parser.add_argument("--warmup", type=int, default=3, help="rounds not kept (3)")
    parser.add_argument("--tokens", type=int, default=1000,
                        help="tokens on other hosts in the many-tokens HOME (1000)")
    parser.add_argument("--install", metavar="DIR", help="install into DIR and keep it")
    parser.add_argument("--reuse", action="store_true",
                        help="with --install: use the install already in DIR")
    parser.add_argument("--working-tree", action="store_true",
                        help="install the working tree as it is, not HEAD")
    parser.add_argument("--python", help="the interpreter install.sh uses (its PYTHON)")
    parser.add_argument("--no-callgrind", action="store_true", help="wall time only")
    parser.add_argument("--no-shared", action="store_true", help="leave out OpenBao's row")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.reuse and not args.install:
        parser.error("--reuse goes with --install DIR")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    work = tempfile.mkdtemp(prefix="credhelper-bench-")
    try:
        install = installed.install(args.install or os.path.join(work, "install"),
                                    working_tree=args.working_tree, reuse=args.reuse,
                                    python=args.python)
        print("interpreter: %s" % install.describe())
        print("measured %s UTC on %d cores; %d interleaved rounds after %d warm-up rounds"
              % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.cpu_count() or 0,
                 args.rounds, args.warmup))
        with contextlib.ExitStack() as stack:
            figures = run(stack, work, install, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)
    return 0


def run(stack: contextlib.ExitStack, work: str, install: installed.Install,
        args: argparse.Namespace) -> dict:
    from credhelper.selftest.tls import TestCA
    from tests.fake_gitlab import FakeGitLab
    from tests.support.secret_service import SecretService

    ca = TestCA(os.path.join(work, "tls"), names=["gitlab.example.com"])
    bus_env = stack.enter_context(SecretService(os.path.join(work, "secret-service")))
    gitlab = stack.enter_context(FakeGitLab(os.path.join(work, "gitlab"), ca))
    gitlab.state.add_user("bench")
    homes = Homes(work, install, gitlab, bus_env)
    stack.callback(stop_daemons, install, homes)     # every HOME's, whoever started it
    scenarios = prepare(homes, args.tokens)
    bao = None
    admin = None if args.no_shared else publisher()
    if admin:
        from tests.support.openbao import OpenBao

        bao = stack.enter_context(OpenBao(os.path.join(work, "openbao")))
        scenarios["shared"] = shared(homes, bao, admin)
    elif not args.no_shared:
        print("shared row left out: this python has no hvac to publish with")
    for name, scenario in scenarios.items():     # every command must really answer
        scenario.check(name)
    rows = [row for row in table.rows(args.tokens) if row.key in scenarios]
    served = [row.key for row in rows if row.daemon]
    warm(homes, scenarios, served)               # a first get only starts the daemon
    python = {name: measure.starts_python(s) for name, s in scenarios.items()}
    if any(python[key] for key in served):
        sys.exit("the daemon did not answer %s; cannot benchmark"
                 % ", ".join(key for key in served if python[key]))
    before = api_calls(gitlab)
    if bao is not None:
        bao.pause()
    try:
        figures, pids = measured(homes, {key: scenarios[key] for key in [r.key for r in rows]},
                                 served, args)
    finally:
        if bao is not None:
            bao.resume()
    for key, got in figures.items():
        got["python"], got["daemon_pid"] = python[key], pids.get(key)
    print("API calls while measuring: %d" % (api_calls(gitlab) - before))
    print()
    print(table.markdown(rows, figures, args.rounds))
    return figures


def measured(homes: Homes, scenarios: dict[str, Scenario], served: list[str],
             args: argparse.Namespace) -> tuple[dict, dict[str, int]]:
    """Instructions (the client's; the daemon's per run apart) and wall times, with every
    daemon row's HOME's daemon warm and live throughout (the same pid before and after)."""
    install = homes.install
    pids = warm(homes, scenarios, served)
    counts, daemon = {}, {}
    if not args.no_callgrind:
        counts = {name: measure.instructions(s) for name, s in scenarios.items()}
        daemon = {key: measure.daemon_instructions(install, scenarios[key]) for key in served}
        pids = warm(homes, scenarios, served)      # the ordinary daemons again
    walls = measure.medians(measure.interleaved(scenarios, args.rounds, args.warmup))
    gone = [key for key in served if install.daemon_pid(scenarios[key].env) != pids[key]]
    if gone:
        sys.exit("the daemon of %s changed while measuring" % ", ".join(gone))
    fell_back = [key for key in served if measure.starts_python(scenarios[key])]
    if fell_back:                                  # the wall times would be the launcher's
        sys.exit("after the wall times, %s started Python: the daemon no longer answered"
                 % ", ".join(fell_back))
    return table.results(table.rows(args.tokens), counts, walls, daemon), pids


def warm(homes: Homes, scenarios: dict[str, Scenario], served: list[str]) -> dict[str, int]:
    """The pid of each served row's daemon: a HOME without a live one gets one warm-up get
    (the client starts the daemon in the background), waited for until live."""
    pids = {}
    for key in served:
        env = scenarios[key].env
        pid = homes.install.daemon_pid(env)
        if pid is None:
            homes.helper(env).check("warm-up get of %s" % key)
            pid = homes.install.daemon_pid(env, wait=60)
        if pid is None:
            sys.exit("%s: no daemon came up after a warm-up get; cannot benchmark" % key)
        pids[key] = pid
    return pids


def stop_daemons(install: installed.Install, homes: Homes) -> None:
    for env in homes.made:
        install.stop_daemon(env)


def prepare(homes: Homes, others: int) -> dict[str, Scenario]:
    file_env, token = homes.registered("file")
    keyring_env, _ = homes.registered("keyring", store="keyring",
                                      DBUS_SESSION_BUS_ADDRESS=homes.bus)
    many_env, _ = homes.registered("many")
    homes.add_other_hosts(many_env, others)
    return {
        "floor": homes.floor(file_env),
        "get_file": homes.helper(file_env),
        "store_file": homes.served_again(file_env),
        "get_keyring": homes.helper(keyring_env),
        "docker": homes.docker(file_env),
        "get_many": homes.helper(many_env),
        "get_launcher": homes.launcher(file_env),
        "ls_store": homes.ls_remote(homes.credential_store(token)),
        "ls_credhelper": homes.ls_remote(file_env),
        "ls_launcher": homes.ls_remote(file_env, runtime_dir=False),
    }


def api_calls(gitlab) -> int:
    """Requests to the API and the token endpoint: a hot path makes none (git's own requests
    to the repository are not counted)."""
    return gitlab.count(path=r"/(api|oauth)/.*")


if __name__ == "__main__":
    sys.exit(main())
