"""The small GitLab stand-in `credhelper selftest` ships with: GitLab's answers for the one token
it knows (docs/gitlab.md#git-over-http, #token-self-information), nothing for anything else."""

import datetime

import pytest
import requests

from credhelper.selftest.server import SelftestGitLab
from credhelper.selftest.tls import TestCA

TOKEN = "glpat-selftestselftest0"


@pytest.fixture
def server(tmp_path):
    ca = TestCA(tmp_path / "tls")
    with SelftestGitLab(tmp_path / "gitlab", ca, TOKEN) as running:
        running.add_project("demo/hello")
        yield running


def get(server, path, **options):
    return requests.get("https://localhost:%d%s" % (server.port, path),
                        verify=server.ca.ca_file, timeout=30, **options)


def test_token_self_describes_the_token_and_refuses_others(server):
    assert server.token_seen == set()
    refused = get(server, "/api/v4/personal_access_tokens/self", headers={"PRIVATE-TOKEN": "glpat-other"})
    assert (refused.status_code, refused.text) == (401, '{"message":"401 Unauthorized"}')
    assert server.token_seen == set()
    body = get(server, "/api/v4/personal_access_tokens/self", headers={"PRIVATE-TOKEN": TOKEN}).json()
    year = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=365)
    assert body["active"] is True and body["revoked"] is False
    assert body["scopes"] == ["write_repository"] and body["expires_at"] == year.isoformat()
    assert {"id", "name", "user_id", "created_at"} <= body.keys()
    assert server.token_seen == {"api"}


def test_git_needs_the_token_as_basic_password_with_any_username(server):
    refs = "/demo/hello.git/info/refs?service=git-upload-pack"
    for auth in (None, ("demo", "wrong"), (TOKEN, "")):
        denied = get(server, refs, auth=auth)
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"] == 'Basic realm="GitLab"'
        assert denied.text.startswith("HTTP Basic: Access denied.")
    assert server.token_seen == set()
    served = get(server, refs, auth=("anyone", TOKEN))
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    assert server.token_seen == {"git"}
    assert get(server, "/demo/missing.git/info/refs?service=git-upload-pack",
               auth=("anyone", TOKEN)).status_code == 404
