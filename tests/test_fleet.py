"""Fleets (issue 14): one token shared by many machines through a real OpenBao server, each
machine a HOME and processes of its own, on the fake GitLab over HTTPS with its reuse
detection, the clocks of both moved together (tests/support/fleet.py)."""

from __future__ import annotations

import datetime
import itertools
import json
import random

import pytest

from tests.support.fleet import Clock, Machine, finish, served
from tests.support.openbao import OpenBao

POLICY = 'path "secret/data/credhelper/fleet/*" { capabilities = ["create", "read", "update"] }'
DAY = 86400
_names = itertools.count()


@pytest.fixture(scope="module")
def bao(tmp_path_factory):
    with OpenBao(tmp_path_factory.mktemp("openbao")) as server:
        server.write_policy("credhelper-fleet", POLICY)
        yield server


@pytest.fixture
def clock(gitlab):
    clock = Clock(gitlab)
    yield clock
    clock.reset()
    gitlab.faults.clear()


@pytest.fixture
def token_file(bao, tmp_path):
    path = tmp_path / "bao-token"
    path.write_text(bao.token_with_policy("credhelper-fleet") + "\n")
    path.chmod(0o600)
    return str(path)


class Fleet:
    def __init__(self, machines, record, token, bao):
        self.machines, self.record, self.first_token, self.bao = machines, record, token, bao

    def shared(self):
        return self.bao.read_kv("credhelper/fleet/" + self.record)


def login(bao, token_file, record):
    return ["--addr", bao.addr, "--record", "credhelper/fleet/" + record,
            "--token-file", token_file]


def make_fleet(n, tmp_path, gitlab, clock, bao, token_file, expires_in_days=30):
    """n machines: the first adds a fresh user's token and publishes it, the others join."""
    number = next(_names)
    user = "fleet-%d" % number
    gitlab.state.add_user(user)
    today = gitlab.state.today()
    token = gitlab.state.create_pat(user, ["api"],
                                    expires_at=today + datetime.timedelta(days=expires_in_days))
    machines = [Machine(tmp_path / "machines", "m%d" % i, gitlab, clock) for i in range(n)]
    record = "run-%d" % number
    machines[0].credhelper("add", machines[0].host, input=token.token)
    published = machines[0].credhelper("fleet", "publish", machines[0].host,
                                       *login(bao, token_file, record))
    assert "version 1" in published.stdout and token.token not in published.stdout
    for machine in machines[1:]:
        machine.credhelper("fleet", "join", machine.host, *login(bao, token_file, record))
    return Fleet(machines, record, token, bao)


def newest(gitlab, token):
    (active,) = gitlab.state.active_tokens_of_family(token.token)
    return active


# -- many machines, three rotation periods ------------------------------------------------------

@pytest.mark.parametrize("n, at_once", [(1, 1), (10, 10), (50, 12)])
def test_a_fleet_rotates_exactly_once_per_period(n, at_once, tmp_path, gitlab, clock, bao,
                                                 token_file):
    """Gets at random moments over 75 days: the token (30 days, rotated 7 days before its
    expiry) is due three times; each time one machine rotates it and every machine's next
    get serves the new token, which GitLab accepts.  Up to ``at_once`` machines run a get at
    the same moment (50 processes at once would only measure this 2-core VM)."""
    fleet = make_fleet(n, tmp_path, gitlab, clock, bao, token_file)
    rng = random.Random(14 + n)
    rotations_before = len(gitlab.api.rotations)
    gets = 0
    while clock.offset < 75 * DAY:
        clock.advance(rng.uniform(0.2, 1.0) * DAY)
        batch = rng.sample(fleet.machines, rng.randint(1, at_once))
        answers = [finish(p) for p in [m.start_get() for m in batch]]   # at once
        current = newest(gitlab, fleet.first_token)
        for machine, done in zip(batch, answers):
            assert served(done) == current.token, (machine.name, done.stderr)
            assert current.token not in done.stderr
        gets += len(batch)
    ours = [r for r in gitlab.api.rotations[rotations_before:]
            if r[0] in {t.id for t in gitlab.state.family(fleet.first_token.token)}]
    assert len(ours) == 3
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []
    shared = fleet.shared()
    assert shared["data"]["token"] == newest(gitlab, fleet.first_token).token
    assert shared["data"]["lease"] is None and shared["data"]["journal"] is None
    print("fleet of %d: %d gets, %d rotations, record version %d"
          % (n, gets, len(ours), shared["metadata"]["version"]))


