"""Property-based tests of every protocol parser and of the files credhelper reads, in-process
(each adapter's ``main`` with a Service over a temporary HOME), a few thousand cases each.

For any input: no exception escapes and nothing is a bug (``serve`` words a bug as "internal
error": it must never appear; only CredhelperErrors, as one line, or a clean protocol answer),
stdout holds only protocol output, and a token goes only to the host it belongs to, judged by
urllib3 (what pip, requests and cargo's and Go's clients would connect to), not by credhelper.

Deterministic (``derandomize=True``); ``CREDHELPER_HYPOTHESIS_EXAMPLES=N`` runs N cases per
test instead (tests/support/hypothesis_profiles.py).
"""

import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper.local.config import Config
from credhelper.local.token_index import TokenIndex
from credhelper.protocols import cargo, docker, git, goauth, terraform
from credhelper.protocols.keyring_backend import GitLabPackagesKeyring
from credhelper.rules.model import ADDED, DEPLOY, PAT, TokenRecord
from credhelper.service import Service
from credhelper.stores import MEMORY
from tests.support.hypothesis_profiles import examples

HOST = "gitlab.example.com"
NOW = 1_700_000_000
TOKEN = "glpat-propertytestpropertytest"
REGISTRY_TOKEN = "gldt-propertyregistryproperty"
BUG = "internal error"

# host spellings that are the registered host, and ones that must never get its token
SAME_HOST = [HOST, "GitLab.Example.COM", HOST + ":443", HOST + "."]
OTHER_HOSTS = ["evil.test", HOST + ".evil.test", HOST + ":8443", HOST + ":0443",
               HOST + ":\u0664\u0664\u0663", HOST + ":\u00b2", HOST + "\u2003", "[::1]",
               "localhost:\u00b2", "[::1", "127.1", "sub." + HOST, HOST + "%2f", HOST + "\\"]
TRICKY = ["\\", "@", "%", ":", "/", "?", "#", "[", "]", "\u2003", "\u00b2", " ", "\t", "\r",
          "\0", "\n", "=", ".", "..", "%0a", "\ud800", "\u00fc", "\x7f", "\"", "{", "}"]
