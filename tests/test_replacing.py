"""What `credhelper add` does about the token a new one would replace (issue 12): a token of
unknown owner never replaces another, and re-adding an account's slot offers to revoke the
old token: a question at a terminal, one line naming --revoke-replaced otherwise.  Real
`credhelper` against the fake GitLab over HTTPS; the terminal is a real pty."""

import os
import select
import subprocess

import pytest

from tests.conftest import credhelper
from tests.test_accounts import _git_fill, _held, _new_user, _status

SELF = r"/api/v4/personal_access_tokens/self"


pytestmark = pytest.mark.usefixtures("gitlab_restored")


# --- unknown owners (`add --no-check`) --------------------------------------------------------

def test_an_unchecked_token_never_replaces_another_of_unknown_owner(gitlab, gitlab_host):
    first = gitlab.state.create_pat(_new_user(gitlab), ["api"])
    second = gitlab.state.create_pat(_new_user(gitlab), ["api"])
    credhelper("add", gitlab_host, "--no-check", input=first.token)
    refused = credhelper("add", gitlab_host, "--no-check", input=second.token, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "--username" in refused.stderr and first.token[-4:] in refused.stderr
    assert second.token not in refused.stderr and first.token not in refused.stderr
    assert _held(gitlab_host, [first, second]) == {first.token}


def test_unchecked_tokens_named_by_username_live_side_by_side(gitlab, gitlab_host):
    users = [_new_user(gitlab), _new_user(gitlab)]
    tokens = [gitlab.state.create_pat(user, ["api"]) for user in users]
    for user, token in zip(users, tokens, strict=True):
        done = credhelper("add", gitlab_host, "--no-check", "--username", user,
                          input=token.token)
        assert done.stdout.startswith("Added"), done.stdout
    assert _held(gitlab_host, tokens) == {t.token for t in tokens}
    assert [_git_fill(gitlab_host, user)["password"] for user in users] == [
        t.token for t in tokens]


def test_re_adding_the_same_unchecked_token_is_no_replacement(gitlab, gitlab_host):
    token = gitlab.state.create_pat(_new_user(gitlab), ["api"])
    credhelper("add", gitlab_host, "--no-check", input=token.token)
    again = credhelper("add", gitlab_host, "--no-check", input=token.token)
    assert again.returncode == 0 and again.stderr == ""
    assert len(_status(gitlab_host)) == 1


def test_an_unchecked_token_stays_beside_a_checked_one(gitlab, gitlab_host):
    checked = gitlab.state.create_pat(_new_user(gitlab), ["api"])
    unchecked = gitlab.state.create_pat(_new_user(gitlab), ["api"])
    credhelper("add", gitlab_host, input=checked.token)
    credhelper("add", gitlab_host, "--no-check", input=unchecked.token)
    assert _held(gitlab_host, [checked, unchecked]) == {checked.token, unchecked.token}


# --- the same account's slot: the old token is offered for revocation ---------------------------

def _old_and_new(gitlab, host):
    owner = _new_user(gitlab)
    old = gitlab.state.create_pat(owner, ["api"], name="laptop")
    new = gitlab.state.create_pat(owner, ["api"], name="desktop")
    credhelper("add", host, input=old.token)
    return old, new


def test_without_a_terminal_one_line_names_revoke_replaced(gitlab, gitlab_host):
    old, new = _old_and_new(gitlab, gitlab_host)
    done = credhelper("add", gitlab_host, input=new.token)
    lines = (done.stdout + done.stderr).splitlines()
    assert lines[0].startswith("Replaced") and old.token[-4:] in lines[0]
    offers = [line for line in lines if "--revoke-replaced" in line]
    assert len(offers) == 1 and old.token[-4:] in offers[0] and "laptop" in offers[0]
    assert not old.revoked and "[y/N]" not in done.stdout + done.stderr


def test_keep_replaced_says_no_without_asking(gitlab, gitlab_host):
    old, new = _old_and_new(gitlab, gitlab_host)
    done = credhelper("add", gitlab_host, "--keep-replaced", input=new.token)
    assert "--revoke-replaced" not in done.stdout + done.stderr
    assert "still works on the server" in done.stdout and old.token[-4:] in done.stdout
    assert not old.revoked and _git_fill(gitlab_host)["password"] == new.token


def test_revoke_and_keep_replaced_together_are_refused(gitlab, gitlab_host):
    old, new = _old_and_new(gitlab, gitlab_host)
    done = credhelper("add", gitlab_host, "--revoke-replaced", "--keep-replaced",
                      input=new.token, check=False)
    assert done.returncode == 2 and "not allowed with" in done.stderr
    assert not old.revoked and _held(gitlab_host, [old, new]) == {old.token}


def test_revoke_replaced_of_a_token_already_dead_on_the_server(gitlab, gitlab_host):
    old, new = _old_and_new(gitlab, gitlab_host)
    gitlab.state.revoke(old)
    done = credhelper("add", gitlab_host, "--revoke-replaced", input=new.token)
    assert done.stderr == "" and _git_fill(gitlab_host)["password"] == new.token


def test_a_failed_revocation_still_adds_the_new_token_and_says_so(gitlab, gitlab_host):
    old, new = _old_and_new(gitlab, gitlab_host)
    gitlab.faults.status("DELETE", SELF, 503, times=10)
    done = credhelper("add", gitlab_host, "--revoke-replaced", input=new.token, check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "could not revoke" in done.stderr and old.token[-4:] in done.stderr
    assert "Traceback" not in done.stderr and old.token not in done.stderr
    assert not old.revoked and _git_fill(gitlab_host)["password"] == new.token


# --- at a terminal: the question, on the terminal only ----------------------------------------

class Terminal:
    """`credhelper add` with stdin and stderr on a real pty (as when run by hand) and stdout
    on a pipe, so what is shown on the terminal and what goes to stdout are told apart."""

    def __init__(self, *args):
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(["credhelper", *args], stdin=slave, stderr=slave,
                                        stdout=subprocess.PIPE, start_new_session=True)
        os.close(slave)
        self.screen = b""

    def wait_for(self, text):
        """Read the terminal until ``text`` shows (the child blocks on its prompt)."""
        while text.encode() not in self.screen:
            ready, _, _ = select.select([self.master], [], [], 60)
            assert ready, "no %r on the terminal: %r" % (text, self.screen)
            chunk = self._read()
            assert chunk, "the terminal closed before %r: %r" % (text, self.screen)
            self.screen += chunk

    def type(self, line):
        os.write(self.master, line.encode() + b"\n")

    def finish(self):
        stdout = self.process.stdout.read().decode()
        self.process.wait(60)
        while chunk := self._read():
            self.screen += chunk
        os.close(self.master)
        return self.process.returncode, stdout, self.screen.decode(errors="replace")

    def _read(self):
        try:
            return os.read(self.master, 4096)
        except OSError:              # EIO: the child closed its side
            return b""


def _add_at_a_terminal(host, token, answer):
    terminal = Terminal("add", host)
    terminal.wait_for("Token for")
    terminal.type(token)
    terminal.wait_for("[y/N]")
    terminal.type(answer)
    return terminal.finish()


def test_at_a_terminal_yes_revokes_the_replaced_token(gitlab, gitlab_host):
    old, new = _old_and_new(gitlab, gitlab_host)
    status, stdout, screen = _add_at_a_terminal(gitlab_host, new.token, "y")
    assert status == 0, stdout + screen
    assert old.revoked and not new.revoked
    assert "Revoked the replaced token" in stdout
    assert "laptop" in screen and old.token[-4:] in screen.split("[y/N]")[0]
    assert "[y/N]" not in stdout and new.token not in stdout + screen
    assert _git_fill(gitlab_host)["password"] == new.token


def test_at_a_terminal_the_answer_defaults_to_no(gitlab, gitlab_host):
    old, new = _old_and_new(gitlab, gitlab_host)
    status, stdout, screen = _add_at_a_terminal(gitlab_host, new.token, "")
    assert status == 0, stdout + screen
    assert not old.revoked
    assert "still works on the server" in stdout and "--revoke-replaced" not in stdout
    assert _git_fill(gitlab_host)["password"] == new.token
