"""Which credential answers a request: the pure rules of resolver.py."""

from credhelper.rules import resolver
from credhelper.rules.model import (
    ADDED,
    CI_ENV,
    DEPLOY,
    GIT_STORE,
    JOB,
    OAUTH,
    PAT,
    REVOKED,
    Request,
    TokenRecord,
)

NOW = 1_800_000_000  # 2027-01-15


def record(id, kind=PAT, host="gitlab.example.com", **fields):
    fields.setdefault("origin", ADDED)
    return TokenRecord(id=id, host=host, kind=kind, **fields)


def best(records, **request):
    request.setdefault("protocol", "https")
    request.setdefault("host", "gitlab.example.com")
    found = resolver.candidates(records, Request(**request), NOW)
    return found[0].id if found else None


def test_host_must_match_exactly_with_port():
    records = [record("a"), record("b", host="gitlab.example.com:8443")]
    assert best(records) == "a"
    assert best(records, host="gitlab.example.com:8443") == "b"
    assert best(records, host="gitlab.example.com:9443") is None
    assert best(records, host="gitlab.example.com.evil.test") is None
    assert best(records, host="example.com") is None


def test_plain_http_only_when_allowed():
    records = [record("a")]
    assert resolver.candidates(records, Request("http", "gitlab.example.com"), NOW) == []
    assert resolver.candidates(records, Request("http", "gitlab.example.com"), NOW,
                               allow_http=True)[0].id == "a"


def test_read_only_deploy_token_is_not_chosen_for_a_push_when_a_writer_exists():
    records = [record("deploy", DEPLOY, username="d", scopes=["read_repository"]),
               record("pat", scopes=["write_repository"])]
    assert best(records) == "pat"                       # git does not say: prefer the writer
    assert best(records, operation="write") == "pat"
    only_reader = [records[0]]
    assert best(only_reader) == "deploy"                # still serves clones
    assert best(only_reader, operation="write") is None


def test_write_capable_beats_unknown_beats_read_only():
    records = [record("ro", scopes=["read_repository"]), record("unknown"),
               record("rw", scopes=["api"])]
    assert [r.id for r in resolver.candidates(records, Request("https", "gitlab.example.com"),
                                              NOW)] == ["rw", "unknown", "ro"]


def test_job_tokens_never_count_as_writers():
    records = [record("job", JOB, username="gitlab-ci-token"), record("pat")]
    assert best(records) == "pat"
    assert best([records[0]], operation="write") is None


def test_path_prefix_on_segment_boundaries_and_most_specific_wins():
    records = [record("host"), record("group", path="group"),
               record("project", path="group/project")]
    assert best(records, path="group/project") == "project"
    assert best(records, path="group/project/sub") == "project"
    assert best(records, path="group/other") == "group"
    assert best(records, path="groupie/x") == "host"
    assert best(records, path="elsewhere") == "host"


def test_without_a_path_host_wide_tokens_come_first():
    records = [record("group", path="group"), record("host")]
    assert best(records) == "host"
    assert best([records[0]]) == "group"   # git without useHttpPath still gets the only one


def test_username_rules_per_kind():
    deploy = record("deploy", DEPLOY, username="gitlab+deploy-token-7")
    job = record("job", JOB, username="gitlab-ci-token")
    pinned = record("pinned", username="alice")
    oauth = record("oauth", OAUTH)
    records = [deploy, job, pinned, oauth]
    assert best(records, username="gitlab+deploy-token-7") == "deploy"
    assert best(records, username="gitlab-ci-token") == "job"
    assert best(records, username="alice") == "pinned"
    assert best(records, username="bob") == "oauth"      # OAuth accepts any name
    assert best([deploy, job, pinned], username="bob") is None


def test_expired_and_revoked_tokens_are_skipped_for_the_next_one():
    records = [record("old", expires_at="2027-01-15"), record("revoked", state=REVOKED),
               record("spare", origin=GIT_STORE)]
    assert best(records) == "spare"


def test_added_beats_git_stored_beats_ci():
    records = [record("ci", JOB, username="gitlab-ci-token", origin=CI_ENV),
               record("stored", origin=GIT_STORE), record("added")]
    assert best(records) == "added"
    assert best(records[:2]) == "stored"
