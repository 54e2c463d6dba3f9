"""The hand-edited config file (``config.toml`` in the config dir; ``CREDHELPER_CONFIG``
overrides the path).  credhelper reads it and never rewrites it, so comments stay where the
user put them.  It never holds secrets.  Example::

    # Where `credhelper add` puts new tokens: "auto" (the OS keyring when one is usable,
    # else the file store), "keyring" or "file".
    store = "auto"

    [hosts."gitlab.example.com"]
    api_url = "https://gitlab.example.com/api/v4"   # default: https://HOST/api/v4
    allow_api_origin = "https://api.example.com"    # let api_url name this other origin
    registry = "registry.example.com"               # its container registry
    ca_file = "~/certs/example-ca.pem"              # trust a self-managed instance's CA
    allow_http = false                              # serve tokens over plain http (never do)
    cargo_indexes = ["sparse+https://gitlab.example.com/cargo/index/"]   # cargo may get a token
    client_id = "0123abcd..."                       # OAuth application for `credhelper login`
    proxy = "http://proxy.example.com:3128"         # API calls' proxy (default: git's; "": none)
    rotate_before_days = 3                          # any [policy] key, for this host only

    [policy]                                        # the token lifecycle, for every host
    rotate = true                  # PATs with scope api or self_rotate renew themselves
    rotate_before_days = 7         # ...when fewer than this many days remain
    new_lifetime_days = 90         # caps the lifetime a rotated token keeps (unset: the
                                   # old token's; 30 when that is unknown; GitLab: <= 365)
    check_interval_hours = 24      # ask the server about a token at least this often
    retry_after_failure_minutes = 10   # after a failed call, wait this long before the next
    warn_before_days = 7           # warn about tokens that cannot renew themselves

Environment: ``CREDHELPER_STORE`` overrides ``store``.  The file is parsed only by the code
that needs it (tomllib costs a few ms; an https ``get`` never reads it).
"""

from __future__ import annotations

import os

from credhelper.errors import ConfigError, InvalidInput
from credhelper.local import files, paths
from credhelper.rules.hosts import normalise_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.rules.freshness import Policy

    _Expected = type[bool] | type[int] | tuple[type[int], type[float]]

STORE_CHOICES = ("auto", "keyring", "file")
_HOST_KEYS: dict[str, type] = {"api_url": str, "registry": str, "ca_file": str,
                               "allow_http": bool, "allow_api_origin": str, "cargo_indexes": list,
                               "client_id": str, "proxy": str}
# policy key -> (type, Policy attribute, factor to the attribute's unit)
_POLICY_KEYS: dict[str, tuple[_Expected, str, int | None]] = {
    "rotate": (bool, "rotate", None),
    "rotate_before_days": (int, "rotate_before_days", None),
    "new_lifetime_days": (int, "new_lifetime_days", None),
    "check_interval_hours": ((int, float), "check_interval", 3600),
    "retry_after_failure_minutes": ((int, float), "retry_after_failure", 60),
    "warn_before_days": (int, "warn_before_days", None),
}


class HostSettings:
    __slots__ = ("host", "api_url", "registry", "ca_file", "allow_http", "allow_api_origin",
                 "cargo_indexes", "policy", "client_id", "proxy")

    host: str
    api_url: str | None
    registry: str | None
    ca_file: str | None
    allow_http: bool
    allow_api_origin: str | None
    cargo_indexes: tuple[str, ...]
    policy: dict[str, Any]
    client_id: str | None
    proxy: str | None

    def __init__(self, host: str, api_url: str | None = None, registry: str | None = None,
                 ca_file: str | None = None, allow_http: bool = False,
                 policy: dict[str, Any] | None = None,
                 allow_api_origin: str | None = None, cargo_indexes: tuple[str, ...] = (),
                 client_id: str | None = None, proxy: str | None = None) -> None:
        self.host = host
        self.api_url = api_url
        self.registry = registry
        self.ca_file = ca_file
        self.allow_http = allow_http
        self.allow_api_origin = allow_api_origin   # the one other origin api_url may name
        # the cargo index URLs (normalised) whose registries get this host's token: any other
        # index on the host may be user content naming a foreign download URL (README, cargo)
        self.cargo_indexes = cargo_indexes
        self.policy = policy or {}       # overrides of [policy] for this host
        self.client_id = client_id       # the OAuth application `credhelper login` signs in with
        self.proxy = proxy               # its API calls' proxy ("": none; local/proxy.py)


class Config:
    def __init__(self, store: str = "auto", hosts: dict[str, HostSettings] | None = None,
                 path: str | None = None, policy: dict[str, Any] | None = None) -> None:
        self.store = store
        self.hosts = hosts or {}
        self.path = path
        self.policy_values = policy or {}

    def host(self, host: str) -> HostSettings:
        return self.hosts.get(host) or HostSettings(host)

    def policy(self, host: str) -> Policy:
        from credhelper.rules.freshness import Policy

        values = dict(self.policy_values)
        values.update(self.host(host).policy)
        return Policy(**values)


def load(path: str | None = None) -> Config:
    path = path or paths.config_file()
    try:
        with open(path, "rb") as handle:
            # others who can write the config can send the tokens anywhere (api_url)
            files.refuse_unsafe(os.fstat(handle.fileno()), path)
            raw = handle.read()
    except FileNotFoundError:
        raw = None
    except OSError as error:
        raise ConfigError("cannot read %s: %s" % (path, error.strerror)) from None
    if raw is not None:
        files.refuse_unsafe_dir(os.path.dirname(os.path.abspath(path)))
    config = parse(raw.decode("utf-8", "replace"), path) if raw is not None else Config(path=path)
    override = os.environ.get("CREDHELPER_STORE")
    if override:
        if override not in STORE_CHOICES:
            raise ConfigError("CREDHELPER_STORE must be one of %s" % ", ".join(STORE_CHOICES))
        config.store = override
    return config


