"""The one strict URL and host parser (rules/hosts.py): what it refuses, and a differential
test against the parsers clients really connect with (urllib3, requests, git).  Either
credhelper refuses a URL, or the host and port it answers for are the ones the client would
connect to."""

import ipaddress
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credhelper.errors import InvalidInput
from credhelper.rules.hosts import normalise_host
from credhelper.rules.package_urls import request_for
from credhelper.rules.urls import parse_url
from tests.support.hypothesis_profiles import examples

DEFAULT = {"https": 443, "http": 80}


@pytest.mark.parametrize("host, expected", [
    ("GitLab.Example.COM.:443", "gitlab.example.com"),
    ("gitlab.example.com:8443", "gitlab.example.com:8443"),
    ("[0:0::1]:8443", "[::1]:8443"),
    ("192.0.2.1", "192.0.2.1"),
    (" gitlab.example.com\t", "gitlab.example.com"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("gitlab1", "gitlab1"),
])
def test_normalise_host_keeps_one_spelling_per_host(host, expected):
    assert normalise_host(host) == expected


@pytest.mark.parametrize("host", [
    "localhost:\u00b2", "gitlab.example.com:\u0664\u0664\u0663",   # non-ASCII digits
    "gitlab.example.com:0443", "gitlab.example.com:", "gitlab.example.com:0",
    "gitlab.example.com:65536",
    "gitlab.example.com\u2003", "\u2003gitlab.example.com", "gitlab.example.com\u00a0",
    "b\u00fccher.example", "gitlab.example.com\\", "a@b", "a%2eb", "a..b", ".a", "a b",
    "127.1", "0x7f.0.0.1", "010.0.0.1", "2130706433", "256.0.0.1",
    "[::1", "[::1]x", "[::1%25eth0]", "[fe80::1%eth0]", "[::g]", "::1", "",
])
def test_normalise_host_refuses_what_clients_could_read_otherwise(host):
    with pytest.raises(InvalidInput):
        normalise_host(host)


@pytest.mark.parametrize("url", [
    "https://evil.test\\@gitlab.example.com/api/v4/projects/1/packages/pypi/simple",
    "https://gitlab.example.com\\@evil.test/",
    "https://a@b@gitlab.example.com/",
    "https://gitlab.example.com:\u0664\u0664\u0663/",
    "https://gitlab.example.com\u2003/", "https://gitlab.example.com /",
    "https://[::1/", "https://gitlab.example.com%2fevil.test/", "gitlab.example.com/x",
    "https:///x", "https://gitlab.example.com\t/x", "1https://h/", " https://h/", "https://h/ ",
])
def test_parse_url_refuses_ambiguous_urls(url):
    with pytest.raises(InvalidInput) as refused:
        parse_url(url)
    assert url not in str(refused.value)   # the URL (and any password in it) is not repeated


def test_parse_url_splits_scheme_user_host_and_path():
    assert parse_url("HTTPS://u:p@GitLab.Example.com:443/api/v4/x?q=/y#z") == (
        "https", "u:p", "gitlab.example.com", "/api/v4/x")
    assert parse_url("http://h:80") == ("http", None, "h", "")
    assert parse_url("https://h?x/y") == ("https", None, "h", "")


def _address(host, port, scheme):
    """(host, port) as a client connects: lower case, no root dot, one IPv6 spelling."""
    host = host.lower()
    if host.startswith("["):
        host = "[%s]" % ipaddress.IPv6Address(host[1:-1]).compressed
    elif host.endswith("."):
        host = host[:-1]
    return host, port if port is not None else DEFAULT.get(scheme)


def _ours(url):
    scheme, _, host, _ = parse_url(url)
    name, port = (host.rsplit(":", 1) if host.count(":") == 1 or host.startswith("[") and
                  "]:" in host else (host, None))
    return _address(name, int(port) if port else None, scheme)


def _urllib3(url):
    from urllib3.util import parse_url as urllib3_parse

    parsed = urllib3_parse(url)
    return _address(parsed.host or "", parsed.port, parsed.scheme)


def _requests(url):
    import requests

    prepared = requests.Request("GET", url).prepare()
    return _urllib3(prepared.url)


PIECES = ["gitlab.example.com", "evil.test", "GitLab.Example.COM", "[::1]", "[0::1]",
          "127.0.0.1", "127.1", "0x7f", "localhost", ":", "::", "@", "\\", "/", "?", "#",
          "%", "%40", "%2f", ".", "..", "[", "]", "443", "0443", "8443", "80", "0",
          "\u00b2", "\u0663", "\u2003", " ", "\t", "\u00fc", "xn--bcher-kva", "u:p", "_",
          "-", "a", "1"]
SCHEMES = ["https://", "http://", "HTTPS://", "Http://"]


TAILS = ["", "/", "/api/v4/projects/1/packages/pypi/simple/", "?x", "#y", "/a@b", "\\@x/"]


def url_texts():
    """Piles of tricky pieces, and well-formed URLs with one tricky piece in a random place."""
    pieces = st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join)
    piled = st.builds(lambda scheme, body, tail: scheme + body + tail,
                      st.sampled_from(SCHEMES), pieces, st.sampled_from(TAILS))
    shaped = st.builds(_shaped, st.sampled_from(SCHEMES),
                       st.sampled_from(["", "u@", "u:p@", "__token__@", "a@b@", "a\\b@"]),
                       st.sampled_from(PIECES[:7] + ["gitlab.example.com."]),
                       st.sampled_from(["", ":443", ":80", ":8443", ":0443", ":", ":\u00b2"]),
                       st.sampled_from(TAILS), st.integers(0, 60), st.sampled_from(PIECES))
    return st.one_of(piled, shaped)


