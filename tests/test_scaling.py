"""What a request costs does not grow with the tokens of other hosts: a get builds only the
asked host's records, and docker's `list` does work in proportion to the registries it lists.
Counted (records built, lines run, files read), never timed; in-process, on indexes and
proof caches the product itself wrote."""

import os
import sys

import pytest

from credhelper.local import compact
from credhelper.local.token_index import TokenIndex
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
