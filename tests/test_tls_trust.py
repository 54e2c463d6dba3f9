"""TLS like the rest of the user's tools (issue 12, item 4): the fake GitLab's CA is trusted
when the user told git or OpenSSL about it, with no credhelper setting; ``ca_file`` takes
``~``; a bad ``ca_file`` or a TLS failure is one line naming what to set and where.

The machine's environment points SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and
GIT_SSL_CAINFO at the system bundle, which does not hold the test CA: each test sets them."""

import datetime
import json
import os
import shutil
import sys

import pytest

from tests.conftest import credhelper, run, write_config

BUNDLE_VARIABLES = ("GIT_SSL_CAINFO", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
                    "SSL_CERT_DIR")
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture
def host(gitlab, home):
    """``gitlab.example.com:PORT`` with its API reached as localhost, and no CA setting."""
    name = "gitlab.example.com:%d" % gitlab.port
    write_config(home, '[hosts."%s"]\napi_url = "https://localhost:%d/api/v4"\n'
                 'allow_api_origin = "https://localhost:%d"\n' % (name, gitlab.port, gitlab.port))
    return name


@pytest.fixture
def system_trust_only(monkeypatch):
    """Every CA variable at the system bundle (as on this machine), whatever the caller had."""
    for name in BUNDLE_VARIABLES:
        monkeypatch.setenv(name, SYSTEM_BUNDLE if name != "SSL_CERT_DIR" else "/etc/ssl/certs")


def due_pat(gitlab):
    """An api-scoped PAT that expires tomorrow: due for rotation at its first use."""
    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    return gitlab.state.create_pat("alice", ["api"], expires_at=tomorrow)


def add(host, token, check=True):
    return credhelper("add", host, input=token + "\n", check=check)


def assert_checked_and_rotated(gitlab, host, old):
    """`add` asked the server, `rotate` rotated: both API calls went through TLS."""
    added = add(host, old.token)
    assert "The server says: scopes api" in added.stdout, added.stdout + added.stderr
    assert added.stderr == ""
    rotated = credhelper("rotate", host)
    assert rotated.stdout.startswith("Rotated"), rotated.stdout + rotated.stderr
    (new,) = gitlab.state.descendants(old)
    assert gitlab.state.is_active(new)


def test_a_ca_only_in_ssl_cert_file_serves_checks_and_rotation(gitlab, host, monkeypatch):
    for name in BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", gitlab.ca.ca_file)
    assert_checked_and_rotated(gitlab, host, due_pat(gitlab))


def test_a_ca_only_in_requests_ca_bundle_is_trusted(gitlab, host, system_trust_only,
                                                   monkeypatch):
    monkeypatch.delenv("GIT_SSL_CAINFO")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", gitlab.ca.ca_file)
    added = add(host, gitlab.state.create_pat("alice", ["read_api"]).token)
    assert "The server says" in added.stdout and added.stderr == ""


def clone_checks_and_rotates(gitlab, host, project, tmp_path):
    """A near-expiry PAT added with no check and no CA setting of credhelper's: the `get`
    inside a real `git clone` checks it and rotates it, over TLS; git clones with the new
    token, and `status` shows a checked token, not an unchecked one."""
    old = due_pat(gitlab)
    credhelper("add", host, "--no-check", input=old.token + "\n")
    credhelper("setup", "git")
    rotations = gitlab.count("POST", r".*/rotate")
    checkout = tmp_path / "clone"
    done = run("git", *gitlab.git_config_args(), "clone", "-q",
               "https://%s/%s.git" % (host, project), str(checkout))
    (said,) = done.stderr.splitlines()                 # the rotation, and no TLS warning
    assert said.startswith("credhelper: rotated the access token for %s: " % host), said
    assert (checkout / ".git").is_dir()
    assert gitlab.count("POST", r".*/rotate") == rotations + 1
    (new,) = gitlab.state.descendants(old)
    assert gitlab.state.is_active(new)
    assert not gitlab.state.is_active(gitlab.state.find_token(old.token))
    fetches = [r for r in gitlab.requests.carrying(new.token) if r.path.startswith("/" + project)]
    assert fetches and all(r.status == 200 for r in fetches)       # git got the new token
    assert not [r for r in gitlab.requests.carrying(old.token)
                if r.path.startswith("/" + project)]
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert row["checked_at"] is not None and row["state"] == "ok", row