def _shaped(scheme, userinfo, host, port, tail, where, piece):
    url = scheme + userinfo + host + port + tail
    if where < len(url) and where % 3 == 0:      # a third of them stay well-formed
        where = len(scheme) + where % (len(url) - len(scheme) + 1)
        url = url[:where] + piece + url[where:]
    return url


@settings(max_examples=examples(2000), derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(url_texts())
def test_what_credhelper_answers_for_is_where_urllib3_and_requests_connect(url):
    try:
        ours = _ours(url)
    except InvalidInput:
        return      # refused: nothing answered, nothing leaked
    assert _urllib3(url) == ours, url
    assert _requests(url) == ours, url


@settings(max_examples=examples(2500), derandomize=True, deadline=None)
@given(url_texts())
def test_the_keyring_backend_asks_for_the_host_urllib3_connects_to(url):
    try:
        request = request_for(url)
    except InvalidInput:
        return
    if request is not None:
        assert _address(*_split(request.host), request.protocol) == _urllib3(url), url


def _split(host):
    if host.startswith("[") and "]:" in host or not host.startswith("[") and ":" in host:
        name, port = host.rsplit(":", 1)
        return name, int(port)
    return host, None


GIT_URLS = ["https://gitlab.example.com/g/p.git", "https://u@gitlab.example.com:8443/p",
            "https://evil.test\\@gitlab.example.com/", "https://a@b@gitlab.example.com/",
            "https://gitlab.example.com:0443/", "https://GitLab.Example.com./x",
            "https://[::1]:8443/x", "https://gitlab.example.com%2fevil.test/",
            "https://gitlab.example.com?x@evil.test/", "https://gitlab.example.com#@evil.test/"]


@pytest.mark.parametrize("url", GIT_URLS)
def test_what_credhelper_answers_for_is_what_git_asks_for(url, tmp_path):
    """Real git reads the URL (``git credential fill``) and hands its parts to a helper; the
    host there must be the one credhelper answers for, or credhelper refuses the URL."""
    try:
        ours = parse_url(url)[2]
    except InvalidInput:
        return
    seen = tmp_path / "seen"
    helper = "!f() { cat > '%s'; echo username=u; echo password=p; }; f" % seen
    done = subprocess.run(["git", "-c", "credential.helper=" + helper, "credential", "fill"],
                          input="url=%s\n\n" % url, text=True, capture_output=True,
                          env=dict(os.environ, GIT_TERMINAL_PROMPT="0"), timeout=60)
    if done.returncode != 0:
        return      # git refused the URL itself: it asks nobody for a credential
    parts = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert normalise_host(parts["host"], parts["protocol"]) == ours