def test_show_prints_the_record_without_the_secret(tmp_path, gitlab, clock, bao, token_file):
    fleet = make_fleet(2, tmp_path, gitlab, clock, bao, token_file)
    shown = fleet.machines[1].credhelper("fleet", "show", fleet.machines[1].host, "--json")
    record = json.loads(shown.stdout)
    assert fleet.first_token.token not in shown.stdout
    assert record["version"] == 1 and record["lease"] is None and record["journal"] is None
    assert record["token_id"] == fleet.first_token.id and record["scopes"] == ["api"]


def test_publish_refuses_to_write_over_a_record(tmp_path, gitlab, clock, bao, token_file):
    fleet = make_fleet(1, tmp_path, gitlab, clock, bao, token_file)
    again = fleet.machines[0].credhelper("fleet", "publish", fleet.machines[0].host,
                                         *login(bao, token_file, fleet.record), check=False)
    assert again.returncode == 1 and "already holds a fleet record" in again.stderr


# -- the holder killed at each step -------------------------------------------------------------

def due(fleet, clock):
    """Move both clocks to when the token is due (23 days on)."""
    clock.advance(23 * DAY + 3600)


def test_holder_killed_after_claiming_the_fleet_rotates_once_the_call_cannot_commit(
        tmp_path, gitlab, clock, bao, token_file):
    from credhelper.fleet.lease import LEASE_SECONDS
    from credhelper.lifecycle.journal import SETTLE_SECONDS

    fleet = make_fleet(3, tmp_path, gitlab, clock, bao, token_file)
    first, second, third = fleet.machines
    due(fleet, clock)
    rotations = len(gitlab.api.rotations)
    killed = first.get(failpoint="fleet-after-claim")
    assert killed.returncode < 0 and served(killed) is None
    assert fleet.shared()["data"]["journal"]["step"] == "rotating"
    clock.advance(LEASE_SECONDS + 1)       # the lease ran out; the call may still commit
    assert served(second.get()) == fleet.first_token.token       # still valid: served
    assert len(gitlab.api.rotations) == rotations
    clock.advance(SETTLE_SECONDS)
    new = served(third.get())
    assert new != fleet.first_token.token and gitlab.state.is_active(gitlab.state.find_token(new))
    assert len(gitlab.api.rotations) == rotations + 1
    for machine in fleet.machines:
        assert served(machine.get()) == new
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []


def test_holder_killed_after_the_server_committed_is_reported_as_lost(
        tmp_path, gitlab, clock, bao, token_file):
    from credhelper.fleet.lease import LEASE_SECONDS

    fleet = make_fleet(3, tmp_path, gitlab, clock, bao, token_file)
    first, second, third = fleet.machines
    due(fleet, clock)
    rotations = len(gitlab.api.rotations)
    first.get(failpoint="after-server-commit")
    assert len(gitlab.api.rotations) == rotations + 1
    clock.advance(LEASE_SECONDS + 1)
    done = second.get()
    assert served(done) is None
    assert "was rotated on the server" in done.stderr and "fleet publish" in done.stderr
    assert fleet.first_token.token not in done.stderr
    assert fleet.shared()["data"]["journal"]["step"] == "lost"
    told = third.get()
    assert served(told) is None and "was rotated on the server" in told.stderr
    assert len(gitlab.api.rotations) == rotations + 1           # nobody tried again
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []
    # the operator's steps: a new token, added on one machine and published over the record
    user = gitlab.state.find_token(fleet.first_token.token).user
    fresh = gitlab.state.create_pat(user, ["api"], expires_at=gitlab.state.today()
                                    + datetime.timedelta(days=30))
    first.credhelper("add", first.host, input=fresh.token)
    first.credhelper("fleet", "publish", first.host, "--replace",
                     *login(bao, token_file, fleet.record))
    assert fleet.shared()["data"]["journal"] is None
    clock.advance(11 * 60)                        # past the lost copies' pause
    for machine in fleet.machines:
        assert served(machine.get()) == fresh.token


