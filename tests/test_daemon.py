"""The warm daemon and its bash client (credhelper/daemon/): a `get` after the first starts no
Python and gets the fast path's very answer; what changes on disk is seen by the next
request; another environment, another install, a dead, stopped or impersonated daemon, busy
slots, CI variables and input the wire cannot carry all go to the Python launcher, at once or
within the bound, with the same answer.  Whether the launcher ran is what its wrapper logs."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper import fast_service
from credhelper.daemon import client as daemon_client
from credhelper.daemon import server
from credhelper.launcher import script
from tests.conftest import credhelper, run


class Warm:
    def __init__(self, tmp_path: Path, install_id: str = "install-1") -> None:
        self.runtime = tmp_path / "runtime"
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        self.directory = self.runtime / server.DIRECTORY
        self.python_launcher = tmp_path / "git-credential-gitlab-python"
        self.python_launcher.write_text(script("run_git"))
        self.daemon_launcher = tmp_path / "credhelper-daemon"
        self.daemon_launcher.write_text(script("run_daemon"))
        self.log = tmp_path / "launcher.log"
        self.recorder = tmp_path / "recorder"          # logs each run of the launcher
        self.recorder.write_text('#!/bin/sh\necho "$1" >>%s\nexec %s "$@"\n' % (
            self.log, self.python_launcher))
        self.client = self.write_client(tmp_path / "git-credential-gitlab", install_id)
        for path in (self.python_launcher, self.daemon_launcher, self.recorder):
            path.chmod(0o755)

    def write_client(self, path: Path, install_id: str) -> Path:
        path.write_text(daemon_client.script(str(self.recorder), str(self.daemon_launcher),
                                             install_id))
        path.chmod(0o755)
        return path

    def launcher_runs(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    def live(self) -> int | None:
        return server.live_pid(str(self.runtime))

    def wait_live(self, other_than: int | None = None) -> int:
        deadline = time.monotonic() + 30
        while (pid := self.live()) is None or pid == other_than:
            assert time.monotonic() < deadline, "no daemon came up"
            time.sleep(0.01)
        return pid

    def wait_gone(self, pid: int) -> None:
        deadline = time.monotonic() + 30
        while alive(pid):
            assert time.monotonic() < deadline, "the daemon is still there"
            time.sleep(0.01)


def wait_until(condition, what: str = "the condition") -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "never: " + what
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def warm(tmp_path, gitlab, gitlab_host, monkeypatch):
    """A checked token; the client, its recorded launcher and daemon; the daemon started by a
    first `get`, as a user's first git command would."""
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, input=token)
    setup = Warm(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(setup.runtime))
    request = "protocol=https\nhost=%s\n\n" % gitlab_host
    first = run(str(setup.client), "get", input=request).stdout
    assert "password=%s\n" % token in first and setup.launcher_runs() == 1
    setup.pid = setup.wait_live()
    yield token, request, setup
    for pid in {setup.pid, setup.live()} - {None}:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            setup.wait_gone(pid)


def test_a_get_after_the_first_starts_no_python_and_gets_the_fast_path_s_answer(warm):
    token, request, setup = warm
    through_daemon = run(str(setup.client), "get", input=request).stdout
    assert "password=%s\n" % token in through_daemon
    served = request.strip() + "\n" + through_daemon + "\n"
    assert run(str(setup.client), "store", input=served).stdout == ""
    assert setup.launcher_runs() == 1                  # the first get's only
    assert through_daemon == run(str(setup.python_launcher), "get", input=request).stdout


