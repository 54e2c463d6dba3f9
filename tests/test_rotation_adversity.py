"""Rotations interrupted while GitLab is still working on them (issue 10): a `get` killed or
interrupted after its rotate request reached the server, which commits the rotation a moment
later; more gets follow at once.  None of them may rotate the old token again (GitLab's reuse
detection would revoke the whole family, docs/gitlab.md#reuse-detection)."""

from __future__ import annotations

import os
import random
import signal
import subprocess

import pytest

from tests.test_lifecycle_api import ROTATE, age_journal, get, served, status, utc_today

TRIALS = int(os.environ.get("CREDHELPER_TRIALS", "20"))   # per kind, at once (see below)
SEQUENTIAL = max(1, TRIALS // 4)                            # one after another


pytestmark = pytest.mark.usefixtures("gitlab_restored")


_users = iter(range(1_000_000))


def fresh_user(gitlab):
    """A user of this test alone: other tests' settings (DPoP turned on, orphans named like
    ours) must not decide what happens here."""
    name = "adversity-%d" % next(_users)
    gitlab.state.add_user(name)
    return name


def fresh_pat(gitlab, host, expires_in_days=90, scopes=("api",)):
    from tests.conftest import credhelper

    user = fresh_user(gitlab)
    token = gitlab.state.create_pat(user, list(scopes), expires_at=utc_today(expires_in_days))
    credhelper("add", host, input=token.token)
    return token


def start_get(host):
    return subprocess.Popen(["git-credential-gitlab", "get"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupted_rotation(gitlab, host, how, late):
    """One trial: returns (the old token, what the gets right after were served)."""
    old = fresh_pat(gitlab, host, expires_in_days=2)
    fault = gitlab.faults.commit_late("POST", ROTATE, late)
    first = start_get(host)
    first.stdin.write("protocol=https\nhost=%s\n\n" % host)
    first.stdin.close()
    assert fault.wait_hit(30), "the rotate request never reached the server"
    first.send_signal(how)
    first.wait(timeout=30)
    right_after = [served(get(host)) for _ in range(3)]     # while the server still works
    assert fault.wait_committed(60)
    after_commit = [served(get(host)) for _ in range(2)]
    return old, right_after + after_commit


@pytest.mark.parametrize("how, lateness, trials", [
    (signal.SIGKILL, (0.3, 1.5), SEQUENTIAL), (signal.SIGINT, (0.3, 1.5), SEQUENTIAL),
    (signal.SIGTERM, (0.3, 1.5), SEQUENTIAL),    # a CI job's timeout, `timeout git fetch`
    (signal.SIGKILL, (10.0, 30.0), 2),           # GitLab itself slow: commits 10-30 s later
], ids=["SIGKILL", "SIGINT", "SIGTERM", "SIGKILL-commit-10-30s"])
def test_an_interrupted_rotation_is_never_repeated(gitlab, gitlab_host, how, lateness, trials):
    from credhelper.lifecycle.journal import SETTLE_SECONDS

    rng = random.Random(10)
    for _ in range(trials):
        rotations_before = len(gitlab.api.rotations)
        old, answers = interrupted_rotation(gitlab, gitlab_host, how, rng.uniform(*lateness))
        assert gitlab.state.reuse_detections_of_family(old.token) == []
        assert len(gitlab.api.rotations) == rotations_before + 1      # the interrupted one
        # the still-valid old token, or nothing once the commit revoked it: never a new rotate
        assert set(answers[:3]) <= {old.token, None}
        # once the call cannot commit any more, the next get finds out what happened
        age_journal(SETTLE_SECONDS + 1)
        done = get(gitlab_host)
        assert gitlab.state.reuse_detections_of_family(old.token) == []
        assert "was rotated on the server" in done.stderr and old.token not in done.stderr
        assert status(gitlab_host)[0]["state"] == "lost-in-rotation"
        from tests.conftest import credhelper

        credhelper("remove", gitlab_host)


def test_a_lost_answer_is_recovered_through_a_second_credential(gitlab, gitlab_host):
    """The server rotated, the answer was lost: with an OAuth login of the same account
    (api scope), the orphaned new token is found by name and rotated by id (issue 10)."""
    from tests.conftest import credhelper

    old = fresh_pat(gitlab, gitlab_host, expires_in_days=2)
    oauth = gitlab.state.create_oauth_token(old.user, ["api"])
    credhelper("add", gitlab_host, "--kind", "oauth", "--path", "elsewhere", input=oauth.token)
    gitlab.faults.drop_after_commit("POST", ROTATE)
    done = get(gitlab_host)
    secret = served(done)
    assert secret and secret != old.token and "recovered the lost rotation" in done.stderr
    token = gitlab.state.find_token(secret)
    assert gitlab.state.is_active(token)
    assert gitlab.state.reuse_detections_of_family(old.token) == []
    assert [t for t in gitlab.state.active_tokens_of_family(old.token)] == [token]
    assert status(gitlab_host)[0]["state"] == "ok" and old.token not in done.stderr
    assert served(get(gitlab_host)) == secret


BAD_ANSWERS = {
    "500": lambda f: f.commit_then_status("POST", ROTATE, 500),
    "502": lambda f: f.commit_then_status("POST", ROTATE, 502),
    "504": lambda f: f.commit_then_status("POST", ROTATE, 504),
    "html": lambda f: f.commit_then_garbage("POST", ROTATE, "<html>Bad gateway</html>"),
    "list": lambda f: f.commit_then_garbage("POST", ROTATE, "[]"),
    "truncated": lambda f: f.commit_then_garbage("POST", ROTATE, '{"id": 9, "tok',
                                                  content_length=400),
}


@pytest.mark.parametrize("answer", sorted(BAD_ANSWERS))
@pytest.mark.parametrize("second_credential", [False, True], ids=["alone", "with-oauth"])
def test_a_committed_rotation_with_a_bad_answer_is_recovered_or_explained(
        gitlab, gitlab_host, answer, second_credential):
    """The server rotated, then answered badly: never "nothing happened" (issue 10)."""
    from tests.conftest import credhelper

    user = "user-%s-%s" % (answer, second_credential)    # orphans of other tests apart
    gitlab.state.add_user(user)
    old = gitlab.state.create_pat(user, ["api"], expires_at=utc_today(2))
    credhelper("add", gitlab_host, input=old.token)
    if second_credential:
        oauth = gitlab.state.create_oauth_token(user, ["api"])
        credhelper("add", gitlab_host, "--kind", "oauth", "--path", "other", input=oauth.token)
    BAD_ANSWERS[answer](gitlab.faults)
    done = get(gitlab_host)
    assert gitlab.state.reuse_detections_of_family(old.token) == []
    assert not gitlab.state.is_active(gitlab.state.find_token(old.token))
    if second_credential:
        secret = served(done)
        assert gitlab.state.active_tokens_of_family(old.token) == [
            gitlab.state.find_token(secret)]
    else:
        assert served(done) is None
        assert "was rotated on the server" in done.stderr and "'token'" in done.stderr
        assert status(gitlab_host)[0]["state"] == "lost-in-rotation"
    assert old.token not in done.stderr


# -- deadlines that fit the step ------------------------------------------------------------

@pytest.mark.parametrize("late", [5.5, 25.0])
def test_a_slow_rotate_answer_is_waited_for_and_kept(gitlab, gitlab_host, late):
    """A rotate that takes longer than a check's budget still ends with the new token: once
    sent, its call has its own fixed time (lifecycle/renewal.py, ROTATE_TIMEOUT)."""
    old = fresh_pat(gitlab, gitlab_host, expires_in_days=2)
    gitlab.faults.commit_late("POST", ROTATE, late)
    done = get(gitlab_host)
    new = gitlab.state.find_token(served(done))
    assert new.previous_token_id == old.id and gitlab.state.is_active(new)
    assert gitlab.state.reuse_detections_of_family(old.token) == []


def test_a_dripped_answer_does_not_hold_a_get(gitlab, gitlab_host):
    import time

    from tests.test_lifecycle_api import SELF

    token = fresh_pat(gitlab, gitlab_host)
    from tests.test_lifecycle_api import erase

    erase(gitlab_host, token.token)                  # the next get checks with the server
    gitlab.faults.drip("GET", SELF, 0.5)
    start = time.monotonic()
    done = get(gitlab_host)
    assert time.monotonic() - start < 10
    assert served(done) == token.token and done.stderr.count("\n") == 1


def test_a_stopped_secret_service_does_not_hold_a_get(gitlab, gitlab_host, tmp_path,
                                                      monkeypatch):
    import time

    from tests.conftest import credhelper
    from tests.support.secret_service import SecretService

    service = SecretService(tmp_path / "secret-service")
    env = service.start()
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env["DBUS_SESSION_BUS_ADDRESS"])
        token = gitlab.state.create_pat(fresh_user(gitlab), ["read_repository"]).token
        credhelper("add", gitlab_host, "--store", "keyring", input=token)
        assert served(get(gitlab_host)) == token
        assert service.keyring is not None
        os.kill(service.keyring.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            done = get(gitlab_host)
            elapsed = time.monotonic() - start
        finally:
            os.kill(service.keyring.pid, signal.SIGCONT)
        assert elapsed < 10 and served(done) is None
        assert "did not answer" in done.stderr and token not in done.stderr
        assert served(get(gitlab_host)) == token          # running again: served again
    finally:
        service.stop()


# -- random kills ---------------------------------------------------------------------------

KILLS = int(os.environ.get("CREDHELPER_KILLS", "50"))


def random_kill_trial(gitlab, host, rng, n, with_oauth):
    """One get killed at a random moment of its rotation; then gets until it is settled.
    Returns how it ended: "not started", "completed", "recovered" or "lost"."""
    import time

    from credhelper.lifecycle.journal import SETTLE_SECONDS
    from tests.conftest import credhelper

    user = "kill-%s-%d" % (with_oauth, n)
    gitlab.state.add_user(user)
    old = gitlab.state.create_pat(user, ["api"], expires_at=utc_today(2))
    credhelper("add", host, input=old.token)
    if with_oauth:
        oauth = gitlab.state.create_oauth_token(user, ["api"])
        credhelper("add", host, "--kind", "oauth", "--path", "other", input=oauth.token)
    rotations = len(gitlab.api.rotations)
    victim = start_get(host)
    victim.stdin.write("protocol=https\nhost=%s\n\n" % host)
    victim.stdin.close()
    time.sleep(rng.uniform(0.05, 0.9))      # the random moment of the kill is the point
    victim.kill()
    victim.wait(timeout=30)
    committed = len(gitlab.api.rotations) > rotations
    get(host)
    age_journal(SETTLE_SECONDS + 1)
    done = get(host)
    assert gitlab.state.reuse_detections_of_family(old.token) == []
    secret = served(done)
    pat_record = [r for r in status(host) if r["kind"] == "pat"][0]
    try:
        if pat_record["state"] == "lost-in-rotation":
            assert "was rotated on the server" in done.stderr and old.token not in done.stderr
            return "lost"
        token = gitlab.state.find_token(secret)
        assert gitlab.state.is_active(token) and token.kind == "personal_access_token"
        if token.id == old.id or not committed:
            return "not started"
        return "recovered" if "recovered the lost rotation" in done.stderr else "completed"
    finally:
        credhelper("remove", host, "--all")


@pytest.mark.parametrize("with_oauth", [False, True], ids=["alone", "with-oauth"])
def test_random_kills_during_rotations_recover_or_are_explained(gitlab, gitlab_host,
                                                                with_oauth, capsys):
    rng = random.Random(50 + with_oauth)
    outcomes = [random_kill_trial(gitlab, gitlab_host, rng, n, with_oauth)
                for n in range(KILLS if not with_oauth else max(1, KILLS * 2 // 5))]
    shares = {kind: outcomes.count(kind) for kind in sorted(set(outcomes))}
    with capsys.disabled():
        print("\nrandom kills (%s): %s" % ("with an OAuth login" if with_oauth else "alone",
                                           shares))
    if with_oauth:
        assert "lost" not in shares       # the second credential closes the window


# -- a hostile server -------------------------------------------------------------------------

PEAK_RSS = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:])\n"
            "sys.stderr.write('PEAK %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN)"
            ".ru_maxrss)\n"
            "sys.exit(done.returncode)\n")


@pytest.mark.parametrize("what", ["gzip_bomb", "deep", "overflow", "nan", "infinity",
                                  "big_int"])
def test_a_hostile_answer_costs_one_line_and_little_memory(gitlab, gitlab_host, what):
    """Peak memory of the helper under 64 MiB, one line, the token still served, and the
    next get is not hurt again (issue 10)."""
    import sys

    from tests.test_lifecycle_api import SELF, calls, erase

    token = fresh_pat(gitlab, gitlab_host)
    erase(gitlab_host, token.token)                  # the next get asks the server
    gitlab.faults.huge("GET", SELF, what)
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, "git-credential-gitlab", "get"],
                          input="protocol=https\nhost=%s\n\n" % gitlab_host,
                          capture_output=True, text=True, timeout=60)
    lines = done.stderr.splitlines()
    peak_kib = int(lines[-1].split()[1])
    print("peak RSS (%s): %.1f MiB" % (what, peak_kib / 1024))
    assert served(done) == token.token and peak_kib < 64 * 1024
    assert len(lines) == 2 and "Traceback" not in done.stderr    # one line, then PEAK
    before = calls(gitlab, "GET", SELF)
    again = get(gitlab_host)
    assert served(again) == token.token and again.stderr == ""
    assert calls(gitlab, "GET", SELF) == before        # backing off, not asking again


def test_a_rotated_token_that_is_not_ascii_is_never_stored(gitlab, gitlab_host):
    old = fresh_pat(gitlab, gitlab_host, expires_in_days=2)
    gitlab.faults.commit_then_garbage("POST", ROTATE, '{"id": 1, "token": "glpat-\\u00fc'
                                      'nicodeunicodeunicode"}')
    done = get(gitlab_host)
    assert "Traceback" not in done.stderr and gitlab.state.reuse_detections_of_family(
        old.token) == []
    assert status(gitlab_host)[0]["state"] == "lost-in-rotation"
    assert get(gitlab_host).stderr.count("\n") == 1      # explained again, never a crash


def test_a_full_disk_never_costs_a_token(gitlab, gitlab_host):
    """No file may grow (RLIMIT_FSIZE 0, as on a full disk) while a rotation is due: the
    valid token is served with one line, and nothing is rotated that could not be kept."""
    import resource

    def full_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write fails (EFBIG), as ENOSPC would
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    old = fresh_pat(gitlab, gitlab_host, expires_in_days=2)
    rotations = len(gitlab.api.rotations)
    done = subprocess.run(["git-credential-gitlab", "get"], preexec_fn=full_disk,
                          input="protocol=https\nhost=%s\n\n" % gitlab_host,
                          capture_output=True, text=True, timeout=60)
    assert served(done) == old.token and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and len(gitlab.api.rotations) == rotations
    assert gitlab.state.is_active(gitlab.state.find_token(old.token))
    new = gitlab.state.find_token(served(get(gitlab_host)))        # the disk has room again
    assert new.previous_token_id == old.id


def _machine_env(base, home):
    """The test's environment for another HOME (its own credhelper, same test server)."""
    import shutil

    env = dict(os.environ)
    for name, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"),
                      ("XDG_DATA_HOME", ".local/share"), ("XDG_STATE_HOME", ".local/state"),
                      ("XDG_CACHE_HOME", ".cache")):
        env[name] = str(home / sub) if sub else str(home)
    config = base / ".config" / "credhelper"
    shutil.copytree(config, home / ".config" / "credhelper")
    return env


