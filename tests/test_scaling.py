"""What a request costs does not grow with the tokens of other hosts: a get builds only the
asked host's records, and docker's `list` does work in proportion to the registries it lists.
Counted (records built, lines run, files read), never timed; in-process, on indexes and
proof caches the product itself wrote."""

import os
import sys

import pytest

from credhelper.local import compact
from credhelper.local.token_index import TokenIndex
from credhelper.registry_service import list_registries
from credhelper.rules.model import PAT, Request, TokenRecord
from credhelper.service import Service
from tests.test_fast_path import NOW, state

HOST = "gitlab.example.com"
CREDHELPER = os.path.dirname(os.path.abspath(sys.modules["credhelper"].__file__))


def fresh(host, number, **fields):
    return TokenRecord(id="t%d" % number, host=host, kind=PAT, scopes=["api"],
                       expires_at="2030-01-01", checked_at=NOW - 100,
                       next_check_at=NOW + 10_000, hint="glpat-...%04d" % number, **fields)


def others(count):
    return [(fresh("g%d.example.com" % n, n), "glpat-other-%d-secret" % n) for n in range(count)]


@pytest.mark.parametrize("copy", ["compact copy", "tokens.json"])
def test_a_get_on_the_full_path_builds_only_the_asked_host_s_records(home, monkeypatch, copy):
    built = []
    real = TokenRecord.from_json.__func__

    def counted(cls, data):
        built.append(data["host"])
        return real(cls, data)

    for count in (0, 100):
        index = state(home, None, [(fresh(HOST, 99_999), "glpat-mine-mine-mine")]
                      + others(count), monkeypatch)
        if copy == "tokens.json":
            os.unlink(os.path.join(index.directory, compact.TOKENS))
        monkeypatch.setattr(TokenRecord, "from_json", classmethod(counted))
        service = Service(TokenIndex(index.directory), dict(os.environ), clock=lambda: NOW)
        answer = service.lookup(Request("https", HOST))
        monkeypatch.undo()
        assert answer is not None and answer.secret == "glpat-mine-mine-mine"
        assert built == [HOST], count
        built.clear()


def listing(home, monkeypatch, count):
    """docker's `list` over ``count`` tokens of as many hosts, each added with --registry;
    the hosts' conventional registries were probed a minute ago (not theirs): (the listing,
    lines of credhelper run, JSON files read)."""
    from credhelper.lifecycle import registry_proof
    from credhelper.local.files import write_json

    drawn = [(fresh("g%d.example.com" % n, n, registry="reg%d.example.com" % n), "glpat-%d" % n)
             for n in range(count)]
    index = state(home, None, drawn, monkeypatch)
    write_json(os.path.join(index.directory, registry_proof.PROOFS_FILE), {
        "%s g%d.example.com" % (name % n, n): {"proven": False, "checked_at": NOW - 60}
        for n in range(count) for name in ("registry.g%d.example.com", "g%d.example.com:5050")})
    service = Service(TokenIndex(index.directory), dict(os.environ), clock=lambda: NOW)
    counts = {"lines": 0, "reads": 0}

    def trace(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "read_json":
            counts["reads"] += 1
        if not frame.f_code.co_filename.startswith(CREDHELPER):
            return None
        if event == "line":       # each line run, and each turn of a loop (a jump back)
            counts["lines"] += 1
        return trace

    sys.settrace(trace)
    try:
        served = list_registries(service)
    finally:
        sys.settrace(None)
    return served, counts


def test_docker_list_does_work_in_proportion_to_the_registries(home, monkeypatch):
    small, few = listing(home, monkeypatch, 10)
    large, many = listing(home, monkeypatch, 100)
    assert small == {"reg%d.example.com" % n: "oauth2" for n in range(10)}
    assert len(large) == 100
    assert many["reads"] == few["reads"], (few, many)   # tokens.json and the proofs, once
    assert many["lines"] < 12 * few["lines"], (few, many)


def test_the_full_path_never_gets_an_object_the_compact_copy_left_out(home, monkeypatch):
    """A journal or a fleet's link is an Unread in the copy: a host's records that hold one
    come from tokens.json, so a keeper that saves them back keeps the journal whole (the
    failure before: test_lifecycle_api's interrupted rotations lost their journal)."""
    journal = {"new_id": "t2", "started_at": NOW - 50, "expires_at": "2030-02-01"}
    index = state(home, None, [(fresh(HOST, 1, pending=journal), "glpat-mine-mine-mine")]
                  + others(3), monkeypatch)
    (copied,) = compact.host_records(index.directory, HOST)
    assert type(copied["pending"]) is compact.Unread
    (record,) = TokenIndex(index.directory).load(HOST)
    assert record.pending == journal
    assert [r.host for r in TokenIndex(index.directory).load("g1.example.com")] == \
        ["g1.example.com"]


def test_a_kept_tokens_copy_is_reused_only_while_it_is_the_very_same_file(home, monkeypatch):
    """The warm daemon keeps the tokens copy between requests (compact.keep_token_copies):
    unchanged, the same bytes and lines serve again; after a save, or a hand edit of
    tokens.json, the next request sees the change; the secrets copy is never kept."""
    monkeypatch.setattr(compact, "_kept", {})
    index = state(home, None, [(fresh(HOST, 99_999), "glpat-mine-mine-mine")] + others(50),
                  monkeypatch)
    first = compact.host_records(index.directory, HOST)
    path = os.path.join(index.directory, compact.TOKENS)
    kept = compact._kept[path]
    assert compact.host_records(index.directory, HOST) == first
    assert compact._kept[path] is kept and HOST in kept[2]           # nothing read again
    assert list(compact._kept) == [path]                             # never the secrets
    assert compact.secret(index.directory, "t99999") == "glpat-mine-mine-mine"
    with index.lock():
        records = index.load()
        index.save([r.replace(hint="glpat-...new1") if r.host == HOST else r for r in records])
    assert compact.host_records(index.directory, HOST)[0]["hint"] == "glpat-...new1"
    with open(os.path.join(index.directory, "tokens.json"), "a") as handle:
        handle.write(" ")                                             # a hand edit
    assert compact.host_records(index.directory, HOST) is None