def test_git_s_get_and_store_both_go_to_the_daemon(warm, gitlab, gitlab_host):
    """Real git, over HTTPS, with the client as its helper: ls-remote's get and then its
    store are answered without the launcher; the daemon sits in /, not in git's directory."""
    token, _, setup = warm
    gitlab.state.add_project("team/app", members={"alice": "developer"})
    env = dict(os.environ, **gitlab.git_env())
    done = run("git", *gitlab.git_config_args(), "-c", "credential.helper=",
               "-c", "credential.helper=%s" % setup.client, "ls-remote",
               "https://%s/team/app.git" % gitlab_host, env=env)
    assert "refs/heads/main" in done.stdout and setup.launcher_runs() == 1
    assert any(r.carries(token) for r in gitlab.requests)
    assert os.readlink("/proc/%d/cwd" % setup.pid) == "/"


def test_what_changes_on_disk_is_seen_by_the_next_request(warm, gitlab_host):
    token, request, setup = warm
    assert token in run(str(setup.client), "get", input=request).stdout
    credhelper("remove", gitlab_host)
    assert run(str(setup.client), "get", input=request).stdout == ""
    assert setup.launcher_runs() == 1


def test_another_environment_is_answered_by_the_launcher_never_by_the_daemon(
        warm, gitlab, gitlab_host, tmp_path):
    """Eight clients at once, four per HOME: the daemon's HOME through its slots, the other
    through the launcher; each answer holds its own HOME's token, whole."""
    token, request, setup = warm
    other = tmp_path / "other"
    other_env = dict(os.environ, HOME=str(other), XDG_CONFIG_HOME=str(other / ".config"),
                     XDG_DATA_HOME=str(other / ".local/share"))
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "credhelper"
    (other / ".config" / "credhelper").mkdir(parents=True, mode=0o700)
    (other / ".config" / "credhelper" / "config.toml").write_text(
        (config / "config.toml").read_text())
    other_token = gitlab.state.create_pat("alice", ["read_repository"]).token
    run("credhelper", "add", gitlab_host, input=other_token, env=other_env)
    envs = [dict(os.environ), other_env] * 4
    clients = [subprocess.Popen([str(setup.client), "get"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, text=True) for env in envs]
    answers = [c.communicate(request, timeout=60)[0] for c in clients]
    assert [a.split("password=")[1].split("\n")[0] for a in answers] == \
        [token, other_token] * 4
    assert setup.launcher_runs() == 1 + 4


def test_a_killed_daemon_hands_the_request_to_the_launcher_and_a_new_one_starts(warm):
    token, request, setup = warm
    os.kill(setup.pid, signal.SIGKILL)
    setup.wait_gone(setup.pid)
    assert "password=%s\n" % token in run(str(setup.client), "get", input=request).stdout
    assert setup.launcher_runs() == 2
    setup.pid = setup.wait_live(other_than=setup.pid)
    assert "password=%s\n" % token in run(str(setup.client), "get", input=request).stdout
    assert setup.launcher_runs() == 2


def test_a_stopped_daemon_costs_the_bound_not_a_hang(warm):
    """SIGSTOP: alive, holding its FIFOs, never answering.  The client's reads are bounded
    (read -t), so the launcher answers; the subprocess timeout is what a hang would hit."""
    token, request, setup = warm
    os.kill(setup.pid, signal.SIGSTOP)
    try:
        done = subprocess.run([str(setup.client), "get"], input=request, text=True,
                              capture_output=True, timeout=3 * server.STALL)
    finally:
        os.kill(setup.pid, signal.SIGCONT)
    assert "password=%s\n" % token in done.stdout and setup.launcher_runs() == 2


def test_a_pid_file_naming_another_live_process_does_not_hang_the_client(warm):
    """The daemon killed and its pid reused by another process of ours: that process does
    not hold the reply FIFO, so the client does not wait on it."""
    token, request, setup = warm
    os.kill(setup.pid, signal.SIGSTOP)            # it cannot sweep or retire meanwhile
    try:
        lines = (setup.directory / "pid").read_text().splitlines()
        (setup.directory / "pid").write_text("%d\n%s\n" % (os.getpid(), lines[1]))
        done = subprocess.run([str(setup.client), "store"], input=request, text=True,
                              capture_output=True, timeout=server.STALL)
    finally:
        os.kill(setup.pid, signal.SIGCONT)
    assert done.returncode == 0 and setup.launcher_runs() == 2


def test_a_reply_left_for_another_request_is_never_taken_for_this_one(warm):
    """A client too slow for its slot (the sweep freed it) leaves its reply in the FIFO: the
    next client of that slot must not hand it to git.  The reply names its request's
    nonce, and this one is the answer for another host: nothing."""
    token, request, setup = warm
    environ = {key: value for key, value in os.environb.items()}
    stale = b"install-1\n1.1\nget\n%s\n--\nprotocol=https\nhost=elsewhere.test\n\n.\n" % \
        server.environment_block(environ)
    req = os.open(setup.directory / "req.0", os.O_RDWR)
    rep = os.open(setup.directory / "rep.0", os.O_RDWR)
    try:
        os.write(req, stale)
        select.select([rep], [], [], 30)       # the reply waits there, unread
        done = run(str(setup.client), "get", input=request)
    finally:
        os.close(req)
        os.close(rep)
    assert "password=%s\n" % token in done.stdout and setup.launcher_runs() == 2


def test_busy_slots_are_skipped_and_all_busy_means_the_launcher(warm):
    token, request, setup = warm
    (setup.directory / "lock.0").write_text("")
    assert "password=%s\n" % token in run(str(setup.client), "get", input=request).stdout
    assert setup.launcher_runs() == 1
    wait_until(lambda: not (setup.directory / "lock.1").exists())   # freed after the ack
    for slot in range(1, server.SLOTS):
        (setup.directory / ("lock.%d" % slot)).write_text("")
    assert "password=%s\n" % token in run(str(setup.client), "get", input=request).stdout
    assert setup.launcher_runs() == 2


def test_a_new_install_retires_the_old_daemon(warm, tmp_path):
    token, request, setup = warm
    upgraded = setup.write_client(tmp_path / "upgraded", "install-2")
    assert "password=%s\n" % token in run(str(upgraded), "get", input=request).stdout
    assert setup.launcher_runs() == 2               # the old daemon declined
    setup.wait_gone(setup.pid)                      # and retired
    assert "password=%s\n" % token in run(str(upgraded), "get", input=request).stdout
    setup.pid = setup.wait_live(other_than=setup.pid)   # the new install's daemon
    assert "password=%s\n" % token in run(str(upgraded), "get", input=request).stdout
    assert setup.launcher_runs() == 3


def test_doctor_names_the_daemon_and_stop_retires_it(warm):
    _, _, setup = warm
    assert "warm daemon (README, Speed): running, pid %d\n" % setup.pid in \
        credhelper("doctor", check=False).stdout
    assert server.main(["--stop"]) == 0
    setup.wait_gone(setup.pid)
    assert "warm daemon (README, Speed): not running\n" in credhelper("doctor", check=False).stdout
    assert not (setup.directory / "pid").exists()
    assert sorted(p.name for p in setup.directory.iterdir()) == ["daemon.lock"]


@pytest.mark.parametrize("extra", [{"CREDHELPER_NO_DAEMON": "1"}, {"CI_JOB_TOKEN": "x"}])
def test_an_opt_out_or_a_ci_job_goes_to_the_launcher_and_starts_nothing(
        tmp_path, gitlab_host, extra, monkeypatch):
    setup = Warm(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(setup.runtime))
    request = "protocol=https\nhost=%s\n\n" % gitlab_host
    run(str(setup.client), "get", input=request, env=dict(os.environ, **extra), check=False)
    assert setup.launcher_runs() == 1 and not setup.directory.exists()


@pytest.mark.parametrize("tail", [".\nhost=x\n\n", "".join("k%d=v\n" % n for n in range(70)),
                                  "path=no-newline"])
def test_input_the_wire_cannot_carry_goes_to_the_launcher_whole(warm, tail):
    token, request, setup = warm
    odd = request.rstrip("\n") + "\n" + tail
    expected = run(str(setup.python_launcher), "get", input=odd, check=False)
    done = run(str(setup.client), "get", input=odd, check=False)
    assert (done.returncode, done.stdout, done.stderr) == \
        (expected.returncode, expected.stdout, expected.stderr)
    assert setup.launcher_runs() == 2


def test_a_directory_that_is_not_private_is_refused_and_the_launcher_answers(
        tmp_path, gitlab, gitlab_host, monkeypatch):
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, input=token)
    setup = Warm(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(setup.runtime))
    setup.directory.mkdir(mode=0o755)
    setup.directory.chmod(0o755)
    refused = run(str(setup.daemon_launcher), "install-1", check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "not a private directory" in refused.stderr
    done = run(str(setup.client), "get", input="protocol=https\nhost=%s\n\n" % gitlab_host)
    assert "password=%s\n" % token in done.stdout and setup.live() is None


def keyring_token_and_client(tmp_path, gitlab, gitlab_host, monkeypatch):
    """A token in the Secret Service the environment names; the client, not started yet."""
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, "--store", "keyring", input=token)
    setup = Warm(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(setup.runtime))
    return token, "protocol=https\nhost=%s\n\n" % gitlab_host, setup


