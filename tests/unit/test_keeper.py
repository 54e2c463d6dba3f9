"""The keeper in-process: a fake clock, a scripted GitLab client, real files in tmp_path.

Each test drives one path through ``lifecycle.keeper`` and the journal (journal.py's steps)
and checks what was saved, what was stored and what the client was asked.
"""

from __future__ import annotations

import pytest

from credhelper.gitlab.errors import NoTimeLeft, Refused, TokenRejected, Unavailable
from credhelper.lifecycle.book import TokenBook, refresh_slot
from credhelper.lifecycle.context import RequestContext
from credhelper.lifecycle.journal import SETTLE_SECONDS
from credhelper.lifecycle.keeper import Keeper
from credhelper.local.config import Config
from credhelper.local.settings import Settings
from credhelper.local.token_index import TokenIndex
from credhelper.rules.dates import date_from_days
from credhelper.rules.freshness import needs_attention
from credhelper.rules.model import ADDED, LOST, NEEDS_CHECK, OAUTH, OK, PAT, REVOKED, TokenRecord
from credhelper.stores import Secrets

NOW = 1_800_000_000
DAY = 86400
OLD = "glpat-oldoldoldoldoldoldold"
NEW = "glpat-newnewnewnewnewnewnew"


class ScriptedClient:
    """Answers each call with the next scripted value for that method (or raises it)."""

    def __init__(self, script):
        self.script = {name: list(answers) for name, answers in script.items()}
        self.calls = []

    def _answer(self, name, *args):
        self.calls.append((name,) + args)
        answer = self.script[name].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def token_self(self, token):
        return self._answer("token_self", token)

    def rotate(self, token, expires_at=None):
        return self._answer("rotate", token, expires_at)

    def oauth_info(self, token):
        return self._answer("oauth_info", token)

    def oauth_refresh(self, refresh_token, client_id):
        return self._answer("oauth_refresh", refresh_token, client_id)

    def revoke_self(self, token):
        return self._answer("revoke_self", token)


@pytest.fixture(autouse=True)
def state_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


class World:
    def __init__(self, tmp_path, script):
        self.index = TokenIndex(str(tmp_path / "data"))
        self.secrets = Secrets(str(tmp_path / "data"))
        self.client = ScriptedClient(script)
        self.keeper = Keeper(TokenBook(self.index, self.secrets), Settings(Config()),
                             clients=lambda record, settings, ctx: self.client)
        self.warnings = []
        self.now = NOW

    def ctx(self):
        return RequestContext(lambda: self.now, self.warnings.append)

    def add(self, record, secret=OLD):
        self.secrets.set(record, secret)
        self.index.update(lambda records: records + [record])
        return record

    def only_record(self):
        (record,) = self.index.load()
        return record


def pat(**fields):
    defaults = dict(id="t1", host="gitlab.example.com", kind=PAT, store="file", origin=ADDED,
                    scopes=["api"], state=OK, checked_at=NOW - 60,
                    next_check_at=NOW + DAY, hint="glpat-…dold", token_id=7)
    defaults.update(fields)
    return TokenRecord(**defaults)


