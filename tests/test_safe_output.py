"""Output a server or another program controls (issue 11, item 6): what reaches a terminal, a
CI log or the audit log carries no control or bidi character and no secret credhelper knows.

The fake GitLab answers with terminal escape sequences (set the title, clear the screen), C1
controls and "Trojan source" bidi overrides in error text and scopes, and echoes the very token
it was sent; git hands over a username full of them.  Then: the real executables' stdout and
stderr, and every file credhelper wrote outside its secret store, are checked."""

import base64
import json
import os
import subprocess
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from credhelper import stores
from credhelper.local.audit import read_events
from credhelper.rules import redact
from tests.conftest import credhelper, run, write_config
from tests.test_lifecycle_api import utc_today

SELF = r"/api/v4/personal_access_tokens/self"
OAUTH_INFO = r"/oauth/token/info"
OAUTH_TOKEN = r"/oauth/token"
HOSTILE = "\x1b]0;pwned\x07 \x1b[2J \u202eevil\u202c \u2066x\u2069 \x9b31m \x85 \x7f"
BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
SECRET_FILES = ("secrets.json", "rescued.json", "secrets.index")   # the file store, its copy


def unsafe(text):
    """The characters of ``text`` that must never reach a person: C0 (ESC too; the line
    breaks between lines of output aside), DEL, C1, bidi overrides and isolates, lone
    surrogates."""
    return [c for c in text if c != "\n" and (unicodedata.category(c) in ("Cc", "Cs")
                                              or c in BIDI)]


pytestmark = pytest.mark.usefixtures("gitlab_restored")


@pytest.fixture
def known_secrets():
    """The process-wide set of known secrets, as it was before the test."""
    before = set(stores.KNOWN_SECRETS)
    yield stores.KNOWN_SECRETS
    stores.KNOWN_SECRETS.clear()
    stores.KNOWN_SECRETS.update(before)


def get(host):
    return subprocess.run(["git-credential-gitlab", "get"], input="protocol=https\nhost=%s\n\n"
                          % host, capture_output=True, text=True, timeout=60)


def served(done):
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return lines.get("password")


def written_files():
    """(path, text) of every file under the data and state dirs but the secret stores."""
    for base in (os.environ["XDG_DATA_HOME"], os.environ["XDG_STATE_HOME"]):
        for directory, _, names in os.walk(base):
            for name in names:
                if name not in SECRET_FILES:
                    path = os.path.join(directory, name)
                    with open(path, encoding="utf-8", errors="replace") as handle:
                        yield path, handle.read()


def assert_nowhere(secret, *outputs):
    """``secret`` is in no output and in no file credhelper wrote (but its secret store)."""
    for output in outputs:
        assert secret not in output
    for path, text in written_files():
        assert secret not in text, path


def assert_audit_clean():
    for event in read_events():
        text = json.dumps(event, ensure_ascii=False)
        assert not unsafe(text) and "\n" not in text, event


def check_every_time(home):
    write_config(home, "[policy]\ncheck_interval_hours = 0\n")


# -- the sanitiser ------------------------------------------------------------------------------

SECRETS = st.text(min_size=8, max_size=40)   # shorter secrets are not registered


@settings(max_examples=300, deadline=None)
@given(st.data(), st.lists(SECRETS, min_size=1, max_size=4))
@example(data=None, secrets=["abcd\x1befgh", "glpat-" + "a" * 20, "…" * 8])
def test_scrub_never_shows_a_control_character_or_a_known_secret(data, secrets):
    pieces = (["x", "\x1b", "\u202e", secrets[0], secrets[-1][::-1]] if data is None else
              data.draw(st.lists(st.one_of(st.text(), st.sampled_from(secrets)), max_size=8)))
    text = "".join(pieces)
    before = set(stores.KNOWN_SECRETS)
    try:
        for secret in secrets:
            redact.known_secret(secret)
        shown = redact.scrub(text)
    finally:
        stores.KNOWN_SECRETS.clear()
        stores.KNOWN_SECRETS.update(before)
    assert not unsafe(shown) and "\n" not in shown
    for secret in secrets:
        assert secret not in shown