def test_holder_killed_after_writing_the_new_token_every_machine_follows(
        tmp_path, gitlab, clock, bao, token_file):
    fleet = make_fleet(3, tmp_path, gitlab, clock, bao, token_file)
    due(fleet, clock)
    rotations = len(gitlab.api.rotations)
    killed = fleet.machines[0].get(failpoint="fleet-after-publish")
    assert killed.returncode < 0
    new = newest(gitlab, fleet.first_token).token
    assert fleet.shared()["data"]["token"] == new
    for machine in fleet.machines:             # the holder too: it follows its own write
        assert served(machine.get()) == new
    assert len(gitlab.api.rotations) == rotations + 1
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []


# -- OpenBao out of reach -----------------------------------------------------------------------

def test_openbao_paused_the_fleet_serves_its_copies_then_goes_on(
        tmp_path, gitlab, clock, bao, token_file):
    fleet = make_fleet(3, tmp_path, gitlab, clock, bao, token_file)
    clock.advance(2 * DAY)                      # a check is due on every machine
    bao.pause()
    try:
        for machine in fleet.machines:
            first = machine.get()
            assert served(first) == fleet.first_token.token
            assert "did not answer" in first.stderr
            again = machine.get()
            assert served(again) == fleet.first_token.token and again.stderr == ""
    finally:
        bao.resume()
    due(fleet, clock)
    new = served(fleet.machines[1].get())
    assert new != fleet.first_token.token
    for machine in fleet.machines:
        assert served(machine.get()) == new
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []


# -- a machine whose copy git rejected ----------------------------------------------------------

def test_a_rejected_copy_rereads_the_record_first(tmp_path, gitlab, clock, bao, token_file):
    """A machine that slept through a rotation (its copy revoked): git's erase, then the next
    get reads the record before asking GitLab, and serves the new token."""
    fleet = make_fleet(2, tmp_path, gitlab, clock, bao, token_file)
    due(fleet, clock)
    new = served(fleet.machines[0].get())
    sleeper = fleet.machines[1]
    sleeper.run("git-credential-gitlab", "erase", input="protocol=https\nhost=%s\nusername=x\n"
                "password=%s\n" % (sleeper.host, fleet.first_token.token))
    assert served(sleeper.get()) == new


def test_a_copy_found_revoked_follows_the_token_an_operator_publishes(
        tmp_path, gitlab, clock, bao, token_file):
    """An administrator revoked the shared token: each machine, told by git, finds its copy
    revoked and says how to mend the fleet; once the replacement is published from one
    machine, the others follow it by themselves after their pause (no `fleet join` again),
    and until then a dead copy's get leaves OpenBao alone."""
    fleet = make_fleet(3, tmp_path, gitlab, clock, bao, token_file)
    first, second, third = fleet.machines
    gitlab.state.revoke(fleet.first_token.token)
    for machine in (second, third):
        machine.run("git-credential-gitlab", "erase", input="protocol=https\nhost=%s\n"
                    "username=x\npassword=%s\n" % (machine.host, fleet.first_token.token))
        done = machine.get()
        assert served(done) is None and "was revoked" in done.stderr
        assert "fleet publish %s --replace" % machine.host in done.stderr
    bao.pause()                                   # a dead copy pausing never asks OpenBao
    try:
        assert served(second.get()) is None
    finally:
        bao.resume()
    clock.advance(11 * 60)                        # past the pause, but kept from its keeper:
    second.extra_env["CREDHELPER_READ_ONLY"] = "1"
    assert served(second.get()) is None           # a dead copy is never served
    del second.extra_env["CREDHELPER_READ_ONLY"]
    user = gitlab.state.find_token(fleet.first_token.token).user
    fresh = gitlab.state.create_pat(user, ["api"], expires_at=gitlab.state.today()
                                    + datetime.timedelta(days=30))
    first.credhelper("add", first.host, input=fresh.token)
    first.credhelper("fleet", "publish", first.host, "--replace",
                     *login(bao, token_file, fleet.record))
    clock.advance(11 * 60)                        # past the dead copies' pause
    for machine in fleet.machines:
        done = machine.get()
        assert served(done) == fresh.token and done.stderr == ""
    assert all(machine.credhelper("fleet", "show", machine.host).returncode == 0
               for machine in fleet.machines)