def due(days_left=3):
    return dict(expires_at=date_from_days(NOW // DAY + days_left), next_check_at=NOW - 1)


def self_info(days_left=3, **fields):
    info = {"id": 7, "name": "laptop", "active": True, "revoked": False, "scopes": ["api"],
            "user_id": 1, "expires_at": date_from_days(NOW // DAY + days_left)}
    info.update(fields)
    return info


def rotated(days=30):
    return {"id": 8, "name": "laptop", "token": NEW, "scopes": ["api"], "user_id": 1,
            "expires_at": date_from_days(NOW // DAY + days)}


def test_a_check_records_what_the_server_says(tmp_path):
    world = World(tmp_path, {"token_self": [self_info(days_left=90, scopes=["read_api"])]})
    record = world.add(pat(next_check_at=NOW - 1))
    result = world.keeper.attend(record, world.ctx())
    assert result.scopes == ["read_api"] and result.checked_at == NOW
    assert result.next_check_at == NOW + DAY
    assert world.only_record().scopes == ["read_api"]
    assert world.client.calls == [("token_self", OLD)]


def test_a_rejected_check_is_a_final_state(tmp_path):
    world = World(tmp_path, {"token_self": [TokenRejected("revoked", "revoked")]})
    record = world.add(pat(next_check_at=NOW - 1))
    assert world.keeper.attend(record, world.ctx()).state == REVOKED
    assert world.only_record().state == REVOKED


def test_a_failed_check_backs_off_and_keeps_the_token(tmp_path):
    world = World(tmp_path, {"token_self": [Unavailable("down", 503, retry_after=1200)]})
    record = world.add(pat(next_check_at=NOW - 1))
    result = world.keeper.attend(record, world.ctx())
    assert result.state == OK and result.backoff_until == NOW + 1200
    assert any("using it as it is" in w for w in world.warnings)


def test_a_check_this_request_had_no_time_for_starts_no_backoff(tmp_path):
    """The request's own budget ran out before the call (a slow start, a lock wait): the
    server was never asked, so it owes no pause; the next request asks."""
    world = World(tmp_path, {"token_self": [NoTimeLeft(), self_info(days_left=90)]})
    record = world.add(pat(next_check_at=NOW - 1))
    result = world.keeper.attend(record, world.ctx())
    assert result.state == OK and result.backoff_until is None
    assert world.keeper.attend(world.only_record(), world.ctx()).checked_at == NOW
    assert len(world.client.calls) == 2


def test_rotation_runs_every_journal_step(tmp_path):
    world = World(tmp_path, {"token_self": [self_info()], "rotate": [rotated()]})
    record = world.add(pat(**due()))
    result = world.keeper.attend(record, world.ctx())
    assert result.id != record.id and result.pending is None and result.token_id == 8
    assert world.secrets.get(result) == NEW            # step 3
    assert world.only_record().id == result.id          # step 4
    assert world.secrets.get(record) is None            # step 5
    assert "stale_secret" not in world.only_record().extra
    (_, token, expires_at) = world.client.calls[1]
    assert token == OLD and expires_at == date_from_days(NOW // DAY + 30)


def test_a_refused_expiry_falls_back_to_the_day_before_the_limit(tmp_path):
    limit = date_from_days(NOW // DAY + 10)
    world = World(tmp_path, {"token_self": [self_info()],
                             "rotate": [Refused("Expiration date must be before " + limit, 400),
                                        rotated(9)]})
    world.add(pat(**due()))
    world.keeper.attend(world.only_record(), world.ctx())
    assert world.client.calls[2][2] == date_from_days(NOW // DAY + 9)
    assert world.secrets.get(world.only_record()) == NEW


def test_an_answer_without_a_token_marks_the_rotation_lost(tmp_path):
    world = World(tmp_path, {"token_self": [self_info()], "rotate": [{"id": 8}]})
    world.add(pat(**due()))
    assert world.keeper.attend(world.only_record(), world.ctx()).state == LOST


def test_recovery_after_step_1_waits_until_the_call_cannot_commit(tmp_path):
    world = World(tmp_path, {"token_self": [self_info(days_left=90), self_info(days_left=90)]})
    world.add(pat(pending={"new_id": "n1", "started_at": NOW - 30}))
    early = world.keeper.attend(world.only_record(), world.ctx())
    assert early.pending is not None and early.id == "t1"          # still in flight, maybe
    assert early.backoff_until == NOW - 30 + SETTLE_SECONDS
    assert not needs_attention(early, NOW + 1)                     # the hot path serves it
    world.now = NOW - 30 + SETTLE_SECONDS
    result = world.keeper.attend(world.only_record(), world.ctx())
    assert result.pending is None and result.state == OK and result.id == "t1"


def test_recovery_after_the_server_committed_marks_the_token_lost(tmp_path):
    world = World(tmp_path, {"token_self": [TokenRejected("revoked", "revoked")]})
    world.add(pat(pending={"new_id": "n1", "started_at": NOW - 30}))
    assert world.keeper.attend(world.only_record(), world.ctx()).state == LOST


def test_recovery_after_step_3_finishes_the_swap_without_the_server(tmp_path):
    world = World(tmp_path, {})
    record = world.add(pat(pending={"new_id": "n1", "started_at": NOW - 30,
                                    "expires_at": "2027-01-01"}))
    world.secrets.set(record.replace(id="n1"), NEW)
    result = world.keeper.journal.recover(record, world.ctx())
    assert result.id == "n1" and result.state == NEEDS_CHECK
    assert result.expires_at == "2027-01-01" and world.client.calls == []
    assert world.secrets.get(record) is None and world.only_record().id == "n1"


def test_recovery_after_step_4_deletes_the_stale_secret(tmp_path):
    world = World(tmp_path, {})
    world.secrets.set(pat(id="old"), OLD)
    record = world.add(pat(id="n1", extra={"stale_secret": "old"}), secret=NEW)
    result = world.keeper.attend(record, world.ctx())
    assert world.secrets.get(pat(id="old")) is None and world.secrets.get(result) == NEW
    assert "stale_secret" not in world.only_record().extra


def test_an_ambiguous_rotation_asks_about_the_old_token_at_once(tmp_path):
    world = World(tmp_path, {"token_self": [self_info(), TokenRejected("revoked", "revoked")],
                             "rotate": [Unavailable("timed out", ambiguous=True)]})
    world.add(pat(**due()))
    assert world.keeper.attend(world.only_record(), world.ctx()).state == LOST


def test_oauth_refresh_uses_the_same_journal(tmp_path):
    world = World(tmp_path, {"oauth_info": [{"expires_in": 300, "scopes": ["api"]}],
                             "oauth_refresh": [{"access_token": "newaccess" * 3,
                                                "refresh_token": "newrefresh" * 3,
                                                "expires_in": 7200}]})
    record = world.add(pat(kind=OAUTH, client_id="app", next_check_at=NOW - 1),
                       secret="oldaccess" * 3)
    world.secrets.set(refresh_slot(record), "oldrefresh" * 3)
    result = world.keeper.attend(record, world.ctx())
    assert world.secrets.get(result) == "newaccess" * 3
    assert world.secrets.get(refresh_slot(result)) == "newrefresh" * 3
    assert world.secrets.get(refresh_slot(record)) is None
    assert result.expires_utc == NOW + 7200
    assert world.client.calls[1] == ("oauth_refresh", "oldrefresh" * 3, "app")


def oauth_record(world, **fields):
    record = world.add(pat(kind=OAUTH, client_id="app", scopes=["read_repository"], **fields),
                       secret="oldaccess" * 3)
    world.secrets.set(refresh_slot(record), "oldrefresh" * 3)
    return record


def test_an_oauth_token_the_server_refuses_is_refreshed_before_it_is_given_up(tmp_path):
    """Its access token expired on the server's clock (this one is behind): the refresh
    token still works, so git gets a new access token at its next request."""
    world = World(tmp_path, {"oauth_info": [TokenRejected("unknown", "x")] * 2,
                             "oauth_refresh": [{"access_token": "newaccess" * 3,
                                                "refresh_token": "newrefresh" * 3,
                                                "expires_in": 7200}]})
    record = oauth_record(world, state=NEEDS_CHECK, expires_utc=NOW + 3600)
    result = world.keeper.attend(record, world.ctx())
    assert result.state == OK and world.secrets.get(result) == "newaccess" * 3
    assert world.only_record().client_id == "app"


def test_an_oauth_token_whose_refresh_is_refused_too_is_given_up(tmp_path):
    world = World(tmp_path, {"oauth_info": [TokenRejected("unknown", "x")] * 2,
                             "oauth_refresh": [Refused("invalid_grant", 400, "invalid_grant")]})
    record = oauth_record(world, state=NEEDS_CHECK, expires_utc=NOW + 3600)
    result = world.keeper.attend(record, world.ctx())
    assert result.state not in (OK, NEEDS_CHECK)
    assert world.only_record().client_id is None and "credhelper login" in world.warnings[0]


def test_a_refused_oauth_token_whose_refresh_cannot_be_sent_is_kept_for_later(tmp_path):
    world = World(tmp_path, {"oauth_info": [TokenRejected("unknown", "x")] * 2,
                             "oauth_refresh": [Unavailable("down", 503)]})
    record = oauth_record(world, state=NEEDS_CHECK, expires_utc=NOW + 3600)
    result = world.keeper.attend(record, world.ctx())
    assert result.state == NEEDS_CHECK and result.backoff_until > NOW
    assert world.only_record().client_id == "app"       # tried again after the backoff


def test_a_refreshable_oauth_token_is_not_warned_about(tmp_path):
    world = World(tmp_path, {})
    record = oauth_record(world, expires_utc=NOW + 3600, next_check_at=NOW + 3000)
    assert not needs_attention(record, NOW)
    assert world.keeper.attend(record, world.ctx()).warned_at is None
    assert world.warnings == [] and world.client.calls == []


def test_each_request_context_has_its_own_deadline():
    first = RequestContext(lambda: NOW, print, budget=6.0)
    later = RequestContext(lambda: NOW, print, budget=6.0)
    assert later.deadline >= first.deadline and later.time_left() > 5.0


class LockedStore:
    """A store that reads but refuses writes, as a locked keyring does."""

    name = "keyring"

    def __init__(self, inner):
        self.inner = inner

    def get(self, record):
        return self.inner.get(record)

    def set(self, record, secret):
        from credhelper.errors import StoreError

        raise StoreError("the keyring is locked")

    def delete(self, record):
        self.inner.delete(record)


class LocksAfterTheProbe(LockedStore):
    """Takes the probe write before a rotation, then locks: the keyring locked (or the disk
    filled) between the probe and the new token's arrival."""

    def set(self, record, secret):
        if record.id.endswith(".probe"):
            return self.inner.set(record, secret)
        return super().set(record, secret)


def test_a_new_token_the_store_refuses_is_rescued_served_and_moved_home(tmp_path):
    world = World(tmp_path, {"token_self": [self_info()], "rotate": [rotated()]})
    world.add(pat(**due()))
    real = world.secrets.store_for(world.only_record())
    world.secrets._open[("file", None)] = LocksAfterTheProbe(real)
    result = world.keeper.attend(world.only_record(), world.ctx())
    assert result.extra.get("rescued") and world.secrets.get(result) == NEW
    assert any("kept in" in w and NEW not in w for w in world.warnings)
    # another process (no memory of it) still finds it, in the 0600 rescue file
    fresh = Secrets(str(tmp_path / "data"))
    fresh._open[("file", None)] = LockedStore(real)
    assert fresh.get(world.only_record()) == NEW
    assert oct((tmp_path / "data" / "rescued.json").stat().st_mode & 0o777) == "0o600"
    # the store works again: the next attention moves it home
    world.secrets._open[("file", None)] = real
    home = world.keeper.attend(world.only_record(), world.ctx())
    assert "rescued" not in home.extra and real.get(home) == NEW
    assert Secrets(str(tmp_path / "data")).rescued(home) is None


class ShortLivedServer(ScriptedClient):
    """A GitLab whose instance maximum lifetime is ``max_days``: every rotation is granted
    at most that, whatever was asked (docs/gitlab.md#rotation)."""

    def __init__(self, world, max_days):
        super().__init__({})
        self.world, self.max_days, self.rotations = world, max_days, 0
        self.expires_at = date_from_days(NOW // DAY + 3)

    def token_self(self, token):
        self.calls.append(("token_self", token))
        return self_info(expires_at=self.expires_at)

    def rotate(self, token, expires_at=None):
        self.calls.append(("rotate", token, expires_at))
        self.rotations += 1
        limit = date_from_days(int(self.world.now // DAY) + self.max_days)
        self.expires_at = min(expires_at or limit, limit)
        return dict(rotated(), expires_at=self.expires_at)


def test_a_short_instance_lifetime_does_not_make_every_get_rotate(tmp_path):
    """An instance maximum of 5 days and the default 7-day window: 20 gets over a day, one
    rotation (the window adapts to what was granted; issue 10)."""
    world = World(tmp_path, {})
    server = world.client = ShortLivedServer(world, max_days=5)
    world.add(pat(**due()))
    for step in range(20):
        world.now = NOW + step * DAY // 20
        (record,) = world.index.load()
        if needs_attention(record, world.now):
            world.keeper.attend(record, world.ctx())
    assert server.rotations == 1
    assert world.secrets.get(world.only_record()) == NEW


def test_a_policy_that_would_rotate_on_every_get_is_refused():
    from credhelper.errors import ConfigError
    from credhelper.local.config import parse

    with pytest.raises(ConfigError, match="rotate_before_days .* must be less than"):
        parse("[policy]\nrotate_before_days = 30\nnew_lifetime_days = 30\n")
    with pytest.raises(ConfigError, match='hosts.gitlab.example.com'):
        parse('[hosts."gitlab.example.com"]\nrotate_before_days = 40\n')


def test_re_adding_a_token_with_an_unsettled_rotation_is_refused(tmp_path):
    from credhelper.errors import InvalidInput

    world = World(tmp_path, {})
    world.add(pat(pending={"new_id": "n1", "started_at": NOW - 30}, backoff_until=NOW + 90))
    with pytest.raises(InvalidInput, match="may still complete"):
        world.keeper.book.register(pat(id="t2"), "glpat-readdedreaddedreadded", None, print)
    assert [r.id for r in world.index.load()] == ["t1"]
    world.keeper.book.save(world.only_record().replace(state=LOST))   # told, then re-added
    world.keeper.book.register(pat(id="t2"), "glpat-readdedreaddedreadded", None, print)
    assert [r.id for r in world.index.load()] == ["t2"]


class FullDisk(LockedStore):
    def set(self, record, secret):
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("store", [LockedStore, FullDisk], ids=["locked-keyring", "full-disk"])
def test_no_rotation_starts_when_the_new_token_could_not_be_kept(tmp_path, store):
    """Before the point of no return: a store that cannot take a new token postpones the
    rotation; the old token, valid for days, is kept and served (issue 10)."""
    world = World(tmp_path, {"token_self": [self_info()], "rotate": [rotated()]})
    world.add(pat(**due()))
    real = world.secrets.store_for(world.only_record())
    world.secrets._open[("file", None)] = store(real)
    result = world.keeper.attend(world.only_record(), world.ctx())
    assert [call[0] for call in world.client.calls] == ["token_self"]     # no rotate
    assert result.id == "t1" and result.pending is None and result.backoff_until > NOW
    assert world.secrets.get(result) == OLD
    assert any("cannot take a new token" in w for w in world.warnings)


def _iso(seconds):
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


class KeepingServer(ScriptedClient):
    """A GitLab that grants what it is asked (up to 365 days) and says when each token was
    made, as GET .../self and the rotate answer do (docs/gitlab.md#token-self-information)."""

    def __init__(self, world, created, expires_at):
        super().__init__({})
        self.world, self.rotations = world, []
        self.created, self.expires_at = created, expires_at

    def token_self(self, token):
        self.calls.append(("token_self", token))
        return self_info(expires_at=self.expires_at, created_at=_iso(self.created))

    def rotate(self, token, expires_at=None):
        self.calls.append(("rotate", token, expires_at))
        self.rotations.append(self.world.now)
        self.created, self.expires_at = self.world.now, expires_at
        return dict(rotated(), expires_at=expires_at, created_at=_iso(self.created))


@pytest.mark.parametrize("granted", [1, 2, 3])
def test_a_kept_short_lifetime_rotates_in_time_and_not_in_a_storm(tmp_path, granted):
    """A token granted a day or three, rotated keeping its lifetime, looked at every 15
    minutes for 20 days: it is never served expired, and rotates about once per half of
    its lifetime (a kept 1-day lifetime is asked as 2 days: whole days could end it within
    the hour)."""
    from credhelper.rules.freshness import expiry_utc

    world = World(tmp_path, {})
    start_day = NOW // DAY
    server = world.client = KeepingServer(world, NOW - 3600,
                                          date_from_days(start_day + granted))
    world.add(pat(expires_at=server.expires_at, created_utc=NOW - 3600,
                  next_check_at=NOW - 1))
    for step in range(20 * 96):
        world.now = NOW + step * 900
        (record,) = world.index.load()
        if needs_attention(record, world.now):
            record = world.keeper.attend(record, world.ctx())
        assert expiry_utc(record) > world.now, (step, record.expires_at)
    kept = max(granted, 2)
    assert all(asked == date_from_days(int(when // DAY) + kept)
               for (_, _, asked), when in zip(
                   [c for c in server.calls if c[0] == "rotate"], server.rotations,
                   strict=True))
    # each rotation waits half of what was granted: at least (kept - 1) / 2 days
    least = DAY * (kept - 1) / 2
    gaps = [later - earlier for earlier, later in zip(server.rotations, server.rotations[1:])]
    assert gaps and min(gaps) >= least and len(server.rotations) <= 20 * DAY / least + 1


def test_the_journal_names_the_fallback_date_a_lost_answer_was_asked_for(tmp_path):
    """The orphan finder matches the expiry the rotation asked for (orphans.py): after the
    server refused the first date, that is the fallback, not the refused one."""
    limit = date_from_days(NOW // DAY + 10)
    world = World(tmp_path, {"token_self": [self_info(), self_info()],
                             "rotate": [Refused("Expiration date must be before " + limit, 400),
                                        Unavailable("timed out", ambiguous=True)]})
    world.add(pat(**due()))
    result = world.keeper.attend(world.only_record(), world.ctx())
    assert result.pending is not None
    assert result.pending["expires_at"] == date_from_days(NOW // DAY + 9)