def test_a_secret_service_token_is_answered_by_the_daemon_too(
        tmp_path, gitlab, gitlab_host, secret_service, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    token, request, setup = keyring_token_and_client(tmp_path, gitlab, gitlab_host, monkeypatch)
    try:
        for _ in range(2):
            assert "password=%s\n" % token in run(str(setup.client), "get", input=request).stdout
            setup.pid = setup.wait_live()
        assert setup.launcher_runs() == 1
    finally:
        os.kill(setup.wait_live(), signal.SIGKILL)


def test_a_stopped_secret_service_holds_git_for_one_deadline_through_the_daemon(
        tmp_path, gitlab, gitlab_host, private_service, monkeypatch):
    """The daemon's read times out; it says so in its reply, and the launcher it falls back
    to gives up at once instead of waiting out a second deadline: one deadline, as with the
    launcher alone (tests/test_fast_keyring.py), and the full path's words for it."""
    from credhelper.stores.secret_service import READ_DEADLINE

    token, request, setup = keyring_token_and_client(tmp_path, gitlab, gitlab_host, monkeypatch)
    try:
        assert "password=%s\n" % token in run(str(setup.client), "get", input=request).stdout
        setup.pid = setup.wait_live()
        os.kill(private_service.keyring.pid, signal.SIGSTOP)
        started = time.monotonic()
        done = run(str(setup.client), "get", input=request, check=False)
        elapsed = time.monotonic() - started
        assert READ_DEADLINE <= elapsed < 2 * READ_DEADLINE, elapsed
        assert "password=" not in done.stdout and setup.launcher_runs() == 2
        assert "the Secret Service did not answer within 3 s" in done.stderr
        assert done.stderr.count("\n") == 1
        os.kill(private_service.keyring.pid, signal.SIGCONT)
        assert "password=%s\n" % token in run(str(setup.client), "get", input=request).stdout
        assert setup.launcher_runs() == 2          # the daemon answers again
    finally:
        os.kill(setup.wait_live(), signal.SIGKILL)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=12), st.sampled_from(["get", "store", "x"]))