def _age_journal_in(env, seconds):
    import json

    path = os.path.join(env["XDG_DATA_HOME"], "credhelper", "tokens.json")
    with open(path) as handle:
        data = json.load(handle)
    for token in data["tokens"]:
        if token.get("pending"):
            token["pending"]["started_at"] -= seconds
            token["backoff_until"] = (token.get("backoff_until") or seconds) - seconds
    with open(path, "w") as handle:
        json.dump(data, handle)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM],
                         ids=["SIGKILL", "SIGINT", "SIGTERM"])
def test_interrupted_rotations_that_commit_1_to_30_s_late(gitlab, gitlab_host, home, tmp_path,
                                                         how):
    """TRIALS rotations at once, each in its own HOME, each interrupted once its rotate
    reached GitLab, which commits them 1 to 30 s later; more gets follow at once, and more
    once every commit is in.  No second rotate, no reuse detection (issue 10)."""
    from credhelper.lifecycle.journal import SETTLE_SECONDS
    from tests.conftest import run

    rng = random.Random(30 + how)
    trials = []
    for n in range(TRIALS):
        env = _machine_env(home, tmp_path / ("machine-%d" % n))
        user = fresh_user(gitlab)
        old = gitlab.state.create_pat(user, ["api"], expires_at=utc_today(2))
        run("credhelper", "add", gitlab_host, input=old.token, env=env)
        trials.append((env, old))
    rotations = len(gitlab.api.rotations)
    faults = [gitlab.faults.commit_late("POST", ROTATE, rng.uniform(1, 30))
              for _ in trials]
    victims = []
    for env, _ in trials:
        victim = subprocess.Popen(["git-credential-gitlab", "get"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  text=True, env=env)
        victim.stdin.write("protocol=https\nhost=%s\n\n" % gitlab_host)
        victim.stdin.close()
        victims.append(victim)
    assert all(fault.wait_hit(60) for fault in faults)
    for victim in victims:
        victim.send_signal(how)
    for victim in victims:
        victim.wait(timeout=30)
    for env, old in trials:        # at once, while GitLab still works on most of them:
        # the old token while it is valid, nothing once a commit revoked it
        assert {served(get(gitlab_host, env)) for _ in range(2)} <= {old.token, None}
    assert all(fault.wait_committed(60) for fault in faults)
    assert len(gitlab.api.rotations) == rotations + TRIALS
    for env, old in trials:
        get(gitlab_host, env)
        _age_journal_in(env, SETTLE_SECONDS + 1)
        done = get(gitlab_host, env)
        assert "was rotated on the server" in done.stderr and old.token not in done.stderr
    assert len(gitlab.api.rotations) == rotations + TRIALS   # none rotated twice
    for _, old in trials:
        assert gitlab.state.reuse_detections_of_family(old.token) == []