# -- the hot path and the logins -----------------------------------------------------------------

def test_a_fresh_shared_get_never_talks_to_openbao(tmp_path, gitlab, clock, bao, token_file):
    """Paused, OpenBao could not answer: a fresh copy is served at once, no word said, and
    neither hvac nor the fleet code is even imported."""
    import subprocess
    import sys

    fleet = make_fleet(2, tmp_path, gitlab, clock, bao, token_file)
    machine = fleet.machines[1]
    bao.pause()
    try:
        done = subprocess.run([sys.executable, "-X", "importtime", "-m",
                               "tests.support.fleet_machine", "git-credential-gitlab", "get"],
                              input="protocol=https\nhost=%s\n\n" % machine.host,
                              capture_output=True, text=True, env=machine.env(), timeout=60,
                              cwd=str(tmp_path))
    finally:
        bao.resume()
    assert served(done) == fleet.first_token.token
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:")}
    assert not {m for m in modules if m.split(".")[0] in ("hvac", "requests")
                or m.startswith("credhelper.fleet")}
    assert [line for line in done.stderr.splitlines() if not line.startswith("import time:")] == []


def test_a_machine_joins_with_approle(tmp_path, gitlab, clock, bao, token_file):
    fleet = make_fleet(1, tmp_path, gitlab, clock, bao, token_file)
    role_id, secret_id = bao.enable_approle("runners", "credhelper-fleet")
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(secret_id)
    secret_file.chmod(0o600)
    joiner = Machine(tmp_path / "machines", "approle", gitlab, clock)
    joined = joiner.credhelper("fleet", "join", joiner.host, "--addr", bao.addr, "--record",
                               "credhelper/fleet/" + fleet.record, "--role-id", role_id,
                               "--secret-id-file", str(secret_file))
    assert secret_id not in joined.stdout + joined.stderr
    assert served(joiner.get()) == fleet.first_token.token
    due(fleet, clock)                  # it rotates through its AppRole login, and the other follows
    new = served(joiner.get())
    assert new != fleet.first_token.token and served(fleet.machines[0].get()) == new
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []


def test_a_bad_openbao_login_is_one_line(tmp_path, gitlab, clock, bao):
    joiner = Machine(tmp_path / "machines", "bad", gitlab, clock)
    wrong = tmp_path / "wrong-token"
    wrong.write_text("s.notatokenofthisserver\n")
    done = joiner.credhelper("fleet", "join", joiner.host, "--addr", bao.addr, "--record",
                             "credhelper/fleet/none", "--token-file", str(wrong), check=False)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert "refused access" in done.stderr and "notatoken" not in done.stderr