@given(st.text(), st.lists(SECRETS, max_size=3))
def test_scrub_with_given_secrets_shows_none_of_them(text, secrets):
    shown = redact.scrub(text + "".join(secrets), secrets)
    assert not unsafe(shown) and "\n" not in shown
    assert not any(secret in shown for secret in secrets)


def test_scrub_replaces_a_known_secret_in_an_echoed_basic_header(known_secrets):
    token = os.urandom(20).hex()                  # not token-shaped: only known
    redact.known_secret(token)
    for user in ("u", "ab", "oauth2", "gitlab+deploy-token-7"):
        header = base64.b64encode(("%s:%s" % (user, token)).encode()).decode()
        shown = redact.scrub("the server said: Authorization: Basic %s refused" % header)
        assert token not in shown and header not in shown
        assert header[len(header) // 2 - 6:len(header) // 2 + 6] not in shown


def test_scrub_keeps_ordinary_text_and_turns_line_breaks_into_spaces():
    assert redact.scrub("could not check: 422 Unprocessable — “naïve” ✓") == \
        "could not check: 422 Unprocessable — “naïve” ✓"
    assert redact.scrub("one\ntwo\tthree\r") == "one two three "
    assert redact.scrub("a\x1b[2Jb") == "a\ufffd[2Jb"


# -- server error text, on git's get and in the audit log ----------------------------------------

def test_server_error_text_echoing_the_pat_reaches_no_output_raw(gitlab, gitlab_host, home):
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(90))
    credhelper("add", gitlab_host, input=token.token)
    check_every_time(home)
    gitlab.faults.status("GET", SELF, 422, body=json.dumps(
        {"message": "%s token %s is not welcome" % (HOSTILE, token.token)}))
    done = get(gitlab_host)
    assert served(done) == token.token and "could not check" in done.stderr
    assert not unsafe(done.stderr)
    assert_nowhere(token.token, done.stderr)
    assert any(e["event"] == "check-failed" for e in read_events())
    assert_audit_clean()
    shown = credhelper("status")
    assert not unsafe(shown.stdout + shown.stderr)


def test_a_scope_error_with_hostile_text_is_shown_clean(gitlab, gitlab_host, home):
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(90))
    credhelper("add", gitlab_host, input=token.token)
    check_every_time(home)
    gitlab.faults.status("GET", SELF, 403, body=json.dumps(
        {"error": "insufficient_scope", "scope": HOSTILE + token.token}))
    done = get(gitlab_host)
    assert served(done) == token.token and "lacks the scope" in done.stderr
    assert not unsafe(done.stderr)
    assert_nowhere(token.token, done.stderr)
    assert_audit_clean()


def add_oauth(gitlab, host, expires_in=7200):
    oauth = gitlab.state.create_oauth_token("alice", ["api"], expires_in=expires_in)
    credhelper("add", host, "--kind", "oauth", "--refresh-token", "--client-id", "1",
               input="%s\n%s\n" % (oauth.token, oauth.refresh_token))
    return oauth


def test_an_oauth_token_echoed_in_an_error_is_in_no_output(gitlab, gitlab_host, home):
    oauth = add_oauth(gitlab, gitlab_host)
    assert not oauth.token.startswith("gl")     # opaque: scrub cannot know it by its shape
    check_every_time(home)
    gitlab.faults.status("GET", OAUTH_INFO, 422, body=json.dumps(
        {"error": "invalid_request", "error_description": "%s bad token %s; Basic %s" % (
            HOSTILE, oauth.token,
            base64.b64encode(("oauth2:%s" % oauth.token).encode()).decode())}))
    done = get(gitlab_host)
    assert served(done) == oauth.token and "could not check" in done.stderr
    assert not unsafe(done.stderr)
    assert_nowhere(oauth.token, done.stdout.replace(oauth.token, ""), done.stderr)
    assert_audit_clean()


