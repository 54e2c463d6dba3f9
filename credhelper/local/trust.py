"""Which CA certificates verify a GitLab host's TLS: the ones the user's other tools already
trust for it, so an instance git reaches is one credhelper's API calls reach too.

The first of these that is set decides, as each tool itself does (an explicit bundle replaces
the defaults, it does not add to them):

1. ``ca_file`` of the host's table in config.toml (README, "Configuration");
2. ``ca_file`` given to ``credhelper add --ca-file`` for that token;
3. git's own: ``GIT_SSL_CAINFO``, else ``http.<url>.sslCAInfo`` for ``https://HOST/``
   (``git config --get-urlmatch``, the rule git applies: the most specific URL wins), with
   the directory ``GIT_SSL_CAPATH``, else ``http.<url>.sslCAPath``, beside it as in git;
4. ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, then OpenSSL's ``SSL_CERT_FILE`` and
   ``SSL_CERT_DIR``;
5. the operating system's trust store, through ``truststore`` (Keychain, the Windows store,
   OpenSSL's system paths on Linux).

The same object knows the proxy the host's connections go through (``Trust.proxy``,
local/proxy.py): both say how a host is reached, and both are found from git's settings.

Nothing here runs on the ``get`` hot path: the module is imported, git is asked and the
context is built only when an API call is about to go out (lifecycle/clients.py,
gitlab/transport.py), at most once per host and per file in a process.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    from credhelper.local.proxy import Proxy

GIT_LOOKUP_TIMEOUT = 2.0     # seconds; `git config` reads a few small files
_git_answers: dict[tuple[str, str], str | None] = {}     # (host, key) -> git's path, or None
_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


class UnusableTrust(Exception):
    """The CA file or directory a setting names cannot be used; the text says which."""


class Source:
    """Where a host's trusted CAs come from: the words that name it, and its file or
    directory (neither: the operating system's trust store)."""

    __slots__ = ("words", "cafile", "capath")

    def __init__(self, words: str, cafile: str | None = None, capath: str | None = None
                 ) -> None:
        self.words = words
        self.cafile = cafile
        self.capath = capath


class Trust:
    """One host's trust, found when first needed."""

    def __init__(self, host: str, config_path: str | None = None,
                 ca_file: str | None = None, given_ca_file: str | None = None,
                 proxy: str | None = None) -> None:
        self.host = host
        self.config_path = config_path
        self._ca_file = ca_file               # the config's, already ~-expanded (config.py)
        self._given_ca_file = given_ca_file   # from `credhelper add --ca-file`
        self._proxy_setting = proxy           # the config's ``proxy`` ("": none)
        self._source: Source | None = None
        self._proxy: list[Proxy | None] = []  # found when first needed
        # what decides this trust (with the process's environment): equal keys, equal trust
        self.key = (host, config_path, ca_file, given_ca_file, proxy)

    def source(self) -> Source:
        if self._source is None:
            self._source = self._find()
        return self._source

    def _find(self) -> Source:
        if self._ca_file:
            return Source("ca_file %s" % self._ca_file, self._ca_file)
        if self._given_ca_file:
            return Source("--ca-file %s" % self._given_ca_file, self._given_ca_file)
        return git_source(self.host) or environment_source() or Source("the system trust store")

    def proxy(self) -> Proxy | None:
        """The proxy the host's connections go through (local/proxy.py), None for none;
        ConfigError for one that cannot be used."""
        if not self._proxy:
            from credhelper.local.proxy import proxy_for

            self._proxy.append(proxy_for(self.host, self._proxy_setting))
        return self._proxy[0]

    def context(self) -> ssl.SSLContext:
        """The verifying context (cached per file), or UnusableTrust."""
        source = self.source()
        return context_for(source)

    def advice(self) -> str:
        """What to set, and where, when TLS with this host fails: one line."""
        return 'trusting %s; set ca_file = "/path/to/ca.pem" under [hosts."%s"] in %s' % (
            self.source().words, self.host, self.config_path or _config_file())


def given_ca_file(spec: str) -> str:
    """``add --ca-file PATH``, checked now: a typo is told at `add`, not at the next check."""
    from credhelper.errors import InvalidInput

    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isfile(path):
        raise InvalidInput("--ca-file: no file %s" % path)
    return path


def git_source(host: str) -> Source | None:
    """git's CAs for ``https://HOST/``: its bundle and its directory, each from its
    environment variable, else its config; git's curl uses both when both are set."""
    bundle = _git_setting(host, "GIT_SSL_CAINFO", "http.sslCAInfo")
    directory = _git_setting(host, "GIT_SSL_CAPATH", "http.sslCAPath")
    if bundle is None and directory is None:
        return None
    words = " and ".join(found[0] for found in (bundle, directory) if found)
    return Source(words, bundle[1] if bundle else None, directory[1] if directory else None)


def _git_setting(host: str, variable: str, key: str) -> tuple[str, str] | None:
    """(the words naming it, the path) of one of git's CA settings for the host, or None."""
    value = os.environ.get(variable)
    if value:
        return "%s=%s" % (variable, value), value
    value = git_config_path(host, key)
    if value:
        return "git's %s %s for https://%s/" % (key, value, host), value
    return None


def git_config_path(host: str, key: str) -> str | None:
    """``git config --get-urlmatch KEY https://HOST/``, asked once per process and key;
    ``--type=path`` expands ``~`` as git does when it reads the setting itself."""
    return git_config_value(host, key, "--type=path")


def git_config_value(host: str, key: str, *options: str) -> str | None:
    """``git config --get-urlmatch KEY https://HOST/`` (with ``options``), asked once per
    process and key; None when git has no value, or no git answers; "" for an empty value
    (git's ``http.proxy = ""`` means no proxy)."""
    if (host, key) in _git_answers:
        return _git_answers[host, key]
    import subprocess

    value = None
    try:
        done = subprocess.run(
            ["git", "config", *options, "--get-urlmatch", key, "https://%s/" % host],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=GIT_LOOKUP_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        pass          # no git here, or it hung: git's settings cannot count then
    else:
        lines = done.stdout.splitlines() if done.returncode == 0 else []
        value = lines[-1].strip() if lines else None     # "": set, and empty
    _git_answers[host, key] = value
    return value


def environment_source() -> Source | None:
    """The CA bundle variables of requests and curl, then OpenSSL's own."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return Source("%s=%s" % (name, value), value)
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return None
    words = " and ".join("%s=%s" % pair for pair in (("SSL_CERT_FILE", cafile),
                                                     ("SSL_CERT_DIR", capath)) if pair[1])
    return Source(words, cafile, capath)


def context_for(source: Source) -> ssl.SSLContext:
    key = (source.cafile, source.capath)
    context = _contexts.get(key)
    if context is None:
        context = _contexts[key] = _build(source)
    return context


def _build(source: Source) -> ssl.SSLContext:
    import ssl

    if source.cafile is None and source.capath is None:
        return _system_context()
    # a bundle variable may name a directory of hashed certificates, as requests allows
    cafile, capath = source.cafile, source.capath
    if cafile is not None and os.path.isdir(cafile):
        cafile, capath = None, cafile
    for path in (cafile, capath):
        if path is not None and not os.path.exists(path):
            raise UnusableTrust("%s: no such file" % source.words)
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except ssl.SSLError as error:      # not PEM, or no certificate in it
        raise UnusableTrust("%s: no CA certificate can be read from it (%s)"
                            % (source.words, error.reason or "not PEM")) from None
    except OSError as error:
        raise UnusableTrust("%s: %s" % (source.words, error.strerror)) from None


def _system_context() -> ssl.SSLContext:
    import ssl

    try:
        import truststore
    except ImportError:      # an install without it: OpenSSL's default paths
        return ssl.create_default_context()
    context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context


def _config_file() -> str:
    from credhelper.local import paths

    return paths.config_file()
