#!/usr/bin/env python3
"""credhelper's speed (issue 15), measured against what install.sh really installs.

    .venv/bin/python benchmarks/speed.py [--rounds 40] [--install DIR [--reuse]]
                                         [--working-tree] [--no-callgrind] [--json FILE]

Installs credhelper with the project's install.sh into a throwaway HOME (from `git archive
HEAD`, or the working tree with --working-tree; --install DIR --reuse keeps and reuses one),
says which interpreter that gave, and measures that venv's python and launchers in throwaway
HOMEs whose tokens the installed `credhelper add` registered against the fake GitLab over real
HTTPS (fresh: checked at add, next check a day away; no API call while measuring):

    python -I -c pass                  the floor: the installed venv's interpreter start
    git-credential-gitlab get          file store; Secret Service (gnome-keyring-daemon on a
                                       private D-Bus); with 1000 tokens for other hosts
    git-credential-gitlab store        of the credential get just served (git sends it back)
    docker-credential-gitlab get       the same token for its registry
    git-credential-gitlab get          a token shared through OpenBao (skipped without hvac)
    git ls-remote https://...          real git against the fake GitLab, through credhelper
                                       and through git's credential-store with the same token

Each gets its user-space instruction count under callgrind (git's with its child processes)
and its median wall time over interleaved rounds, with its ratio to the floor (the 1000-token
get to the 1-token one, credhelper's ls-remote to credential-store's), printed as a markdown
table beside issue 15's limits.  The machine is a shared VM: trust the instruction counts,
and compare wall times only within one run.
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
    before = api_calls(gitlab)
    if bao is not None:
        bao.pause()
    try:
        counts = {} if args.no_callgrind else \
            {name: measure.instructions(s) for name, s in scenarios.items()}
        walls = measure.medians(measure.interleaved(scenarios, args.rounds, args.warmup))
    finally:
        if bao is not None:
            bao.resume()
    rows = table.rows(args.tokens)
    figures = table.results(rows, counts, walls)
    print("API calls while measuring: %d" % (api_calls(gitlab) - before))
    print()
    print(table.markdown(rows, figures, args.rounds))
    return figures


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
        "ls_store": homes.ls_remote(homes.credential_store(token)),
        "ls_credhelper": homes.ls_remote(file_env),
    }


def api_calls(gitlab) -> int:
    """Requests to the API and the token endpoint: a hot path makes none (git's own requests
    to the repository are not counted)."""
    return gitlab.count(path=r"/(api|oauth)/.*")


if __name__ == "__main__":
    sys.exit(main())