BASE = dict(max_examples=examples(2500), derandomize=True, deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def service(tmp_path):
    """A Service over an index in tmp_path, the memory store, no environment, a fixed clock;
    one PAT (git, packages) and one deploy token (registry) for HOST, both fresh."""
    from credhelper.stores import _memory

    index = TokenIndex(str(tmp_path / "data"))
    fresh = dict(host=HOST, store=MEMORY, origin=ADDED, state="ok", checked_at=NOW,
                 next_check_at=NOW + 10 ** 7, expires_at="2030-01-01")
    records = [TokenRecord(id="pat", kind=PAT, scopes=["api"], **fresh),
               TokenRecord(id="deploy", kind=DEPLOY, username="puller",
                           scopes=["read_registry"], registry="registry." + HOST, **fresh)]
    with index.lock():
        index.save(records)
    _memory.clear()
    _memory.update({"pat": TOKEN, "deploy": REGISTRY_TOKEN})
    warnings: list[str] = []
    made = Service(index, environ={}, clock=lambda: NOW, warn=warnings.append, config=Config())
    made.warnings = warnings
    return made


def urllib3_address(url):
    """(host, port) urllib3 connects to for ``url``, or None when it refuses the URL."""
    from urllib3.util import parse_url

    try:
        parsed = parse_url(url)
    except Exception:
        return None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        return None
    host = parsed.host.lower()
    host = host[:-1] if host.endswith(".") else host
    return host, parsed.port or {"https": 443, "http": 80}[parsed.scheme]


def ours(url):
    """True when a client would send a credential for ``url`` to the registered host."""
    return url.lower().startswith("https:") and urllib3_address(url) == (HOST, 443)


def no_bug(*outputs):
    for output in outputs:
        assert BUG not in output and "Traceback" not in output


hosts = st.one_of(st.sampled_from(SAME_HOST + OTHER_HOSTS),
                  st.lists(st.sampled_from(SAME_HOST + OTHER_HOSTS + TRICKY), min_size=1,
                           max_size=4).map("".join),
                  st.text(max_size=30))
paths = st.sampled_from(["", "/", "/g/p.git", "/api/v4/projects/7/packages/pypi/simple/",
                         "/api/v4/projects/7/packages/cargo/", "/api/v4/groups/a%2Fb/-/packages/x",
                         "/api/v4/packages/terraform/modules/v1/", "?x=/", "#@evil.test/"])
urls = st.builds(lambda scheme, user, host, path, noise: scheme + user + host + path + noise,
                 st.sampled_from(["https://", "http://", "HTTPS://", "", "ftp://", "https:/"]),
                 st.sampled_from(["", "u@", "u:p@", "a@b@", "\\@", "%40@"]), hosts, paths,
                 st.sampled_from(["", "", "", "\\", " ", "\u2003", "@evil.test"]))


# -- git: key=value lines -----------------------------------------------------------------

git_keys = st.sampled_from(["protocol", "host", "path", "username", "password", "url",
                            "wwwauth[]", "capability[]", "password_expiry_utc", "x", ""])
git_values = st.one_of(hosts, urls, st.sampled_from(["https", "http", "HTTPS", "", "oauth2"]),
                       st.text(max_size=20))


def git_input(lines, end):
    return ("".join("%s=%s\n" % line for line in lines) + end).encode("utf-8", "surrogatepass")


def effective_url(lines):
    """Where git's request goes, from what a reader of the lines would conclude: the last
    protocol/host (or url=) before the first blank line."""
    protocol = host = None
    for key, value in lines:
        if key == "protocol":
            protocol = value
        elif key == "host":
            host = value
        elif key == "url":
            address = urllib3_address(value)
            protocol = value.partition("://")[0] if "://" in value else None
            host = None if address is None else "%s:%d" % address
    return protocol, host


@settings(**BASE)
@given(st.lists(st.tuples(git_keys, git_values), max_size=6),
       st.sampled_from(["", "\n", "\r\n", "\nhost=evil.test\n"]),
       st.sampled_from(["get", "store", "erase"]))
def test_git_input(service, capsys, lines, end, action):
    out = io.BytesIO()
    code = git.main([action], io.BytesIO(git_input(lines, end)), out, service=service)
    err = capsys.readouterr().err
    no_bug(err)
    assert code in (0, 1) and err.count("\n") <= 2
    answer = out.getvalue().decode()
    assert all(line.partition("=")[0] in ("username", "password", "password_expiry_utc")
               for line in answer.splitlines())
    if TOKEN in answer:
        protocol, host = effective_url(lines)
        assert protocol is not None and protocol.lower() == "https"
        assert host is not None and (host in SAME_HOST or host == HOST + ":443")


@settings(**BASE)
@given(st.binary(max_size=200))
def test_git_bytes(service, capsys, data):
    out = io.BytesIO()
    code = git.main(["get"], io.BytesIO(data), out, service=service)
    no_bug(capsys.readouterr().err)
    assert code in (0, 1)


# -- docker: a server URL, or a JSON credential on stdin ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | urls,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3), max_leaves=8)


@settings(**BASE)
@given(st.one_of(urls, hosts.map(lambda h: "registry." + h), st.text(max_size=40)),
       st.sampled_from(["get", "erase"]))
def test_docker_server_urls(service, capsys, server_url, action):
    out = io.StringIO()
    data = server_url.encode("utf-8", "surrogatepass")
    code = docker.main([action], io.BytesIO(data), out, service=service)
    answer = out.getvalue()
    no_bug(answer, capsys.readouterr().err)
    assert code in (0, 1) and answer.count("\n") <= 1
    if REGISTRY_TOKEN in answer or TOKEN in answer:
        # the registry names docker's conventions give HOST (rules/container_registries.py)
        text = server_url.strip(" \t\r\n")
        address = urllib3_address(text if "://" in text else "https://" + text)
        assert address in {("registry." + HOST, 443), (HOST, 443), (HOST, 5050),
                           ("registry." + HOST, 80), (HOST, 80)}


@settings(**BASE)
@given(st.one_of(json_values, st.fixed_dictionaries(
    {"ServerURL": st.one_of(urls, st.text(max_size=10), st.integers()),
     "Username": st.one_of(st.text(max_size=10), st.none()),
     "Secret": st.one_of(st.text(max_size=10), st.integers())})))
def test_docker_store(service, capsys, credential):
    out = io.StringIO()
    data = json.dumps(credential).encode()
    code = docker.main(["store"], io.BytesIO(data), out, service=service)
    no_bug(out.getvalue(), capsys.readouterr().err)
    assert code in (0, 1)


# -- cargo: JSON lines ----------------------------------------------------------------------

cargo_requests = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 2, "1", None]),
     "kind": st.sampled_from(["get", "login", "logout", "other", None, 1]),
     "operation": st.sampled_from(["read", "publish", None, 3]),
     "registry": st.one_of(st.fixed_dictionaries(
         {"index-url": st.one_of(urls, urls.map(lambda u: "sparse+" + u), json_values)}),
         json_values)},
    optional={"token": st.one_of(st.text(max_size=10), json_values), "args": json_values})


