"""Every API destination is bound to the token's host (issue 11, item 2): the PAT, its DPoP
proofs and an OAuth refresh token only ever go to https on the record's own host and port,
unless the config allows another origin for that host in so many words."""

import json
import os
import pathlib

import pytest

from tests.conftest import credhelper, run, write_config

PAT = "glpat-destinationdestination01"


def _stored():
    return json.loads(credhelper("status", "--json").stdout)


@pytest.mark.parametrize("api_url", [
    "http://gitlab.example.com/api/v4",                 # plain http, not allowed for the host
    "https://evil.test/api/v4",                         # another host
    "https://gitlab.example.com.evil.test/api/v4",      # a suffix is another host
    "https://gitlab.example.com:8443/api/v4",           # another port is another origin
    "https://user:pass@gitlab.example.com/api/v4",      # userinfo
    "https://gitlab.example.com@evil.test/api/v4",      # userinfo hiding the real host
    "https://gitlab.example.com/api/v4?x=1",            # a query
    "https://gitlab.example.com/api/v4#top",            # a fragment
    "ftp://gitlab.example.com/api/v4",
])
def test_add_refuses_an_api_url_off_the_tokens_host_with_one_line(api_url):
    done = credhelper("add", "gitlab.example.com", "--no-check", "--api-url", api_url,
                      input=PAT, check=False)
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1 and "--api-url" in done.stderr
    assert "pass" not in done.stderr and "Traceback" not in done.stderr
    assert _stored() == []


@pytest.mark.parametrize("api_url", ["https://gitlab.example.com/api/v4",
                                     "https://GitLab.Example.com:443/api/v4/"])
def test_add_takes_an_api_url_on_the_tokens_own_origin(api_url):
    credhelper("add", "gitlab.example.com", "--no-check", "--api-url", api_url, input=PAT)
    assert [row["host"] for row in _stored()] == ["gitlab.example.com"]


def test_add_takes_another_origin_the_config_allows_for_that_host():
    write_config_for("gitlab.example.com", 'allow_api_origin = "https://api.example.com"\n')
    credhelper("add", "gitlab.example.com", "--no-check", "--api-url",
               "https://api.example.com/api/v4", input=PAT)
    done = credhelper("add", "gitlab.example.com", "--no-check", "--api-url",
                      "https://api.example.com:8443/api/v4", input=PAT, check=False)
    assert done.returncode == 1 and "--api-url" in done.stderr


def write_config_for(host, text, mode=0o600):
    config = write_config(pathlib.Path(os.environ["HOME"]), '[hosts."%s"]\n%s' % (host, text), append=False)
    os.chmod(config, mode)
    return config


@pytest.fixture
def localhost(gitlab, home):
    """``localhost:PORT`` (the fake's https origin) with the test CA trusted for it, and a
    PAT there that credhelper checked when it was added."""
    host = "localhost:%d" % gitlab.port
    write_config_for(host, 'ca_file = "%s"\n' % gitlab.ca.ca_file)
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", host, input=token)
    assert _stored()[0]["checked_at"]
    return host, token


def _get(host):
    return run("git-credential-gitlab", "get", input="protocol=https\nhost=%s\n\n" % host,
               check=False)


@pytest.mark.parametrize("extra, message", [
    ("", "api_url"),                                    # http without allow_http
    ("allow_http = true\n", "api_url"),                 # http, but on another port
])
def test_a_config_api_url_off_the_host_is_refused_and_no_token_goes_there(
        gitlab, localhost, extra, message):
    host, token = localhost
    sent = len(gitlab.requests.carrying(token))
    # the config changed: the next get must check the token, at the API the config names
    write_config_for(host, 'ca_file = "%s"\napi_url = "http://localhost:%d/api/v4"\n%s'
                     % (gitlab.ca.ca_file, gitlab.http_port, extra))
    done = _get(host)
    assert len(gitlab.requests.carrying(token)) == sent
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_config_others_can_write_is_refused_and_its_api_url_not_followed(gitlab, localhost):
    """Another user rewrote a 0666 config to send the API calls to their plain-http server
    (the change itself makes the next get check the token): the file is refused."""
    host, token = localhost
    sent = len(gitlab.requests.carrying(token))
    write_config_for(host, 'ca_file = "%s"\napi_url = "http://localhost:%d/api/v4"\n'
                     % (gitlab.ca.ca_file, gitlab.http_port), mode=0o666)
    done = _get(host)
    assert len(gitlab.requests.carrying(token)) == sent
    assert "writable by others" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert len(gitlab.requests.carrying(token)) == sent


def test_a_stored_record_with_an_api_url_off_its_host_is_refused_at_use(gitlab, localhost):
    """A record written before the rule (or by hand) is not followed either."""
    host, token = localhost
    index = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")
    with open(index) as handle:
        data = json.load(handle)
    data["tokens"][0]["api_url"] = "http://localhost:%d/api/v4" % gitlab.http_port
    data["tokens"][0]["checked_at"] = None                 # due for a check now
    with open(index, "w") as handle:
        json.dump(data, handle)
    sent = len(gitlab.requests.carrying(token))
    done = _get(host)
    assert len(gitlab.requests.carrying(token)) == sent
    assert "api_url" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    refresh = credhelper("status", "--refresh", check=False)
    assert "api_url" in refresh.stderr
    assert len(gitlab.requests.carrying(token)) == sent


@pytest.mark.parametrize("host, api_url, allow_http, allowed, expected", [
    ("gitlab.example.com", None, False, None,
     ("https://gitlab.example.com", "https://gitlab.example.com/api/v4")),
    ("gitlab.example.com:8443", "https://GitLab.example.com:8443/gitlab/api/v4/", False, None,
     ("https://gitlab.example.com:8443/gitlab", "https://gitlab.example.com:8443/gitlab/api/v4")),
    ("[::1]:8443", "https://[::1]:8443/api/v4", False, None,
     ("https://[::1]:8443", "https://[::1]:8443/api/v4")),
    ("gitlab.internal", "http://gitlab.internal/api/v4", True, None,
     ("http://gitlab.internal", "http://gitlab.internal/api/v4")),
    ("gitlab.example.com", "https://api.example.com:8443/api/v4", False,
     "https://api.example.com:8443",
     ("https://api.example.com:8443", "https://api.example.com:8443/api/v4")),
])
def test_endpoints_stay_on_the_tokens_origin(host, api_url, allow_http, allowed, expected):
    from credhelper.rules.destinations import endpoints

    assert endpoints(host, api_url, allow_http, allowed) == expected


@pytest.mark.parametrize("api_url, allow_http, allowed", [
    ("https://gitlab.example.com/../api/v4", False, None),
    ("https://gitlab.example.com:0/api/v4", False, None),
    ("http://api.example.com/api/v4", False, "http://api.example.com"),
    ("http://api.example.com/api/v4", True, "https://api.example.com"),
    ("https://gitlab.example.com\r\n/api/v4", False, None),
    ("gitlab.example.com/api/v4", False, None),
])
def test_endpoints_refuse_everything_else(api_url, allow_http, allowed):
    from credhelper.errors import InvalidInput
    from credhelper.rules.destinations import endpoints

    with pytest.raises(InvalidInput):
        endpoints("gitlab.example.com", api_url, allow_http, allowed)
