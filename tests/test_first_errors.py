"""Errors a new user meets first, each with one line that says what to do (issue 13, item 6),
through the real executables against the fake GitLab (and, for the prompt, a real terminal)."""

import json
import os
import pty
import select
import socket
import time

import pytest

from tests.conftest import credhelper, run


def _index():
    path = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return json.load(handle)["tokens"]


def _one_line(done, returncode=1):
    assert done.returncode == returncode, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "internal error" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


# --- DNS ------------------------------------------------------------------------------------

def test_a_name_that_does_not_resolve_is_said_so():
    """`add` (which checks the token with the server) and `status --refresh` both say the
    name does not resolve; nothing calls it a dropped connection."""
    host = "gitlab.nosuch-%d.invalid" % os.getpid()
    added = credhelper("add", host, input="glpat-unresolvedunresolved01")
    assert "cannot resolve %s" % host in added.stderr, added.stderr
    refreshed = credhelper("status", "--refresh")
    for said in (added.stderr, refreshed.stderr):
        assert "closed the connection" not in said and "internal error" not in said
    assert "cannot resolve %s" % host in refreshed.stderr, refreshed.stderr


def test_a_resolver_error_wrapped_by_urllib3_is_still_a_resolution_failure():
    """urllib3 wraps the resolver's error differently on other paths (a ProtocolError, a
    proxy's error); the words must not depend on the wrapping."""
    import requests
    from urllib3.exceptions import ProtocolError

    from credhelper.gitlab import transport

    gaierror = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    wrapped = requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", gaierror))
    assert transport._failed(wrapped, transport.Exchange(time.monotonic() + 5)).kind == "resolve"


# --- the token's prefix and --kind -----------------------------------------------------------

@pytest.mark.parametrize("kind, made, said", [
    (["--kind", "deploy", "--username", "someone"], "pat", "prefix glpat- marks an access token"),
    (["--kind", "oauth"], "pat", "--kind oauth contradicts the token"),
    (["--kind", "pat"], "deploy", "prefix gldt- marks a deploy token"),
    (["--kind", "oauth"], "job", "prefix glcbt- marks a job token"),
])
def test_a_token_whose_prefix_contradicts_kind_is_refused(gitlab, gitlab_host, kind, made, said):
    token = {"pat": lambda: gitlab.state.create_pat("alice", ["read_repository"]).token,
             "deploy": lambda: "gldt-" + "d" * 20, "job": lambda: "glcbt-64_" + "j" * 20}[made]()
    stderr = _one_line(credhelper("add", gitlab_host, *kind, input=token, check=False))
    assert said in stderr and "drop --kind" in stderr and token not in stderr
    assert _index() == [] and gitlab.requests.carrying(token) == []


def test_an_oauth_application_secret_is_no_token(gitlab, gitlab_host):
    secret = "gloas-" + "a" * 64
    for kind in ([], ["--kind", "oauth"]):
        stderr = _one_line(credhelper("add", gitlab_host, *kind, input=secret, check=False))
        assert "OAuth application's secret" in stderr and secret not in stderr
    assert _index() == [] and gitlab.requests.carrying(secret) == []


# --- Ctrl-D and Ctrl-C at the prompt, in a real terminal ------------------------------------

def _at_the_prompt(args, key):
    """Run ``args`` on a new pseudo-terminal (its controlling terminal), wait for the token
    prompt, press ``key``; (exit status, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:                                   # the child: the command, on the terminal
        try:
            os.execvp(args[0], args)
        finally:
            os._exit(127)
    shown, pressed = b"", False
    deadline = time.monotonic() + 60
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "the terminal showed nothing more: %r" % shown
            try:
                chunk = os.read(fd, 4096)
            except OSError:                        # EIO: the command ended, the pty closed
                break
            if not chunk:
                break
            shown += chunk
            if not pressed and b"Token for" in shown:
                os.write(fd, key)
                pressed = True
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    assert pressed, shown
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


@pytest.mark.parametrize("key, code", [(b"\x04", 1), (b"\x03", 130)], ids=["ctrl-d", "ctrl-c"])
def test_ending_the_token_prompt_is_a_clean_cancel(gitlab, gitlab_host, key, code):
    status, shown = _at_the_prompt(["credhelper", "add", gitlab_host], key)
    assert status == code, shown
    assert "credhelper: cancelled" in shown and "nothing was stored" in shown
    assert "internal error" not in shown and "EOFError" not in shown and "Traceback" not in shown
    assert _index() == []


# --- a project's URL as HOST -----------------------------------------------------------------

def test_a_project_url_gives_the_host_and_the_path(gitlab, gitlab_host, project):
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    done = credhelper("add", "https://%s/%s.git" % (gitlab_host, project.upper()), input=token)
    assert "for %s (path %s)" % (gitlab_host, project) in done.stdout
    assert [(r["host"], r["path"]) for r in _index()] == [(gitlab_host, project)]
    for path, served in ((project + ".git", True), ("elsewhere/app.git", False)):
        asked = run("git-credential-gitlab", "get", input="protocol=https\nhost=%s\npath=%s\n"
                    % (gitlab_host, path)).stdout
        assert ("password=%s\n" % token in asked) == served, path


def test_a_project_url_and_another_path_are_refused(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    stderr = _one_line(credhelper("add", "https://%s/team/app.git" % gitlab_host, "--path",
                                  "other/app", input=token, check=False))
    assert "names the path team/app but --path says other/app" in stderr
    assert _index() == []


def test_commands_without_a_path_refuse_a_url_with_one(gitlab_host):
    stderr = _one_line(credhelper("rotate", "https://%s/team/app" % gitlab_host, check=False))
    assert "URL with a path (team/app)" in stderr and "--path team/app" in stderr


# --- --expires-at and --scopes ---------------------------------------------------------------

@pytest.mark.parametrize("day", ["2020-01-01", "today"])
def test_an_expiry_date_not_in_the_future_is_refused_before_the_token(gitlab, gitlab_host, day):
    today = time.strftime("%Y-%m-%d", time.gmtime())
    day = today if day == "today" else day
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    stderr = _one_line(credhelper("add", gitlab_host, "--expires-at", day, input=token,
                                  check=False))
    assert "--expires-at %s is not in the future" % day in stderr and token not in stderr
    assert _index() == [] and gitlab.requests.carrying(token) == []


def test_unknown_scopes_are_refused_and_gitlabs_own_accepted(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    stderr = _one_line(credhelper("add", gitlab_host, "--scopes", "read_repo,api", input=token,
                                  check=False))
    assert "GitLab has no scope read_repo" in stderr
    assert _index() == [] and gitlab.requests.carrying(token) == []
    credhelper("add", gitlab_host, "--scopes", "k8s_proxy,self_rotate", "--no-check",
               input=token)
    assert _index()[0]["scopes"] == ["k8s_proxy", "self_rotate"]


def test_a_name_no_dns_could_resolve_is_refused_as_such():
    host = "a" * 64 + ".example.com"
    stderr = _one_line(credhelper("add", host, input="glpat-longlabellonglabel01", check=False))
    assert "parts are at most 63 characters" in stderr
    assert _index() == []