@settings(**BASE)
@given(st.lists(st.one_of(cargo_requests, json_values), max_size=3),
       st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_cargo_lines(service, capsys, requests, newline):
    stdin = "".join(json.dumps(r) + newline for r in requests)
    out = io.StringIO()
    code = cargo.main(["--cargo-plugin"], io.StringIO(stdin), out, service=service)
    no_bug(out.getvalue(), capsys.readouterr().err)
    assert code == 0
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert replies[0] == {"v": [1]} and len(replies) == 1 + len(requests)
    for request, reply in zip(requests, replies[1:]):
        if TOKEN in json.dumps(reply):
            url = request["registry"]["index-url"]
            assert ours(url[len("sparse+"):] if url.startswith("sparse+") else url)


# -- Terraform: argv host, JSON on stdin ----------------------------------------------------

@settings(**BASE)
@given(st.sampled_from(["get", "store", "forget"]), hosts,
       st.one_of(json_values.map(json.dumps), st.text(max_size=30)))
def test_terraform(service, capsys, action, host, body):
    out = io.StringIO()
    stdin = io.BytesIO(body.encode("utf-8", "surrogatepass"))
    code = terraform.main([action, host], stdin, out, service=service)
    no_bug(capsys.readouterr().err)
    assert code in (0, 1)
    if out.getvalue():
        assert isinstance(json.loads(out.getvalue()), dict)
    if TOKEN in out.getvalue():
        assert host.strip(" \t") in SAME_HOST


# -- GOAUTH: the URL Go passes --------------------------------------------------------------

@settings(**BASE)
@given(st.one_of(urls, hosts))
def test_goauth(service, capsys, url):
    out = io.StringIO()
    code = goauth.main([url], out, service=service)
    no_bug(capsys.readouterr().err)
    assert code in (0, 1)
    answer = out.getvalue()
    if answer:
        assert answer.startswith("https://%s/\n\nAuthorization: Basic " % HOST)
        assert ours(url if "://" in url else "https://" + url)


# -- keyring: the service URL pip and twine ask about ---------------------------------------

@settings(**BASE)
@given(st.one_of(urls, st.text(max_size=40)))
def test_keyring_service_urls(service, capsys, monkeypatch, url):
    import credhelper.protocols as protocols

    monkeypatch.setattr(protocols, "lazy_service", lambda made=None: lambda: service)
    secret = GitLabPackagesKeyring().get_password(url, "__token__")
    no_bug(capsys.readouterr().err)
    if secret is not None:
        assert secret == TOKEN and ours(url)


# -- the files credhelper reads: config.toml, tokens.json, secrets.json ----------------------

toml_texts = st.one_of(
    st.text(max_size=80),
    st.builds(lambda key, value: "%s = %s\n" % (key, value),
              st.sampled_from(["store", "hosts", "policy", "x"]),
              st.sampled_from(['"file"', "5", "[1]", "{a = 1}", '"auto"', "true",
                               "{rotate_before_days = inf}", "{new_lifetime_days = nan}",
                               "{rotate_before_days = 1e400}", '{"a b" = 1}'])),
    st.builds(lambda host, key, value: '[hosts."%s"]\n%s = %s\n' % (host, key, value),
              hosts.map(lambda h: h.replace('"', "").replace("\\", "")),
              st.sampled_from(["api_url", "registry", "ca_file", "allow_http", "rotate", "x",
                               "rotate_before_days", "new_lifetime_days"]),
              st.sampled_from(['"https://h/api/v4"', "5", "[]", '"/nonexistent"', "true",
                               '"x\u2003"', "{}", "inf", "-inf", "nan", "1e400", "0",
                               "99999999999999999999", '"localhost:\u00b2"'])))


def _in_home(tmp_path, name, text):
    """Write ``text`` as the file ``name`` in this HOME, the rest as a fresh add left it."""
    data = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper")
    config = os.path.join(os.environ["XDG_CONFIG_HOME"], "credhelper")
    for directory in (data, config):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    files = {"tokens.json": json.dumps({"version": 1, "tokens": [
        {"id": "f1", "host": HOST, "kind": "pat", "store": "file", "origin": "added",
         "state": "ok", "checked_at": NOW, "next_check_at": NOW + 10 ** 7}]}),
        "secrets.json": json.dumps({"version": 1, "secrets": {"f1": TOKEN}}),
        "config.toml": ""}
    files[name] = text
    for file, content in files.items():
        path = os.path.join(config if file.endswith(".toml") else data, file)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                  encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(content)


def _git_get_in_home(capsys):
    out = io.BytesIO()
    code = git.main(["get"], io.BytesIO(b"protocol=https\nhost=%s\n\n" % HOST.encode()), out)
    err = capsys.readouterr().err
    no_bug(err)
    assert code in (0, 1) and err.count("\n") <= 3
    return out.getvalue().decode()


@settings(**dict(BASE, max_examples=examples(2000)))
@given(toml_texts)
def test_config_toml(tmp_path, capsys, text):
    _in_home(tmp_path, "config.toml", text)
    _git_get_in_home(capsys)


record_fields = st.dictionaries(
    st.sampled_from(["id", "host", "kind", "store", "origin", "state", "username", "path",
                     "scopes", "expires_at", "checked_at", "next_check_at", "backoff_until",
                     "pending", "backend", "registry", "api_url", "expires_utc", "dpop_key",
                     "hint", "token_id", "config_mtime"]),
    st.one_of(json_values, hosts, st.sampled_from(["pat", "deploy", "file", "keyring",
                                                   "added", "ok", "2030-01-01"])), max_size=8)


@settings(**dict(BASE, max_examples=examples(2000)))
@given(st.one_of(
    json_values,
    st.fixed_dictionaries({"version": st.one_of(st.just(1), json_values),
                           "tokens": st.one_of(st.lists(record_fields, max_size=3),
                                               json_values)}),
    st.lists(record_fields, max_size=2).map(
        lambda extra: {"version": 1, "tokens": [dict(
            {"id": "f1", "host": HOST, "kind": "pat", "store": "file", "origin": "added"},
            **fields) for fields in extra]})))
def test_tokens_json(tmp_path, capsys, data):
    _in_home(tmp_path, "tokens.json", json.dumps(data))
    answer = _git_get_in_home(capsys)
    if TOKEN in answer:
        tokens = data["tokens"]
        assert any(isinstance(t, dict) and t.get("host") == HOST and t.get("id") == "f1"
                   for t in tokens)


@pytest.mark.parametrize("field", ["dpop_key", "username", "path", "api_url", "scopes"])
def test_a_nul_in_any_field_of_tokens_json_is_one_line(tmp_path, capsys, field):
    """Found by test_tokens_json: a dpop_key holding NUL reached open() (internal error)."""
    value = ["api\0"] if field == "scopes" else "x\0y"
    _in_home(tmp_path, "tokens.json", json.dumps({"version": 1, "tokens": [
        {"id": "f1", "host": HOST, "kind": "pat", "store": "file", "origin": "added",
         field: value}]}))
    out = io.BytesIO()
    code = git.main(["get"], io.BytesIO(b"protocol=https\nhost=%s\n\n" % HOST.encode()), out)
    (line,) = capsys.readouterr().err.splitlines()
    assert (code, out.getvalue()) == (1, b"") and "a token's %s" % field in line
    assert "holds a NUL" in line and "\0" not in line


@settings(**dict(BASE, max_examples=examples(2000)))
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=40),
                 st.fixed_dictionaries({"secrets": json_values}).map(json.dumps)))
def test_secrets_json(tmp_path, capsys, text):
    _in_home(tmp_path, "secrets.json", text)
    _git_get_in_home(capsys)