def parse(text: str, path: str = "config.toml") -> Config:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("%s: %s" % (path, error)) from None
    store = data.get("store", "auto")
    if store not in STORE_CHOICES:
        raise ConfigError("%s: store must be one of %s" % (path, ", ".join(STORE_CHOICES)))
    policy = data.get("policy") or {}
    if not isinstance(policy, dict):
        raise ConfigError("%s: [policy] must be a table" % path)
    policy = _policy_values(policy, "policy", path)
    hosts: dict[str, HostSettings] = {}
    tables = data.get("hosts") or {}
    if not isinstance(tables, dict):
        raise ConfigError("%s: [hosts] must be a table" % path)
    for name, table in tables.items():
        settings = _host_settings(name, table, path)
        hosts[settings.host] = settings
    unknown = set(data) - {"store", "hosts", "policy"}
    if unknown:
        raise ConfigError("%s: unknown setting %s" % (path, sorted(unknown)[0]))
    config = Config(store=store, hosts=hosts, path=path, policy=policy)
    _refuse_rotation_storms(config, "policy", "")
    for host in hosts:
        _refuse_rotation_storms(config, "hosts.%s" % host, host)
    return config


def _refuse_rotation_storms(config: Config, where: str, host: str) -> None:
    """A policy whose new tokens are due for rotation the moment they exist is a typo."""
    policy = config.policy(host)
    if policy.rotate and policy.rotate_before_days >= policy.new_lifetime_days:
        raise ConfigError("%s: %s: rotate_before_days (%s) must be less than new_lifetime_days "
                          "(%s), or every new token would be due for rotation at once"
                          % (config.path, where, policy.rotate_before_days,
                             policy.new_lifetime_days))


def _host_settings(name: str, table: object, path: str) -> HostSettings:
    """One ``[hosts."NAME"]`` table, type-checked."""
    if not isinstance(table, dict):
        raise ConfigError("%s: [hosts.%s] must be a table" % (path, name))
    host = normalise_host(name)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _POLICY_KEYS:
            continue
        expected = _HOST_KEYS.get(key)
        if expected is None:
            raise ConfigError("%s: unknown setting hosts.%s.%s" % (path, name, key))
        if not isinstance(value, expected):
            raise ConfigError("%s: hosts.%s.%s must be a %s"
                              % (path, name, key, expected.__name__))
        values[key] = value
    _tidy(values, "%s: hosts.%s" % (path, name))
    _check_destination(host, values, "%s: hosts.%s" % (path, name))
    if "cargo_indexes" in values:
        values["cargo_indexes"] = _cargo_indexes(host, values, "%s: hosts.%s" % (path, name))
    overrides = {k: v for k, v in table.items() if k in _POLICY_KEYS}
    values["policy"] = _policy_values(overrides, "hosts.%s" % name, path)
    return HostSettings(host, **values)


def _tidy(values: dict[str, Any], where: str) -> None:
    """A host table's names and paths in the one form the rest of credhelper compares."""
    if values.get("registry"):
        values["registry"] = normalise_host(values["registry"])
    if "ca_file" in values:
        values["ca_file"] = _ca_file(values["ca_file"], where)


def _ca_file(value: str, where: str) -> str:
    """``~`` is the user's home, as in a shell.  A relative path is refused: it would mean
    another file in each directory git runs the helper from.  A missing file is told when a
    call needs it (local/trust.py), so git still gets its token."""
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        raise ConfigError('%s.ca_file must be an absolute path or start with ~/ (not "%s")'
                          % (where, value))
    return path


def _check_destination(host: str, values: dict[str, Any], where: str) -> None:
    """``api_url`` on the host's own origin, or on the one ``allow_api_origin`` names
    (rules/destinations.py): refused here, with the line to fix, before any token goes."""
    from credhelper.rules.destinations import check_allowed_origin, check_api_url

    allow_http = values.get("allow_http", False)
    key = "allow_api_origin"
    try:
        if values.get(key) is not None:
            values[key] = check_allowed_origin(values[key], allow_http)
        key = "api_url"
        if values.get(key) is not None:
            check_api_url(host, values[key], allow_http, values.get("allow_api_origin"))
    except InvalidInput as reason:
        raise ConfigError("%s.%s %s" % (where, key, reason)) from None


def _cargo_indexes(host: str, values: dict[str, Any], where: str) -> tuple[str, ...]:
    """``cargo_indexes``: index URLs on this very host (https unless ``allow_http``)."""
    from credhelper.rules.package_urls import cargo_index_key

    found = []
    for url in values["cargo_indexes"]:
        key = cargo_index_key(url) if isinstance(url, str) else None
        if key is None or key[1] != host or (key[0] != "https" and not values.get("allow_http")):
            raise ConfigError("%s.cargo_indexes: each must be an https index URL on %s"
                              % (where, host))
        found.append(key[2])
    return tuple(found)


def _policy_values(table: dict[str, Any], where: str, path: str) -> dict[str, Any]:
    """[policy]-style keys -> Policy attributes, type-checked."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _POLICY_KEYS:
            raise ConfigError("%s: unknown setting %s.%s" % (path, where, key))
        expected, attribute, factor = _POLICY_KEYS[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)) \
                or (not isinstance(value, bool) and value < 0):
            raise ConfigError("%s: %s.%s must be a %s" % (
                path, where, key, "true/false" if expected is bool else "positive number"))
        values[attribute] = value * factor if factor else value
    return values
