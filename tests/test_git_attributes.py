"""What newer git (2.40 to 2.55) sends to a helper and expects back, at the protocol level: the
machines have git 2.39, so git-credential-gitlab is driven with the exact lines newer git writes
(git's credential.c credential_write; docs/protocols.md#newer-git-attributes).

git 2.46 and later, for HTTP, announce ``capability[]=authtype`` and ``capability[]=state``
before every ``get``; a helper may then answer with ``ephemeral``, which credential-cache
honours ("not storing ephemeral credential"), but it must not send a key whose capability git
did not announce."""

import datetime
import json
import os

import pytest

from tests.conftest import credhelper, run

NEW_GIT = "capability[]=authtype\ncapability[]=state\n"       # git 2.46+, HTTP
STATE_ONLY = "capability[]=state\n"


pytestmark = pytest.mark.usefixtures("gitlab_restored")


def utc_day(offset):
    return datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)


def helper(action, text, env=None, check=True):
    return run("git-credential-gitlab", action, input=text, env=env, check=check)


def answer(done):
    """The answer's lines in order, as (key, value) pairs."""
    return [tuple(line.split("=", 1)) for line in done.stdout.splitlines()]


def request(host, before="", after=""):
    return "%sprotocol=https\nhost=%s\n%s\n" % (before, host, after)


def add_pat(gitlab, host, expires_in_days, *options):
    token = gitlab.state.create_pat("alice", ["read_repository"],
                                    expires_at=utc_day(expires_in_days))
    credhelper("add", host, *options, input=token.token)
    return token


def stored_files():
    """Every byte credhelper keeps on disk (index, file store, journal, audit log)."""
    root = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper")
    state = os.path.join(os.environ["XDG_STATE_HOME"], "credhelper")
    found = b""
    for top in (root, state):
        for directory, _, names in os.walk(top):
            for name in names:
                with open(os.path.join(directory, name), "rb") as handle:
                    found += handle.read()
    return found


# -- get: ephemeral only for short-lived credentials, only when git announced authtype -------

def test_a_long_lived_token_is_answered_as_before_whatever_git_announces(gitlab, gitlab_host):
    token = add_pat(gitlab, gitlab_host, 90)
    for announced in ("", NEW_GIT, STATE_ONLY):
        done = helper("get", request(gitlab_host, announced))
        assert [key for key, _ in answer(done)] == ["username", "password",
                                                    "password_expiry_utc"]
        assert dict(answer(done))["password"] == token.token


def test_a_token_with_less_than_a_day_left_is_marked_ephemeral_for_new_git(gitlab, gitlab_host):
    token = add_pat(gitlab, gitlab_host, 1)          # invalid from 00:00 UTC tomorrow
    done = helper("get", request(gitlab_host, NEW_GIT))
    lines = answer(done)
    assert lines[0] == ("capability[]", "authtype")   # before the keys that depend on it
    assert ("ephemeral", "1") in lines and dict(lines)["password"] == token.token
    expiry = datetime.datetime.combine(utc_day(1), datetime.time(),
                                       tzinfo=datetime.timezone.utc).timestamp()
    assert dict(lines)["password_expiry_utc"] == str(int(expiry))


@pytest.mark.parametrize("announced", ["", STATE_ONLY, "capability[]=future\n",
                                       "capability[]=authtype\ncapability[]=\n"])
def test_nothing_is_sent_for_a_capability_git_did_not_announce(gitlab, gitlab_host, announced):
    add_pat(gitlab, gitlab_host, 1)
    done = helper("get", request(gitlab_host, announced,
                                 "wwwauth[]=Basic realm=\"GitLab\"\nstate[]=other:1\n"))
    keys = [key for key, _ in answer(done)]
    assert keys == ["username", "password", "password_expiry_utc"]


def test_a_ci_job_token_is_ephemeral_for_new_git(gitlab, home):
    host = "gitlab.example.com:%d" % gitlab.port
    env = dict(os.environ, GITLAB_CI="true", CI_JOB_TOKEN="glcbt-64_jobjobjobjobjobjobjob",
               CI_SERVER_URL="https://%s" % host)
    lines = answer(helper("get", request(host, NEW_GIT), env=env))
    assert lines == [("capability[]", "authtype"), ("username", "gitlab-ci-token"),
                     ("password", "glcbt-64_jobjobjobjobjobjobjob"), ("ephemeral", "1")]
    lines = answer(helper("get", request(host, STATE_ONLY), env=env))
    assert [key for key, _ in lines] == ["username", "password"]


