"""The shared-token row (issue 14): a HOME whose token is published to a real OpenBao
(`bao server -dev`, paused while measuring: a get that called it would wait out its timeout).

install.sh installs no hvac (the `fleet` extra), so `credhelper fleet publish` runs from the
development venv this benchmark runs in; the `get` measured is the installed one, which
imports neither hvac nor the fleet code."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.homes import Homes, Scenario


def publisher() -> str | None:
    """The development venv's credhelper, when it can publish (it has hvac)."""
    admin = os.path.join(os.path.dirname(sys.executable), "credhelper")
    try:
        import hvac  # noqa: F401
    except ImportError:
        return None
    return admin if os.access(admin, os.X_OK) else None


def shared(homes: Homes, bao, admin: str) -> Scenario:
    env, _token = homes.registered("shared")
    token_file = os.path.join(env["HOME"], "bao-token")
    with open(token_file, "w") as handle:
        handle.write(bao.root_token)
    os.chmod(token_file, 0o600)
    subprocess.run([admin, "fleet", "publish", homes.host, "--addr", bao.addr, "--record",
                    "credhelper/fleet/bench", "--token-file", token_file], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=120)
    return homes.helper(env)
