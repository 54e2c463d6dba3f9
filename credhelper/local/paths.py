"""Where credhelper keeps its files.

On Linux and the BSDs this follows the XDG base directory spec itself, with exactly the rules
``platformdirs`` applies there (a test holds the two equal), because importing platformdirs costs
about 13 ms on the ``get`` hot path, more than the rest of a lookup.  Elsewhere (macOS,
Windows) platformdirs decides.  The ``get`` fast path applies the same rules to the
environment it is given (fast_service.py; a test holds the two equal).

    config dir  $XDG_CONFIG_HOME/credhelper   config.toml, hand-edited, never holds secrets
    data dir    $XDG_DATA_HOME/credhelper     tokens.json (metadata), secrets.json (file store),
                                              their compact copies (compact.py)
    state dir   $XDG_STATE_HOME/credhelper    audit log, lock files
"""

from __future__ import annotations

import os
import sys

APP = "credhelper"


def _xdg(variable: str, fallback: str) -> str:
    value = os.environ.get(variable, "").strip()
    return os.path.join(value or os.path.expanduser(fallback), APP)


def config_dir() -> str:
    if _uses_xdg():
        return _xdg("XDG_CONFIG_HOME", "~/.config")
    import platformdirs

    return platformdirs.user_config_dir(APP, appauthor=False)


def data_dir() -> str:
    if _uses_xdg():
        return _xdg("XDG_DATA_HOME", "~/.local/share")
    import platformdirs

    return platformdirs.user_data_dir(APP, appauthor=False)


def state_dir() -> str:
    if _uses_xdg():
        return _xdg("XDG_STATE_HOME", "~/.local/state")
    import platformdirs

    return platformdirs.user_state_dir(APP, appauthor=False)


def config_file() -> str:
    """``CREDHELPER_CONFIG`` names another config file (tests, several profiles)."""
    return os.environ.get("CREDHELPER_CONFIG") or os.path.join(config_dir(), "config.toml")


def _uses_xdg() -> bool:
    return sys.platform != "darwin" and not sys.platform.startswith("win")