def test_an_oauth_token_is_ephemeral_and_its_refresh_token_never_leaves(gitlab, gitlab_host):
    oauth = gitlab.state.create_oauth_token("alice", ["read_repository"])
    credhelper("add", gitlab_host, "--kind", "oauth", "--refresh-token", "--client-id", "1",
               input="%s\n%s\n" % (oauth.token, oauth.refresh_token))
    for announced in (NEW_GIT, ""):
        done = helper("get", request(gitlab_host, announced))
        assert oauth.refresh_token not in done.stdout + done.stderr
        assert "oauth_refresh_token" not in done.stdout
        assert dict(answer(done))["password"] == oauth.token
        assert (("ephemeral", "1") in answer(done)) == bool(announced)


# -- store: what newer git asks a storage helper to keep --------------------------------------

def test_store_of_an_ephemeral_credential_keeps_nothing(gitlab, gitlab_host):
    other = gitlab.state.create_pat("alice", ["read_repository"])
    helper("store", request(gitlab_host, NEW_GIT, "username=alice\npassword=%s\nephemeral=1\n"
                            % other.token))
    assert json.loads(credhelper("status", "--json").stdout) == []
    assert other.token.encode() not in stored_files()


def test_store_keeps_git_s_expiry_and_never_serves_past_it(gitlab, gitlab_host):
    other = gitlab.state.create_pat("alice", ["read_repository"])
    soon = int(datetime.datetime.now(datetime.timezone.utc).timestamp()) + 3600
    helper("store", request(gitlab_host, "", "username=alice\npassword=%s\n"
                            "password_expiry_utc=%d\n" % (other.token, soon)))
    done = helper("get", request(gitlab_host, "", "username=alice\n"))
    assert dict(answer(done)) == {"username": "alice", "password": other.token,
                                  "password_expiry_utc": str(soon)}


def test_store_of_an_already_expired_credential_keeps_nothing(gitlab, gitlab_host):
    other = gitlab.state.create_pat("alice", ["read_repository"])
    helper("store", request(gitlab_host, "", "username=alice\npassword=%s\n"
                            "password_expiry_utc=1000000000\n" % other.token))
    assert json.loads(credhelper("status", "--json").stdout) == []


def test_a_refresh_token_git_passes_along_is_never_kept(gitlab, gitlab_host):
    oauth = gitlab.state.create_oauth_token("alice", ["read_repository"])
    helper("store", request(gitlab_host, "", "username=oauth2\npassword=%s\n"
                            "oauth_refresh_token=%s\n" % (oauth.token, oauth.refresh_token)))
    helper("erase", request(gitlab_host, "", "username=oauth2\npassword=%s\n"
                            "oauth_refresh_token=%s\n" % (oauth.token, oauth.refresh_token)))
    assert oauth.refresh_token.encode() not in stored_files()


# -- strict reading of the newer values --------------------------------------------------------

MALFORMED = [
    "ephemeral=maybe",
    "ephemeral=1 ",
    "continue=yes please",
    "quit=٣",                                   # a digit, but not an ASCII one
    "password_expiry_utc=soon",
    "password_expiry_utc=-5",
    "password_expiry_utc=١٧٠٠٠٠٠٠٠٠",
    "password_expiry_utc=" + "9" * 400,
]


def test_a_malformed_newer_value_gets_one_line_and_no_answer(gitlab, gitlab_host):
    add_pat(gitlab, gitlab_host, 90)
    for line in MALFORMED:
        for action in ("get", "store", "erase"):
            done = helper(action, request(gitlab_host, NEW_GIT, "username=alice\npassword=x\n"
                                          "%s\n" % line), check=False)
            assert (done.returncode, done.stdout) == (1, ""), (line, action)
            assert done.stderr.count("\n") == 1, (line, action)
            assert done.stderr.startswith("git-credential-gitlab: "), (line, action)
    assert [row["origin"] for row in json.loads(credhelper("status", "--json").stdout)] == [
        "added"]


def test_git_s_boolean_words_are_all_accepted(gitlab, gitlab_host):
    token = add_pat(gitlab, gitlab_host, 90)
    for value in ("1", "true", "TRUE", "Yes", "on", "0", "false", "no", "off", "", "-1", "42"):
        done = helper("get", request(gitlab_host, NEW_GIT, "ephemeral=%s\ncontinue=%s\n"
                                     % (value, value)))
        assert dict(answer(done))["password"] == token.token, value


def test_other_newer_keys_are_ignored_and_never_echoed(gitlab, gitlab_host):
    token = add_pat(gitlab, gitlab_host, 90)
    done = helper("get", request(gitlab_host, NEW_GIT,
                                 "authtype=Bearer\ncredential=abc\nstate[]=helper:x\n"
                                 "wwwauth[]=Basic realm=\"GitLab\"\ncontinue=1\n"
                                 "password_expiry_utc=0\nfuture_key[]=1\n"))
    assert dict(answer(done))["password"] == token.token
    for key in ("authtype", "credential", "state[]", "continue", "wwwauth[]"):
        assert key not in dict(answer(done))