def test_a_ca_only_in_ssl_cert_file_serves_the_check_and_rotation_inside_git(
        gitlab, host, project, tmp_path, system_trust_only, monkeypatch):
    """The Done-means of issue 12: credhelper's only way to the CA is SSL_CERT_FILE.  git
    is given the CA for the project's path only (as its own bundle would hold it), which
    credhelper's lookup for ``https://HOST/`` does not match."""
    for name in ("GIT_SSL_CAINFO", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("SSL_CERT_FILE", gitlab.ca.ca_file)        # SSL_CERT_DIR: the system's
    run("git", "config", "--global", "http.https://%s/%s/.sslCAInfo"
        % (host, project.split("/")[0]), gitlab.ca.ca_file)
    seen = run("git", "config", "--get-urlmatch", "http.sslCAInfo", "https://%s/" % host,
               check=False)
    assert seen.stdout == ""                             # credhelper sees nothing from git
    clone_checks_and_rotates(gitlab, host, project, tmp_path)


def test_a_ca_only_in_gits_ssl_cainfo_for_the_host_serves_git_checks_and_rotation(
        gitlab, host, project, tmp_path, system_trust_only, monkeypatch):
    """git's own `http.<url>.sslCAInfo` for this host: git trusts the server, and so does
    credhelper, on the check and rotation that happen inside git's `get`."""
    monkeypatch.delenv("GIT_SSL_CAINFO")
    # another host's setting, and a less specific one, must not count
    run("git", "config", "--global", "http.https://other.example.com/.sslCAInfo", SYSTEM_BUNDLE)
    run("git", "config", "--global", "http.sslCAInfo", SYSTEM_BUNDLE)
    run("git", "config", "--global", "http.https://%s/.sslCAInfo" % host, gitlab.ca.ca_file)
    clone_checks_and_rotates(gitlab, host, project, tmp_path)


def test_gits_environment_variable_wins_over_its_config(gitlab, host, system_trust_only,
                                                       monkeypatch):
    """As in git: GIT_SSL_CAINFO overrides http.sslCAInfo."""
    run("git", "config", "--global", "http.https://%s/.sslCAInfo" % host, SYSTEM_BUNDLE)
    monkeypatch.setenv("GIT_SSL_CAINFO", gitlab.ca.ca_file)
    added = add(host, gitlab.state.create_pat("alice", ["read_api"]).token)
    assert "The server says" in added.stdout and added.stderr == ""


def test_ca_file_under_the_home_directory_with_a_tilde(gitlab, host, home, system_trust_only):
    shutil.copy(gitlab.ca.ca_file, home / "ca.pem")
    write_config(home, 'ca_file = "~/ca.pem"\n')          # into the host's table
    added = add(host, gitlab.state.create_pat("alice", ["read_api"]).token)
    assert "The server says" in added.stdout and added.stderr == ""


def test_a_relative_ca_file_is_refused_with_one_line(gitlab, host, home, system_trust_only):
    shutil.copy(gitlab.ca.ca_file, home / "ca.pem")
    config = write_config(home, 'ca_file = "ca.pem"\n')
    done = add(host, gitlab.state.create_pat("alice", ["read_api"]).token, check=False)
    assert done.returncode != 0
    (line,) = done.stderr.splitlines()
    assert str(config) in line and "ca_file must be an absolute path" in line, line


def git_get(gitlab, host):
    env = dict(os.environ, **gitlab.git_env())
    return run("git", "credential", "fill", input="protocol=https\nhost=%s\n\n" % host, env=env)


def test_a_missing_ca_file_is_one_line_at_add(gitlab, host, home, system_trust_only):
    config = write_config(home, 'ca_file = "~/no-such-ca.pem"\n')
    added = add(host, gitlab.state.create_pat("alice", ["read_api"]).token)
    (line,) = added.stderr.splitlines()
    assert "%s: no such file" % (home / "no-such-ca.pem") in line and str(config) in line, line


def test_a_missing_ca_file_is_one_line_and_git_still_gets_its_token(gitlab, host, home,
                                                                    system_trust_only):
    write_config(home, 'ca_file = "/nonexistent/ca.pem"\n')
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    credhelper("add", host, "--no-check", input=token + "\n")
    credhelper("setup", "git")
    answer = git_get(gitlab, host)                   # never checked: it tries, and serves
    assert "password=%s" % token in answer.stdout
    (line,) = answer.stderr.splitlines()
    assert "/nonexistent/ca.pem: no such file" in line and token not in line, line


def test_a_tls_failure_is_one_line_naming_the_setting_and_the_config_file(
        gitlab, host, home, system_trust_only, monkeypatch):
    monkeypatch.delenv("GIT_SSL_CAINFO")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE")
    added = add(host, gitlab.state.create_pat("alice", ["read_api"]).token)
    (line,) = added.stderr.splitlines()
    config = home / ".config" / "credhelper" / "config.toml"
    assert "TLS with localhost:%d failed (certificate verify failed: " % gitlab.port in line
    assert "trusting SSL_CERT_FILE=%s" % SYSTEM_BUNDLE in line
    assert 'set ca_file = "/path/to/ca.pem" under [hosts."%s"] in %s' % (host, config) in line
    assert "SSLError" not in line and "Caused by" not in line and "_ssl.c" not in line


def test_with_no_ca_setting_at_all_the_os_trust_store_decides(monkeypatch):
    for name in BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    import truststore

    from credhelper.local.trust import Trust

    trust = Trust("unconfigured.example.com")
    assert trust.source().words == "the system trust store"
    assert isinstance(trust.context(), truststore.SSLContext)


def test_the_everyday_get_loads_no_tls_trust(gitlab, host, home):
    shutil.copy(gitlab.ca.ca_file, home / "ca.pem")
    write_config(home, 'ca_file = "~/ca.pem"\n')
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    add(host, token)
    helper = shutil.which("git-credential-gitlab")
    done = run(sys.executable, "-X", "importtime", helper, "get",
               input="protocol=https\nhost=%s\n\n" % host)
    assert "password=%s" % token in done.stdout
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:")}
    assert not modules & {"truststore", "ssl", "subprocess", "credhelper.local.trust"}, modules


def test_add_ca_file_is_kept_for_the_tokens_checks_and_rotation(gitlab, host, home,
                                                                system_trust_only):
    shutil.copy(gitlab.ca.ca_file, home / "ca.pem")
    old = due_pat(gitlab)
    added = credhelper("add", host, "--ca-file", "~/ca.pem", input=old.token + "\n")
    assert "The server says: scopes api" in added.stdout and added.stderr == ""
    rotated = credhelper("rotate", host)                 # a later command: from the record
    assert rotated.stdout.startswith("Rotated"), rotated.stdout + rotated.stderr
    (new,) = gitlab.state.descendants(old)
    assert gitlab.state.is_active(new)


def test_add_refuses_a_ca_file_that_is_not_there(gitlab, host, home):
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    done = credhelper("add", host, "--ca-file", "~/nowhere.pem", input=token + "\n",
                      check=False)
    assert done.returncode != 0
    (line,) = done.stderr.splitlines()
    assert "--ca-file: no file %s" % (home / "nowhere.pem") in line and token not in line


def test_a_token_no_check_ever_reached_is_shown_unchecked_not_ok(gitlab, host,
                                                                 system_trust_only):
    """Every API call fails TLS: the token is served, and `status` does not call it ok."""
    add(host, gitlab.state.create_pat("alice", ["api"]).token)       # the check fails
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert row["state"] == "unchecked" and row["checked_at"] is None
    table = credhelper("status", "--table").stdout
    assert "unchecked" in table and " ok " not in table


def test_gits_ssl_cainfo_with_a_tilde_is_expanded_as_git_does(gitlab, host, home,
                                                             system_trust_only, monkeypatch):
    monkeypatch.delenv("GIT_SSL_CAINFO")
    shutil.copy(gitlab.ca.ca_file, home / "git-ca.pem")
    run("git", "config", "--global", "http.https://%s/.sslCAInfo" % host, "~/git-ca.pem")
    added = add(host, gitlab.state.create_pat("alice", ["read_api"]).token)
    assert "The server says" in added.stdout and added.stderr == ""



def hashed_ca_directory(gitlab, directory):
    """A directory of CAs as OpenSSL looks them up (``HASH.0``), as c_rehash makes it."""
    directory.mkdir()
    name = run("openssl", "x509", "-hash", "-noout", "-in", gitlab.ca.ca_file).stdout.strip()
    shutil.copy(gitlab.ca.ca_file, directory / (name + ".0"))
    return directory


@pytest.mark.parametrize("how", ["config", "environment"])
def test_a_ca_only_in_gits_ssl_capath_is_trusted(gitlab, host, home, tmp_path,
                                                 system_trust_only, monkeypatch, how):
    """git's http.<url>.sslCAPath (or GIT_SSL_CAPATH): a directory, used beside sslCAInfo
    (here the system bundle, from GIT_SSL_CAINFO) as git's curl uses both."""
    directory = hashed_ca_directory(gitlab, tmp_path / "cas")
    if how == "config":
        run("git", "config", "--global", "http.https://%s/.sslCAPath" % host, str(directory))
    else:
        monkeypatch.setenv("GIT_SSL_CAPATH", str(directory))
    added = add(host, gitlab.state.create_pat("alice", ["read_api"]).token)
    assert "The server says" in added.stdout and added.stderr == "", added.stderr

# -- `credhelper doctor` flags a host its API calls cannot reach over TLS ---------------------

def doctor():
    return credhelper("doctor", check=False)


def test_doctor_names_a_tls_broken_host_and_what_to_set(gitlab, host, home, system_trust_only,
                                                       monkeypatch):
    for name in ("GIT_SSL_CAINFO", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name)
    token = gitlab.state.create_pat("alice", ["api"])
    add(host, token.token)
    credhelper("setup", "git")
    carried = len(gitlab.requests.carrying(token.token))
    done = doctor()
    assert done.returncode == 1, done.stdout + done.stderr
    (problem,) = [line for line in done.stdout.splitlines() if line.startswith("problem:")]
    config = home / ".config" / "credhelper" / "config.toml"
    assert problem.startswith("problem: %s: TLS with localhost:%d failed (certificate verify "
                              "failed: " % (host, gitlab.port)), problem
    assert "trusting SSL_CERT_FILE=%s" % SYSTEM_BUNDLE in problem
    assert 'set ca_file = "/path/to/ca.pem" under [hosts."%s"] in %s' % (host, config) in problem
    assert token.token not in done.stdout + done.stderr
    assert len(gitlab.requests.carrying(token.token)) == carried     # the probe sends no token

    monkeypatch.setenv("SSL_CERT_FILE", gitlab.ca.ca_file)          # as the user would fix it
    fixed = doctor()
    assert fixed.returncode == 0, fixed.stdout
    assert "\n  %s: TLS ok with https://localhost:%d, trusting SSL_CERT_FILE=%s " % (
        host, gitlab.port, gitlab.ca.ca_file) in fixed.stdout, fixed.stdout


def test_doctor_says_tls_ok_once_ca_file_is_set(gitlab, host, home, system_trust_only):
    add(host, gitlab.state.create_pat("alice", ["api"]).token)
    credhelper("setup", "git")
    assert doctor().returncode == 1
    write_config(home, 'ca_file = "%s"\n' % gitlab.ca.ca_file)
    done = doctor()
    assert done.returncode == 0, done.stdout
    assert "  %s: TLS ok with https://localhost:%d, trusting ca_file %s" % (
        host, gitlab.port, gitlab.ca.ca_file) in done.stdout.splitlines(), done.stdout


def test_doctor_names_a_ca_file_that_is_not_there(gitlab, host, home, system_trust_only):
    add(host, gitlab.state.create_pat("alice", ["api"]).token)
    credhelper("setup", "git")
    write_config(home, 'ca_file = "~/no-such-ca.pem"\n')
    done = doctor()
    assert done.returncode == 1
    (problem,) = [line for line in done.stdout.splitlines() if line.startswith("problem:")]
    assert "%s: no such file" % (home / "no-such-ca.pem") in problem, problem
    assert "Traceback" not in done.stdout + done.stderr


def test_doctor_tells_an_unreachable_api_apart_from_a_tls_problem(home):
    """Offline from here is not a set-up problem: one line, and doctor's verdict stands."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    write_config(home, '[hosts."gitlab.example.com"]\napi_url = "https://localhost:%d/api/v4"\n'
                 'allow_api_origin = "https://localhost:%d"\n' % (closed, closed))
    credhelper("add", "gitlab.example.com", "--no-check", input="glpat-offlineofflineoffline01\n")
    credhelper("setup", "git")
    done = doctor()
    assert done.returncode == 0, done.stdout
    assert "\n  gitlab.example.com: TLS not checked: cannot connect to localhost:%d (" % closed \
        in done.stdout, done.stdout