def test_a_ci_job_joins_with_its_id_token(tmp_path, gitlab, clock, bao, token_file):
    """OpenBao's JWT auth method trusts the fake GitLab as OIDC issuer (discovery document
    and JWKS served by it); a job's ID token for the bound project logs in, another's not."""
    issuer = "https://localhost:%d" % gitlab.port
    gitlab.oidc.issuer = issuer
    bao.enable_jwt(issuer, open(gitlab.ca.ca_file).read(), "runners", "https://bao.test",
                   {"project_path": "fleet/runners"}, "credhelper-fleet")
    fleet = make_fleet(1, tmp_path, gitlab, clock, bao, token_file)
    job = Machine(tmp_path / "machines", "ci-job", gitlab, clock)
    where = ["--addr", bao.addr, "--record", "credhelper/fleet/" + fleet.record,
             "--jwt-role", "runners"]
    job.extra_env["BAO_ID_TOKEN"] = gitlab.oidc.issue("other/project", aud="https://bao.test")
    refused = job.credhelper("fleet", "join", job.host, *where, check=False)
    assert refused.returncode == 1 and "refused this machine's login" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    job.extra_env["BAO_ID_TOKEN"] = gitlab.oidc.issue("fleet/runners", aud="https://bao.test")
    job.credhelper("fleet", "join", job.host, *where)
    assert served(job.get()) == fleet.first_token.token
    due(fleet, clock)
    job.extra_env["BAO_ID_TOKEN"] = gitlab.oidc.issue("fleet/runners", aud="https://bao.test")
    new = served(job.get())
    assert new != fleet.first_token.token and served(fleet.machines[0].get()) == new
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []


def test_a_rotate_answer_lost_on_the_way_is_told_by_the_holder_at_once(
        tmp_path, gitlab, clock, bao, token_file):
    """GitLab committed, the connection dropped: the holder asks about the old token right
    away (revoked: the answer is lost), writes that in the record, and nobody rotates again."""
    fleet = make_fleet(2, tmp_path, gitlab, clock, bao, token_file)
    due(fleet, clock)
    rotations = len(gitlab.api.rotations)
    gitlab.faults.drop_after_commit("POST", r"/api/v4/personal_access_tokens/self/rotate")
    done = fleet.machines[0].get()
    assert served(done) is None and "was rotated on the server" in done.stderr
    assert fleet.shared()["data"]["journal"]["step"] == "lost"
    other = fleet.machines[1].get()
    assert served(other) is None and "was rotated on the server" in other.stderr
    assert len(gitlab.api.rotations) == rotations + 1
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []


def test_a_machine_that_slept_past_the_expiry_follows_the_record(
        tmp_path, gitlab, clock, bao, token_file):
    """Its copy expired two rotations ago: the next get reads the record, not "expired"."""
    fleet = make_fleet(2, tmp_path, gitlab, clock, bao, token_file)
    awake, sleeper = fleet.machines
    for _ in range(2):
        due(fleet, clock)
        assert served(awake.get()) == newest(gitlab, fleet.first_token).token
    clock.advance(10 * DAY)               # well past the first token's expiry
    done = sleeper.get()
    assert served(done) == newest(gitlab, fleet.first_token).token, done.stderr
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []


def test_openbao_gone_between_the_rotation_and_its_record_the_holder_publishes_later(
        tmp_path, gitlab, clock, bao, token_file):
    """The holder's rotate is answered while OpenBao does not answer: the holder keeps (and
    serves) the only copy of the new token, and writes it once OpenBao is back."""
    fleet = make_fleet(2, tmp_path, gitlab, clock, bao, token_file)
    holder, other = fleet.machines
    due(fleet, clock)
    fault = gitlab.faults.commit_late("POST", r"/api/v4/personal_access_tokens/self/rotate", 1.0)
    running = holder.start_get()
    assert fault.wait_hit(30)
    bao.pause()
    try:
        done = finish(running)
    finally:
        bao.resume()
    new = newest(gitlab, fleet.first_token).token
    assert served(done) == new and "could not write it to OpenBao" in done.stderr
    # a paused server still took the write into its socket: it may land once resumed
    assert fleet.shared()["data"]["token"] in (fleet.first_token.token, new)
    assert served(holder.get()) == new                 # its next visit writes the record
    assert fleet.shared()["data"]["token"] == new
    assert fleet.shared()["data"]["journal"] is None
    assert served(other.get()) == new
    assert gitlab.state.reuse_detections_of_family(fleet.first_token.token) == []