def test_any_request_gets_a_well_formed_reply_and_ok_only_for_its_own_environment(
        lines, action):
    """The daemon's request parser, by property: whatever arrives, the reply is one status
    line naming the nonce (or none), then lines, then "."; and never "ok" for a request
    whose environment lines are not the daemon's own."""
    daemon = server.Daemon("/nonexistent", "id")
    block = server.environment_block(daemon.environ)
    for environment in (block, b"\n" * block.count(b"\n") + b"=other"):
        request = b"\n".join([b"id", b"7.7", action.encode(), environment, b"--",
                              *lines]) + b"\n.\n"
        reply = daemon.reply(request)
        status, _, rest = reply.partition(b"\n")
        assert status in (b"ok 7.7", b"no 7.7") and (rest == b"." + b"\n" or
                                                     rest.endswith(b"\n.\n"))
        assert status == b"no 7.7" or environment == block and action != "x"
    assert daemon.reply(b"\n".join(lines) + b"\n.\n").startswith(b"no")   # not a request


def test_another_environment_retires_the_daemon_only_once_its_own_has_gone_quiet():
    """A daemon started under a tool's own HOME must not keep the user's daemon out for its
    whole idle time: another environment's request retires it once its own environment has
    asked nothing for QUIET seconds; while its own is busy, it only declines."""
    daemon = server.Daemon("/nonexistent", "id")
    block = server.environment_block(daemon.environ)
    own, other = ([b"\n".join([b"id", b"1.1", b"get", environment, b"--", b"x=y", b""]) + b".\n"
                   for environment in (block, b"=elsewhere" + block)])
    daemon.reply(own)
    assert daemon.reply(other) == b"no 1.1\n.\n" and not daemon.stopping.is_set()
    daemon.last -= server.QUIET + 1                      # its own, quiet for QUIET seconds
    assert daemon.reply(other) == b"no 1.1\n.\n" and daemon.stopping.is_set()


