"""A host's API calls (checks, rotations, probes, logins) go through the proxy git uses for
that host (local/proxy.py): a real tinyproxy on loopback, the fake GitLab over HTTPS behind
it, tokens inside the TLS tunnel only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credhelper.errors import ConfigError
from credhelper.local import proxy as proxies
from tests.conftest import credhelper, run, write_config
from tests.support.tinyproxy import TinyProxy
from tests.test_lifecycle_api import ROTATE, SELF, calls, get, new_pat, served

EVERY_GET_CHECKS = "[policy]\ncheck_interval_hours = 0\n"


@pytest.fixture
def proxy(tmp_path):
    with TinyProxy(tmp_path) as running:
        yield running


def api_origin(gitlab):
    return "localhost:%d" % gitlab.port


def config_file(home):
    return home / ".config" / "credhelper" / "config.toml"


def test_a_rotation_goes_through_the_proxy_git_uses_for_the_host(gitlab, gitlab_host, proxy):
    run("git", "config", "--global", "http.https://%s/.proxy" % gitlab_host, proxy.url)
    old = new_pat(gitlab, gitlab_host, expires_in_days=1)      # add checks it: one CONNECT
    assert proxy.connects() == [api_origin(gitlab)]
    done = get(gitlab_host)
    new = gitlab.state.find_token(served(done))
    assert new.previous_token_id == old.id and done.stderr.startswith("credhelper: rotated")
    assert proxy.connects() == [api_origin(gitlab)] * 2      # one tunnel for the whole get
    log = proxy.log_file.read_text()
    assert old.token not in log and new.token not in log


def test_the_host_s_proxy_setting_wins_and_an_empty_one_goes_direct(gitlab, gitlab_host, home,
                                                                    proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")       # nothing listens there
    write_config(home, 'proxy = "%s"\n%s' % (proxy.url, EVERY_GET_CHECKS))
    token = new_pat(gitlab, gitlab_host)
    assert proxy.connects() == [api_origin(gitlab)]
    config = config_file(home)
    config.write_text(config.read_text().replace('proxy = "%s"' % proxy.url, 'proxy = ""'))
    checks = calls(gitlab, "GET", SELF)
    done = get(gitlab_host)
    assert served(done) == token.token and done.stderr == ""
    assert calls(gitlab, "GET", SELF) == checks + 1 and proxy.connects() == [api_origin(gitlab)]


def test_curl_s_variables_count_unless_no_proxy_names_the_host(gitlab, gitlab_host, home, proxy,
                                                                monkeypatch):
    write_config(home, EVERY_GET_CHECKS)
    monkeypatch.setenv("https_proxy", proxy.url)
    token = new_pat(gitlab, gitlab_host)
    assert proxy.connects() == [api_origin(gitlab)]
    monkeypatch.setenv("NO_PROXY", "other.test, .example.com")
    checks = calls(gitlab, "GET", SELF)
    assert served(get(gitlab_host)) == token.token
    assert calls(gitlab, "GET", SELF) == checks + 1 and proxy.connects() == [api_origin(gitlab)]


def test_git_s_empty_proxy_for_the_host_means_direct_as_in_git(gitlab, gitlab_host, home,
                                                               monkeypatch):
    """``http.<url>.proxy = ""`` is how git users keep an internal host off the proxy that
    the environment names (curl: an empty proxy disables the variables)."""
    write_config(home, EVERY_GET_CHECKS)
    token = new_pat(gitlab, gitlab_host)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")       # nothing listens there
    run("git", "config", "--global", "http.https://%s/.proxy" % gitlab_host, "")
    checks = calls(gitlab, "GET", SELF)
    done = get(gitlab_host)
    assert served(done) == token.token and done.stderr == ""
    assert calls(gitlab, "GET", SELF) == checks + 1


def test_an_unreachable_proxy_is_one_line_naming_it_and_the_token_is_served(
        gitlab, gitlab_host, home):
    token = new_pat(gitlab, gitlab_host)
    write_config(home, EVERY_GET_CHECKS)
    run("git", "config", "--global", "http.proxy", "http://proxyuser:proxysecret@127.0.0.1:9")
    done = get(gitlab_host)
    assert served(done) == token.token and done.stderr.count("\n") == 1, done.stderr
    assert "through the proxy http://127.0.0.1:9 (git's http.proxy)" in done.stderr
    assert "proxysecret" not in done.stderr and "Traceback" not in done.stderr


def test_a_proxy_credhelper_cannot_use_is_one_line_and_nothing_is_sent(
        gitlab, gitlab_host, home, monkeypatch):
    token = new_pat(gitlab, gitlab_host)
    write_config(home, EVERY_GET_CHECKS)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    before = len(gitlab.requests)
    done = get(gitlab_host)
    assert served(done) == token.token and done.stderr.count("\n") == 1, done.stderr
    assert "socks5://127.0.0.1:1080 (from ALL_PROXY)" in done.stderr
    assert 'proxy = "http://' in done.stderr and len(gitlab.requests) == before


def test_an_answer_lost_behind_the_proxy_is_known_to_have_reached_the_server(
        gitlab, gitlab_host, proxy):
    """The tunnelled request still marks the moment it is sent (gitlab/transport.py): a
    rotation whose answer is lost after GitLab committed is reported, never retried."""
    run("git", "config", "--global", "http.proxy", proxy.url)
    old = new_pat(gitlab, gitlab_host, expires_in_days=1)
    rotations = calls(gitlab, "POST", ROTATE)
    gitlab.faults.drop_after_commit("POST", ROTATE)
    first = get(gitlab_host)
    assert first.stdout == "" and "To recover" in first.stderr
    assert calls(gitlab, "POST", ROTATE) == rotations + 1
    assert gitlab.state.reuse_detections_of_family(old.token) == []


def test_doctor_names_the_proxy_without_its_password(gitlab, gitlab_host, proxy):
    url = proxy.url.replace("http://", "http://proxyuser:proxysecret@")
    run("git", "config", "--global", "http.proxy", url)
    new_pat(gitlab, gitlab_host)
    shown = credhelper("doctor", check=False)
    assert "proxysecret" not in shown.stdout + shown.stderr
    assert "through the proxy http://127.0.0.1:%d (git's http.proxy)" % proxy.port in \
        shown.stdout, shown.stdout


# -- the parsers, by property --------------------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)
SECRETS = st.from_regex(r"[A-Za-z0-9]{12,20}", fullmatch=True)


@given(st.text(max_size=80), SECRETS)
def test_any_proxy_value_is_a_proxy_or_one_line_and_never_shows_its_password(value, secret):
    url = value.replace("@", "", 1) + "@" if "://" in value else ""
    for candidate in (value, "http://user:%s@%s" % (secret, value), url + value):
        try:
            found = proxies.checked(candidate, "from HTTPS_PROXY", "gitlab.example.com")
        except ConfigError as refused:
            text = str(refused)
        else:
            text = found.words
            assert found.url.startswith("http://")
        assert "\n" not in text and (secret not in text or secret in value)


@given(NAMES, NAMES)
def test_no_proxy_names_the_host_its_domains_and_star_only(name, other):
    host = name + ":8443"
    assert proxies.bypassed(host, "*") and proxies.bypassed(host, "x.test, " + name)
    assert proxies.bypassed("www." + host, "." + name)
    same = other == name or name.endswith("." + other)
    assert proxies.bypassed(host, other) == same
    assert not proxies.bypassed(host, "") and not proxies.bypassed(host, None)
