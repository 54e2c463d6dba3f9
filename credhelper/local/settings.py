"""The config as one request sees it: the file's mtime looked at once (one stat, on every
``get``: the lifecycle compares it with the mtime a token's policy was applied under), the file
itself parsed only on first use (``config.py`` is imported then, not on the hot path)."""

from __future__ import annotations

import os

from credhelper.local import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.local.config import Config, HostSettings
    from credhelper.rules.freshness import Policy


class Settings:
    _UNREAD = object()

    def __init__(self, config: Config | None = None, path: str | None = None) -> None:
        self._config = config
        self._path = path
        self._changed_at: object = self._UNREAD

    def config(self) -> Config:
        if self._config is None:
            from credhelper.local.config import load

            self._config = load(self._path)
        return self._config

    def policy(self, host: str) -> Policy:
        return self.config().policy(host)

    def host(self, host: str) -> HostSettings:
        return self.config().host(host)

    def changed_at(self) -> float | None:
        changed = self._changed_at
        if changed is self._UNREAD:
            changed = self._changed_at = config_mtime(self._path)
        assert changed is None or isinstance(changed, float)
        return changed


def config_mtime(path: str | None = None) -> float | None:
    """The config file's mtime, or None when there is none."""
    try:
        return os.stat(path or paths.config_file()).st_mtime
    except OSError:
        return None