def test_a_refused_refresh_echoing_both_tokens_is_in_no_output(gitlab, gitlab_host):
    oauth = add_oauth(gitlab, gitlab_host, expires_in=300)     # due for a refresh
    gitlab.faults.status("POST", OAUTH_TOKEN, 400, body=json.dumps(
        {"error": "invalid_grant", "error_description": "%s grant %s for %s is spent" % (
            HOSTILE, oauth.refresh_token, oauth.token)}))
    done = get(gitlab_host)
    assert served(done) == oauth.token and "refused to refresh" in done.stderr
    assert not unsafe(done.stderr)
    for secret in (oauth.token, oauth.refresh_token):
        assert_nowhere(secret, done.stdout.replace(oauth.token, ""), done.stderr)
    assert any(e["event"] == "refresh-failed" for e in read_events())
    assert_audit_clean()


def test_a_refused_rotation_is_clean_in_credhelper_rotate(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(90))
    credhelper("add", gitlab_host, input=token.token)
    gitlab.faults.status("POST", SELF + "/rotate", 400, body=json.dumps(
        {"message": "%s no rotation for %s" % (HOSTILE, token.token)}))
    done = credhelper("rotate", gitlab_host, check=False)
    assert done.returncode == 1 and done.stderr.startswith("credhelper: ")
    assert not unsafe(done.stdout + done.stderr)
    assert_nowhere(token.token, done.stdout, done.stderr)
    assert_audit_clean()


# -- scopes and usernames -------------------------------------------------------------------------

def test_scopes_from_the_server_are_scope_names(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["api", "k8s_proxy", HOSTILE, "read_api\x1b[2J",
                                              "granular_new_scope"], expires_at=utc_today(90))
    added = credhelper("add", gitlab_host, input=token.token)
    assert "scopes api,granular_new_scope,k8s_proxy" in added.stdout   # unknown names stay
    assert not unsafe(added.stdout + added.stderr)
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert row["scopes"] == ["api", "granular_new_scope", "k8s_proxy"]
    shown = credhelper("status")
    assert not unsafe(shown.stdout) and "api,granular_new_scope,k8s_proxy" in shown.stdout


def test_add_scopes_takes_digits_but_no_control_characters(gitlab_host):
    done = credhelper("add", gitlab_host, "--no-check", "--scopes", "k8s_proxy,api",
                      input="glpat-" + "a" * 20)
    assert "Added" in done.stdout
    (row,) = json.loads(credhelper("status", "--json").stdout)
    assert row["scopes"] == ["api", "k8s_proxy"]
    refused = credhelper("add", gitlab_host, "--no-check", "--scopes", "api,\x1b[2J",
                         input="glpat-" + "b" * 20, check=False)
    assert refused.returncode == 1 and not unsafe(refused.stderr)


def test_git_store_refuses_a_username_with_control_characters(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(90))
    credhelper("add", gitlab_host, input=token.token)
    secret = os.urandom(16).hex()
    done = run("git-credential-gitlab", "store", check=False, input=(
        "protocol=https\nhost=%s\nusername=bob\x1b]0;pwned\x07\u202e\npassword=%s\n\n"
        % (gitlab_host, secret)))
    assert not unsafe(done.stderr) and secret not in done.stderr
    assert [row["origin"] for row in json.loads(credhelper("status", "--json").stdout)] == \
        ["added"]


def test_a_hostile_index_entry_is_shown_clean(gitlab, gitlab_host):
    """A username, scope, token name or hint in the index (written by an older version, or
    edited by hand) is shown without its control characters."""
    token = gitlab.state.create_pat("alice", ["api"], expires_at=utc_today(1))
    credhelper("add", gitlab_host, "--path", "group/app", input=token.token)
    index = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")
    with open(index) as handle:
        data = json.load(handle)
    (entry,) = data["tokens"]
    entry.update(username="bob" + HOSTILE, scopes=["api", HOSTILE],
                 hint="glpat-…" + HOSTILE, token_name="name" + HOSTILE, state="lost-in-rotation",
                 extra={"lost_at": 0})
    with open(index, "w") as handle:
        json.dump(data, handle)
    outputs = [credhelper("list"), credhelper("status"), credhelper("attend", check=False),
               credhelper("rotate", gitlab_host, check=False),
               run("git-credential-gitlab", "get", check=False,
                   input="protocol=https\nhost=%s\npath=group/app\n\n" % gitlab_host)]
    assert "lost" in outputs[1].stdout and "revoke the active token named" in outputs[4].stderr
    for done in outputs:
        assert not unsafe(done.stdout + done.stderr), done
