"""The hand-edited config file (``config.toml`` in the config dir; ``CREDHELPER_CONFIG``
overrides the path).  credhelper reads it and never rewrites it, so comments stay where the
user put them.  It never holds secrets.  Example::

    # Where `credhelper add` puts new tokens: "auto" (the OS keyring when one is usable,
    # else the file store), "keyring" or "file".
    store = "auto"

    [hosts."gitlab.example.com"]
    api_url = "https://gitlab.example.com/api/v4"   # default: https://HOST/api/v4
    registry = "registry.example.com"               # its container registry
    ca_file = "/etc/ssl/example-ca.pem"             # trust a self-managed instance's CA
    allow_http = false                              # serve tokens over plain http (never do)

Environment: ``CREDHELPER_STORE`` overrides ``store``.  The file is parsed only by the code
that needs it (tomllib costs a few ms; an https ``get`` never reads it).
"""

import os

from . import paths
from .errors import ConfigError
from .hosts import normalise_host

STORE_CHOICES = ("auto", "keyring", "file")
_HOST_KEYS = {"api_url": str, "registry": str, "ca_file": str, "allow_http": bool}


class HostSettings:
    __slots__ = ("host", "api_url", "registry", "ca_file", "allow_http")

    def __init__(self, host, api_url=None, registry=None, ca_file=None, allow_http=False):
        self.host = host
        self.api_url = api_url
        self.registry = registry
        self.ca_file = ca_file
        self.allow_http = allow_http


class Config:
    def __init__(self, store="auto", hosts=None, path=None):
        self.store = store
        self.hosts = hosts or {}
        self.path = path

    def host(self, host):
        return self.hosts.get(host) or HostSettings(host)


def load(path=None):
    path = path or paths.config_file()
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raw = None
    except OSError as error:
        raise ConfigError("cannot read %s: %s" % (path, error.strerror)) from None
    config = parse(raw.decode("utf-8", "replace"), path) if raw is not None else Config(path=path)
    override = os.environ.get("CREDHELPER_STORE")
    if override:
        if override not in STORE_CHOICES:
            raise ConfigError("CREDHELPER_STORE must be one of %s" % ", ".join(STORE_CHOICES))
        config.store = override
    return config


def parse(text, path="config.toml"):
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("%s: %s" % (path, error)) from None
    store = data.get("store", "auto")
    if store not in STORE_CHOICES:
        raise ConfigError("%s: store must be one of %s" % (path, ", ".join(STORE_CHOICES)))
    hosts = {}
    for name, table in (data.get("hosts") or {}).items():
        if not isinstance(table, dict):
            raise ConfigError("%s: [hosts.%s] must be a table" % (path, name))
        host = normalise_host(name)
        values = {}
        for key, value in table.items():
            expected = _HOST_KEYS.get(key)
            if expected is None:
                raise ConfigError("%s: unknown setting hosts.%s.%s" % (path, name, key))
            if not isinstance(value, expected):
                raise ConfigError("%s: hosts.%s.%s must be a %s"
                                  % (path, name, key, expected.__name__))
            values[key] = value
        if values.get("registry"):
            values["registry"] = normalise_host(values["registry"])
        hosts[host] = HostSettings(host, **values)
    unknown = set(data) - {"store", "hosts"}
    if unknown:
        raise ConfigError("%s: unknown setting %s" % (path, sorted(unknown)[0]))
    return Config(store=store, hosts=hosts, path=path)
