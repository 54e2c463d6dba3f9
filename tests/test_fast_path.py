"""git's get/store/erase fast path (fast_service.py, reading local/compact.py's copies) against
the full path (Service), in-process on generated token indexes, configs and requests: the fast
path gives the full path's very answer, with no warning, no change to any file and no call to
the keeper (the network), or it declines.

Deterministic (``derandomize=True``); ``CREDHELPER_HYPOTHESIS_EXAMPLES=N`` runs N cases
instead (tests/support/hypothesis_profiles.py).
"""

import os
import tempfile

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from credhelper import fast_service
from credhelper.errors import CredhelperError
from credhelper.local import compact, paths
from credhelper.local.token_index import TokenIndex
from credhelper.protocols import git
from credhelper.rules.model import (
    ADDED,
    DEPLOY,
    EXPIRED,
    GIT_STORE,
    NEEDS_CHECK,
    OAUTH,
    OK,
    PASSWORD,
    PAT,
    REVOKED,
    TokenRecord,
)
from credhelper.service import Service
from credhelper.stores import MEMORY, open_store
from tests.support.hypothesis_profiles import examples

HOST = "gitlab.example.com"
NOW = 1_700_000_000          # 2023-11-14 22:13 UTC
BASE = dict(max_examples=examples(400), derandomize=True, deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Watched(Service):
    """The full path, with the keeper (checks, rotations: the network) replaced by a note that
    it was asked; the token is then used as it is."""

    attended = False

    def _attend(self, record):
        self.attended = True
        return record


def some(values):
    return st.sampled_from(values)


@st.composite
def tokens(draw, config_mtime, plain):
    fresh = plain or draw(some([True, True, False]))    # most are plainly fresh
    kind = draw(some([PAT, PAT, OAUTH, DEPLOY, PASSWORD]))
    record = TokenRecord(
        id="t%d" % draw(st.integers(0, 10 ** 6)),
        host=HOST if plain else draw(some([HOST] * 8 + ["other.example.com", HOST + ":8443"])),
        kind=kind,
        username=draw(some(["puller", "puller", None] if kind in (DEPLOY, PASSWORD) else
                           [None, None, None, "alice", "puller"])),
        path=draw(some([None, None, "group", "group/project"])),
        scopes=draw(some([None, ["api"], ["api"], ["read_repository"], ["read_api"],
                          ["granular"], ["write_repository"], []])),
        expires_at=draw(some([None, "2030-01-01", "2030-01-01", "2023-11-20", "2023-11-15",
                              "2020-01-01"])),
        expires_utc=None if fresh else draw(some([None, NOW + 3600])),
        store=draw(some(["file"] * 8 + [MEMORY])),
        origin=ADDED if fresh else draw(some([ADDED, GIT_STORE])),
        state=OK if fresh else draw(some([OK, NEEDS_CHECK, REVOKED, EXPIRED])),
        user_id=draw(some([None, 1, 2])), owner_name=draw(some([None, "alice", "bob"])),
        default_account=draw(some([None, True])),
        checked_at=NOW - 100 if fresh else draw(some([None, NOW - 100])),
        next_check_at=NOW + 1000 if fresh else draw(some([None, NOW + 1000, NOW - 1])),
        config_mtime=config_mtime if fresh else draw(some([None, config_mtime, 1.5])),
        warned_at=draw(some([None, NOW - 10])), backoff_until=draw(some([None, NOW + 100])),
        registry=draw(some([None, "registry.example.com"])),
        pending=None if fresh else draw(some([None] * 9 + [{"new_id": "x", "started_at": 1}])),
        extra={} if fresh else draw(some([{}] * 9 + [{"stale_secret": True},
                                                     {"rotated_at": NOW - 10},
                                                     {"nested": {"a": [1]}}])))
    secret = draw(some(["glpat-%s-secret-secret" % record.id] * 16 + [None, "", "tab\tbed"]))
    return record, secret


@st.composite
def requests(draw, secrets, plain):
    action = draw(some(["get", "get", "store", "erase"]))
    lines = ["protocol=%s" % draw(some(["https"] * 8 + ["http", "HTTPS"])),
             "host=%s" % draw(some([HOST] * 8 + ["GitLab.Example.COM", "other.example.com",
                                                 HOST + ":8443", "unknown.example"]))]
    if plain:                          # the everyday request, to the host of every token
        lines = ["protocol=https", "host=%s" % HOST]
    for key, values in (("path", [None, "group/project.git", "group", "other/x"]),
                        ("username", [None, None, None, "alice", "oauth2", "bob", "puller"]),
                        ("capability[]", [None, "authtype"]),
                        ("wwwauth[]", [None, 'Basic realm="GitLab"']),
                        ("password_expiry_utc", [None, str(NOW + 10), "1"]),
                        ("ephemeral", [None, "false", "1", "maybe"])):
        value = draw(some(values))
        if value is not None and (action != "get" or key not in ("ephemeral",)):
            lines.append("%s=%s" % (key, value))
    if action != "get":
        lines.append("password=%s" % draw(some(list(secrets) + ["not-ours-not-ours"])))
    return action, ("\n".join(lines) + "\n\n").encode()


@st.composite
def cases(draw):
    config = draw(some([None, "", '[hosts."%s"]\n' % HOST]))
    mtime = None if config is None else 1000.25     # what state() sets
    plain = draw(st.booleans())       # half the cases are fresh tokens asked for over https
    drawn = draw(st.lists(tokens(mtime, plain), min_size=1, max_size=4,
                          unique_by=lambda t: t[0].id))
    secrets = [s for _, s in drawn if s] or ["none-none-none"]
    return config, drawn, draw(requests(secrets, plain))


def state(home, config, drawn, monkeypatch):
    """A data dir holding ``drawn`` (saved by the product, so with its compact copies), and
    the config; the environment both paths read."""
    root = tempfile.mkdtemp(dir=str(home))
    monkeypatch.setenv("XDG_DATA_HOME", root + "/data")
    monkeypatch.setenv("XDG_CONFIG_HOME", root + "/config")
    if config is not None:
        os.makedirs(root + "/config/credhelper")
        with open(paths.config_file(), "w") as handle:
            handle.write(config)
        os.utime(paths.config_file(), (1000.25, 1000.25))
    index = TokenIndex()
    with index.lock():
        index.save([record for record, _ in drawn])
    for record, secret in drawn:
        if secret is not None:
            open_store(record.store, data_dir=index.directory).set(record, secret)
    return index


def snapshot(directory):
    return {name: open(os.path.join(directory, name), "rb").read()
            for name in sorted(os.listdir(directory)) if name.endswith(".json")}


@settings(**BASE)
@given(case=cases())
def test_the_fast_path_answers_as_the_full_path_does_or_declines(case, home, monkeypatch):
    config, drawn, (action, data) = case
    index = state(home, config, drawn, monkeypatch)
    environ = dict(os.environ)
    try:
        fast = fast_service.answer(action, data, environ, lambda: NOW)
    except CredhelperError:
        fast = None                    # the launcher declines: the full path words it
    before, warnings = snapshot(index.directory), []
    full = Watched(index, environ, clock=lambda: NOW, warn=warnings.append)
    try:
        answer = git.run(action, data, lambda: full)
    except CredhelperError as error:
        answer = error
    event("%s: %s" % (action, "declined" if fast is None else "answered" + (
        " with a credential" if b"password=" in fast else "")))
    if fast is not None:
        assert answer == fast
        assert warnings == [] and not full.attended
        assert snapshot(index.directory) == before


def fresh_pat(**fields):
    values = dict(id="pat", host=HOST, kind=PAT, scopes=["api"], expires_at="2030-01-01",
                  checked_at=NOW - 100, next_check_at=NOW + 1000)
    values.update(fields)
    return TokenRecord(**values)


def answer(action, data):
    return fast_service.answer(action, data.encode(), dict(os.environ), lambda: NOW)


def test_the_everyday_get_and_store_are_answered_by_the_fast_path(home, monkeypatch):
    """Not a vacuous property: the common case really is answered, and what the full path
    says."""
    state(home, None, [(fresh_pat(), "glpat-everydayeveryday")], monkeypatch)
    served = answer("get", "protocol=https\nhost=%s\n\n" % HOST)
    assert served == b"username=oauth2\npassword=glpat-everydayeveryday\n" \
        b"password_expiry_utc=1893456000\n"
    stored = "protocol=https\nhost=%s\n%s" % (HOST, served.decode())
    assert answer("store", stored) == b""
    assert answer("store", "protocol=https\nhost=unmanaged.example\nusername=u\n"
                  "password=p\n") == b""
    assert answer("erase", "protocol=https\nhost=unmanaged.example\n") == b""
    assert answer("get", "protocol=https\nhost=unmanaged.example\n") == b""


@pytest.mark.parametrize("spoil", ["hand-edit", "writable", "missing", "secret-edit"])
def test_a_copy_that_may_not_equal_the_json_is_not_used(home, monkeypatch, spoil):
    index = state(home, None, [(fresh_pat(), "glpat-everydayeveryday")], monkeypatch)
    directory = index.directory
    request = "protocol=https\nhost=%s\n\n" % HOST
    assert answer("get", request) is not None
    if spoil == "hand-edit":             # same size, other content: the mtime tells
        path = os.path.join(directory, "tokens.json")
        text = open(path).read()
        with open(path, "w") as handle:
            handle.write(text.replace("2030-01-01", "2030-01-02"))
        os.utime(path, ns=(1, 1))
    elif spoil == "writable":
        os.chmod(os.path.join(directory, compact.TOKENS), 0o620)
    elif spoil == "missing":
        os.unlink(os.path.join(directory, compact.SECRETS))
    else:                                # secrets.json edited by hand
        with open(os.path.join(directory, "secrets.json"), "a") as handle:
            handle.write(" ")
    assert answer("get", request) is None


def test_a_copy_cut_short_at_a_line_or_of_another_version_is_not_used(home, monkeypatch):
    """The header says how many bytes follow (version 2); a copy that lost its last lines
    is refused, and so is one of another version (1 counted lines), until reindex."""
    index = state(home, None, [(fresh_pat(), "glpat-everydayeveryday"),
                               (fresh_pat(id="t2", path="group"), "glpat-secondsecond")],
                  monkeypatch)
    path = os.path.join(index.directory, compact.TOKENS)
    whole = open(path, "rb").read()
    found = compact.host_records(index.directory, HOST)
    assert [item["id"] for item in found] == ["pat", "t2"]
    head, body = whole.split(b"\n", 1)
    assert head.split(b"\t")[1:2] == [b"2"] and head.endswith(b"\t%d" % len(body))
    with open(path, "wb") as handle:             # the last line lost
        handle.write(whole[:whole.rindex(b"\n", 0, len(whole) - 1) + 1])
    assert compact.host_records(index.directory, HOST) is None
    fields = head.split(b"\t")
    fields[1], fields[-1] = b"1", b"%d" % body.count(b"\n")
    with open(path, "wb") as handle:
        handle.write(b"\t".join(fields) + b"\n" + body)
    assert compact.host_records(index.directory, HOST) is None
    index.reindex()
    assert compact.host_records(index.directory, HOST) == found


def test_a_save_brings_back_a_missing_secrets_copy(home, monkeypatch):
    """An install upgraded from a version without the copies gets them at its next save."""
    index = state(home, None, [(fresh_pat(), "glpat-everydayeveryday")], monkeypatch)
    os.unlink(os.path.join(index.directory, compact.SECRETS))
    os.unlink(os.path.join(index.directory, compact.TOKENS))
    assert answer("get", "protocol=https\nhost=%s\n\n" % HOST) is None
    index.update(lambda records: records)
    assert b"glpat-everydayeveryday" in answer("get", "protocol=https\nhost=%s\n\n" % HOST)
    mode = os.stat(os.path.join(index.directory, compact.SECRETS)).st_mode & 0o777
    assert mode == 0o600


def test_a_shared_token_is_answered_by_the_fast_path_as_by_the_full_path(home, monkeypatch):
    """A fleet's token (issue 14) costs what a local one does: its link to OpenBao is an
    object the compact copy does not carry, and no rule of a fresh get looks inside it."""
    link = {"addr": "https://bao.example:8200", "mount": "secret", "path": "credhelper/x",
            "version": 3, "auth": {"method": "token", "token_file": "/etc/bao-token"}}
    index = state(home, None, [(fresh_pat(extra={"fleet": link}), "glpat-sharedshared")],
                  monkeypatch)
    request = "protocol=https\nhost=%s\n\n" % HOST
    fast = answer("get", request)
    full = git.run("get", request.encode(), lambda: Watched(index, dict(os.environ),
                                                             clock=lambda: NOW))
    assert fast == full and b"password=glpat-sharedshared\n" in fast
    (record,) = [TokenRecord.from_json(item) for item in compact.host_records(
        index.directory, HOST)]
    assert "fleet" in record.extra and record.extra["fleet"] is not None
    assert bool(record.extra["fleet"])     # as a link with fields is
    with pytest.raises(LookupError):
        record.extra["fleet"]["addr"]


def test_reindex_writes_missing_copies_and_leaves_fresh_ones(home, monkeypatch):
    """What install.sh runs after an upgrade: the copies come back without a token change,
    and fresh copies are not rewritten."""
    index = state(home, None, [(fresh_pat(), "glpat-everydayeveryday")], monkeypatch)
    request = "protocol=https\nhost=%s\n\n" % HOST
    for name in (compact.TOKENS, compact.SECRETS):
        os.unlink(os.path.join(index.directory, name))
        assert answer("get", request) is None
        index.reindex()
        assert b"glpat-everydayeveryday" in answer("get", request)
    written = [os.stat(os.path.join(index.directory, name)).st_mtime_ns
               for name in ("tokens.json", compact.TOKENS, compact.SECRETS)]
    index.reindex()
    assert [os.stat(os.path.join(index.directory, name)).st_mtime_ns
            for name in ("tokens.json", compact.TOKENS, compact.SECRETS)] == written


@settings(**BASE)
@given(garbage=st.binary(max_size=300), host=some([HOST, "x", ""]))
def test_the_reader_is_safe_on_any_bytes(garbage, host, home, monkeypatch):
    """Whatever follows a header that names the JSON file as it is, the reader returns
    records or None, and never raises."""
    index = state(home, None, [], monkeypatch)
    info = os.stat(index.path)
    head = b"credhelper-tokens\t1\t%d\t%d\t%d\t%d\n" % (
        info.st_ino, info.st_size, info.st_mtime_ns, garbage.count(b"\n"))
    for name in (compact.TOKENS, compact.SECRETS):
        with open(os.path.join(index.directory, name), "wb") as handle:
            handle.write(head + garbage)
    found = compact.host_records(index.directory, host)
    assert found is None or all(isinstance(item, dict) for item in found)
    assert compact.secret(index.directory, host) is None    # the secrets' header is other


@pytest.mark.parametrize("environ", [
    {"HOME": "/home/u"}, {"HOME": "/home/u/"}, {"HOME": "/"}, {"HOME": ""},
    {"HOME": "/h", "XDG_DATA_HOME": " /data/ ", "XDG_CONFIG_HOME": "rel"},
    {"HOME": "/h", "XDG_DATA_HOME": "/d//", "CREDHELPER_CONFIG": "/etc/c.toml"},
    {"HOME": "/h", "XDG_DATA_HOME": "  ", "CREDHELPER_CONFIG": ""}])
def test_the_fast_path_finds_the_files_where_paths_py_does(environ, monkeypatch):
    for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "CREDHELPER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    service = fast_service.FastService(dict(os.environ))
    assert service.data_dir() == paths.data_dir()
    assert service.config_file() == paths.config_file()


def test_the_launcher_reads_as_much_input_as_git_s_adapter():
    from credhelper import launcher

    assert launcher.MAX_INPUT == git.MAX_INPUT


def test_the_fast_path_knows_the_store_choices_config_py_accepts():
    from credhelper.local import config

    assert fast_service.STORE_CHOICES == ("",) + config.STORE_CHOICES


def test_a_miss_on_the_full_path_reads_the_index_once(home, monkeypatch):
    """No token answers (another host's, an expired one): tokens.json is read once, not
    again to explain the miss (unless the keeper was asked, and may have saved)."""
    from credhelper.rules.model import Request

    class Counting(TokenIndex):
        loads = 0

        def load(self, host=None):
            self.loads += 1
            return super().load(host)

    index = state(home, None, [(fresh_pat(host="other.example.com"), "glpat-otherotherother"),
                               (fresh_pat(id="old", expires_at="2020-01-01"), "glpat-oldoldold")],
                  monkeypatch)
    counting, warnings = Counting(index.directory), []
    service = Service(counting, dict(os.environ), clock=lambda: NOW, warn=warnings.append)
    assert service.lookup(Request("https", HOST)) is None
    assert counting.loads == 1 and len(warnings) == 1 and "expired" in warnings[0]