def test_a_request_that_breaks_the_daemon_does_not_take_its_slot_with_it(tmp_path):
    """An unexpected error while serving frees the slot and the thread goes on serving it:
    a dead slot would cost every client that picks it the whole bound."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    daemon = server.Daemon(str(runtime), "id")
    os.close(daemon.take_directory())
    slot = server.Slot(daemon, 0)
    replies = iter([RuntimeError("a bug"), b"no 1.1\n.\n"])

    def reply(request):
        answer = next(replies)
        if isinstance(answer, Exception):
            raise answer
        return answer

    daemon.reply = reply
    threading.Thread(target=slot.serve_forever, daemon=True).start()
    Path(slot.lock).write_text("")
    os.write(slot.req, b"first\n.\n")
    wait_until(lambda: not Path(slot.lock).exists(), "the broken request's slot freed")
    os.write(slot.req, b"second\n.\n")
    assert select.select([slot.rep], [], [], 30)[0]
    assert os.read(slot.rep, 100) == b"no 1.1\n.\n"


def test_the_daemon_compares_every_variable_the_fast_path_reads(warm, gitlab_host):
    """A request is answered only when its ENVIRONMENT and PRESENCE lines are the daemon's:
    that is exact only if the fast path reads nothing else."""
    token, request, setup = warm

    class Recording(dict[str, str]):
        def get(self, key, default=None):
            read.add(key)
            return super().get(key, default)

        def __contains__(self, key):
            read.add(key)
            return super().__contains__(key)

        def __getitem__(self, key):
            read.add(key)
            return super().__getitem__(key)

    read: set[str] = set()
    served = request.strip() + "\nusername=x\npassword=%s\n\n" % token
    for action, data in [("get", request), ("store", served), ("erase", served),
                         ("get", "protocol=https\nhost=unknown.example\n\n")]:
        fast_service.answer(action, data.encode(), Recording(os.environ))
    assert read and read <= set(server.ENVIRONMENT) | set(server.PRESENCE)


@pytest.mark.parametrize("args, runtime", [(["install-1"], "/nonexistent/runtime"),
                                           (["install-1", "soon"], None)])
def test_bad_input_to_the_daemon_gets_one_line_and_no_traceback(tmp_path, args, runtime):
    setup = Warm(tmp_path)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime or str(setup.runtime))
    done = run(str(setup.daemon_launcher), *args, env=env, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("credhelper-daemon: ") and "Traceback" not in done.stderr
