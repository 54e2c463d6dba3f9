"""The fake GitLab's token API, OAuth endpoints and test faults, over real HTTPS.

Every status code, body and header asserted here is the one GitLab sends
(see tests/fake_gitlab/api.py for where each comes from), so a
client tested against the fake behaves the same against GitLab.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from credhelper.selftest.tls import TestCA
from tests.fake_gitlab import FakeGitLab

SELF = "/api/v4/personal_access_tokens/self"
ROTATE = SELF + "/rotate"

EXPIRED = "Token is expired. You can either do re-authorization or token refresh."
REVOKED = "Token was revoked. You have to re-authorize from the user."
REALM = "Protected by OAuth 2.0"
UNAUTHORIZED = {"message": "401 Unauthorized"}
INVALID_GRANT = ("The provided authorization grant is invalid, expired, revoked, does not match the "
                 "redirection URI used in the authorization request, or was issued to another client.")
INVALID_CLIENT = ("Client authentication failed due to unknown client, no client authentication included, "
                  "or unsupported authentication method.")
PAT_KEYS = ["id", "name", "active", "revoked", "expired", "granular", "created_at", "description",
            "scopes", "user_id", "last_used_at", "expires_at"]


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake-gitlab-api")
    ca = TestCA(base / "tls", names=["gitlab.example.com"])
    with FakeGitLab(base / "server", ca) as server:
        yield server


@pytest.fixture
def state(gitlab):
    """The server's model; clock, settings and faults put back after each test."""
    st = gitlab.state
    yield st
    st.set_clock(None)
    st.require_token_expiry = True
    st.max_token_lifetime_days = 365
    st.oauth_refresh_revokes_on_use = False
    gitlab.faults.clear()


_names = itertools.count(1)


def new_user(state, **kwargs):
    return state.add_user(f"user{next(_names)}", **kwargs).username


class Client:
    """requests against https://localhost:PORT, verifying the test CA."""

    def __init__(self, gitlab):
        self.base = f"https://localhost:{gitlab.port}"
        self.ca = gitlab.ca.ca_file

    def __call__(self, method, path, token=None, *, header="PRIVATE-TOKEN", timeout=10, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            if header == "Bearer":
                headers["Authorization"] = f"Bearer {token}"
            else:
                headers[header] = token
        return requests.request(method, self.base + path, headers=headers, verify=self.ca,
                                timeout=timeout, **kwargs)


@pytest.fixture
def api(gitlab):
    return Client(gitlab)


def ms_timestamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def assert_invalid_token(r, description):
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "invalid_token", "error_description": description}
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"')


def assert_unauthorized(r):
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == UNAUTHORIZED
    assert "WWW-Authenticate" not in r.headers


# --- authentication ------------------------------------------------------------------------


def test_self_describes_the_calling_pat(api, state):
    user = new_user(state)
    start = dt.datetime(2031, 3, 4, 5, 6, 7, 891234, tzinfo=dt.timezone.utc)
    state.set_clock(lambda: start)
    pat = state.create_pat(user, ["read_user", "read_repository"], expires_at=dt.date(2031, 4, 1),
                           name="laptop", description="my laptop")
    r = api("GET", SELF, pat.token)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert list(body) == PAT_KEYS + ["last_used_ips"]  # GitLab's key order
    assert body == {
        "id": pat.id, "name": "laptop", "active": True, "revoked": False, "expired": False,
        "granular": False, "created_at": "2031-03-04T05:06:07.891Z", "description": "my laptop",
        "scopes": ["read_user", "read_repository"], "user_id": state.user(user).id,
        "last_used_at": "2031-03-04T05:06:07.891Z", "expires_at": "2031-04-01",
        "last_used_ips": ["127.0.0.1"],
    }
    no_expiry = state.create_pat(user, ["api"])
    body = api("GET", SELF, no_expiry.token).json()
    assert body["expires_at"] is None and body["description"] is None


@pytest.mark.parametrize("how", ["header", "bearer", "private_token", "access_token"])
def test_pat_in_every_position_gitlab_reads(api, state, how):
    pat = state.create_pat(new_user(state), ["read_api"])
    if how == "header":
        r = api("GET", SELF, pat.token)
    elif how == "bearer":
        r = api("GET", SELF, pat.token, header="Bearer")
    else:
        r = api("GET", SELF, params={how: pat.token})
    assert r.status_code == 200 and r.json()["id"] == pat.id


def test_unknown_or_missing_token_is_plain_401(api, state):
    assert_unauthorized(api("GET", SELF))
    forgotten = state.create_pat(new_user(state), ["api"])
    state.forget(forgotten)
    assert_unauthorized(api("GET", SELF, forgotten.token))
    assert_unauthorized(api("GET", SELF, "glpat-not-a-real-token-000"))
    assert_unauthorized(api("GET", SELF, "glpat-not-a-real-token-000", header="Bearer"))
    assert_unauthorized(api("POST", ROTATE, "glpat-not-a-real-token-000"))
    # Basic credentials are not read on these routes.
    pat = state.create_pat(new_user(state), ["api"])
    assert_unauthorized(api("GET", SELF, auth=("x", pat.token)))


def test_pat_expires_at_midnight_utc(api, state):
    before = dt.datetime(2030, 5, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    state.set_clock(lambda: before)
    pat = state.create_pat(new_user(state), ["api"], expires_at=dt.date(2030, 6, 1))
    assert api("GET", SELF, pat.token).status_code == 200
    state.advance(1)  # 2030-06-01T00:00:00Z
    assert_invalid_token(api("GET", SELF, pat.token), EXPIRED)
    assert_invalid_token(api("POST", ROTATE, pat.token), EXPIRED)


def test_expired_is_reported_before_revoked(api, state):
    state.set_clock(lambda: dt.datetime(2030, 1, 10, tzinfo=dt.timezone.utc))
    pat = state.create_pat(new_user(state), ["api"], expires_at=dt.date(2030, 1, 5))
    state.revoke(pat)
    assert_invalid_token(api("GET", SELF, pat.token), EXPIRED)


def test_revoked_pat(api, state):
    pat = state.create_pat(new_user(state), ["api"])
    state.revoke(pat)
    assert_invalid_token(api("GET", SELF, pat.token), REVOKED)
    assert_invalid_token(api("DELETE", SELF, pat.token, header="Bearer"), REVOKED)


def test_blocked_owner_is_403(api, state):
    user = new_user(state)
    pat = state.create_pat(user, ["api"])
    state.block_user(user)
    r = api("GET", SELF, pat.token)
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden - Your account has been blocked."}


def test_rotate_needs_api_or_self_rotate_scope(api, state):
    user = new_user(state)
    for scopes in (["read_api"], ["read_user", "read_repository", "write_repository"]):
        pat = state.create_pat(user, scopes)
        r = api("POST", ROTATE, pat.token)
        assert r.status_code == 403
        assert r.headers["Content-Type"] == "application/json"
        assert "WWW-Authenticate" not in r.headers  # GitLab's known omission
        assert r.json() == {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": "api self_rotate api read_api",
        }
        assert not pat.revoked
        # Any scope may read and revoke itself.
        assert api("GET", SELF, pat.token).status_code == 200
    self_rotate = state.create_pat(user, ["read_user", "self_rotate"])
    assert api("POST", ROTATE, self_rotate.token).status_code == 200


def test_deploy_and_job_tokens_cannot_use_the_api(api, gitlab, state):
    user = new_user(state)
    project = f"group/{user}-project"
    state.add_project(project, members={user: "developer"})
    deploy = state.create_deploy_token(project, ["read_repository", "read_registry"])
    job = state.create_job_token(user, project)
    for method, path in (("GET", SELF), ("POST", ROTATE), ("DELETE", SELF)):
        for token in (deploy.token, job.token):
            assert_unauthorized(api(method, path, token))
            assert_unauthorized(api(method, path, token, header="Bearer"))
        assert_unauthorized(api(method, path, deploy.token, header="Deploy-Token"))
        assert_unauthorized(api(method, path, job.token, header="JOB-TOKEN"))
        assert_unauthorized(api(method, path, params={"job_token": job.token}))


def test_oauth_token_on_pat_routes(api, state):
    user = new_user(state)
    oauth = state.create_oauth_token(user, ["api"])
    for method, path in (("GET", SELF), ("DELETE", SELF), ("GET", SELF + "/associations")):
        r = api(method, path, oauth.token, header="Bearer")
        assert r.status_code == 400
        assert r.json() == {
            "message": "400 Bad request - This endpoint requires token type to be a personal access token"}
    r = api("POST", ROTATE, oauth.token, header="Bearer")
    assert r.status_code == 405 and r.json() == {"message": "405 Method Not Allowed"}
    assert not oauth.revoked
    # The scope check comes first: an OAuth token without api gets 403.
    read_only = state.create_oauth_token(user, ["read_user"])
    r = api("POST", ROTATE, read_only.token, params={"access_token": read_only.token})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    expired = state.create_oauth_token(user, ["api"], expires_in=60)
    state.advance(60)
    assert_invalid_token(api("GET", SELF, expired.token, header="Bearer"), EXPIRED)


def test_project_and_group_access_tokens_inform_and_rotate(api, state):
    state.add_project("bots/app")
    for token in (state.create_project_access_token("bots/app", ["api"]),
                  state.create_group_access_token("bots", ["self_rotate"])):
        r = api("GET", SELF, token.token)
        assert r.status_code == 200 and r.json()["user_id"] == state.user(token.user).id
        r = api("POST", ROTATE, token.token)
        assert r.status_code == 200 and r.json()["user_id"] == state.user(token.user).id


# --- DELETE self and associations -----------------------------------------------------------------


def test_delete_self_revokes_the_calling_token(api, state):
    user = new_user(state)
    pat = state.create_pat(user, ["read_user"])
    other = state.create_pat(user, ["read_user"])
    r = api("DELETE", SELF, pat.token)
    assert r.status_code == 204 and r.content == b""
    assert "Content-Length" not in r.headers
    assert pat.revoked and not other.revoked
    assert_invalid_token(api("GET", SELF, pat.token), REVOKED)


def test_associations(api, state):
    user = new_user(state)
    state.add_group(f"{user}-team", members={user: "maintainer"})
    state.add_project(f"{user}-team/inside")
    state.add_project(f"elsewhere/{user}-own", members={user: "reporter"})
    state.add_project(f"elsewhere/{user}-not-mine")
    pat = state.create_pat(user, ["read_api"])
    body = api("GET", SELF + "/associations", pat.token).json()
    assert [(g["name"], g["access_levels"]) for g in body["groups"]] == [(f"{user}-team", 40)]
    assert [(p["path_with_namespace"], p["access_levels"]) for p in body["projects"]] == [
        (f"{user}-team/inside", {"project_access_level": None, "group_access_level": 40}),
        (f"elsewhere/{user}-own", {"project_access_level": 20, "group_access_level": None}),
    ]
    body = api("GET", SELF + "/associations", pat.token, params={"min_access_level": 30}).json()
    assert [p["path_with_namespace"] for p in body["projects"]] == [f"{user}-team/inside"]


# --- rotation --------------------------------------------------------------------------------------


def test_rotate_creates_the_successor(api, gitlab, state):
    user = new_user(state)
    now = dt.datetime(2031, 7, 1, 12, 0, 0, 250000, tzinfo=dt.timezone.utc)
    state.set_clock(lambda: now)
    old = state.create_pat(user, ["api", "read_registry"], expires_at=dt.date(2031, 7, 3),
                           name="ci", description="for CI")
    r = api("POST", ROTATE, old.token)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert list(body) == PAT_KEYS + ["token"]
    new = state.find_token(body["token"])
    assert new is not None and new.token != old.token and new.token.startswith("glpat-")
    assert body == {
        "id": new.id, "name": "ci", "active": True, "revoked": False, "expired": False, "granular": False,
        "created_at": ms_timestamp(now), "description": "for CI", "scopes": ["api", "read_registry"],
        "user_id": state.user(user).id, "last_used_at": None,
        "expires_at": "2031-07-08",  # one week: the instance requires an expiry
        "token": new.token,
    }
    assert old.revoked and new.previous_token_id == old.id and new.user == user
    assert (old.id, new.id) in gitlab.api.rotations
    assert state.descendants(old) == [new]
    assert api("GET", SELF, new.token).json()["id"] == new.id
    assert_invalid_token(api("GET", SELF, old.token), REVOKED)
    # The new token too stops at midnight UTC of its expiry date.
    state.set_clock(lambda: dt.datetime(2031, 7, 8, tzinfo=dt.timezone.utc))
    assert_invalid_token(api("GET", SELF, new.token), EXPIRED)


@pytest.mark.parametrize("where", ["form", "json", "query"])
def test_rotate_takes_expires_at_from_body_or_query(api, state, where):
    pat = state.create_pat(new_user(state), ["api"])
    wanted = (state.today() + dt.timedelta(days=30)).isoformat()
    kwargs = {"form": {"data": {"expires_at": wanted}}, "json": {"json": {"expires_at": wanted}},
              "query": {"params": {"expires_at": wanted}}}[where]
    r = api("POST", ROTATE, pat.token, **kwargs)
    assert r.status_code == 200 and r.json()["expires_at"] == wanted


def test_rotate_expiry_limits(api, state):
    user = new_user(state)
    state.set_clock(lambda: dt.datetime(2031, 1, 10, 8, 0, tzinfo=dt.timezone.utc))
    pat = state.create_pat(user, ["api"])
    # Beyond today + 365 days: GitLab's model validation, nothing changes.
    r = api("POST", ROTATE, pat.token, data={"expires_at": "2032-01-11"})
    assert r.status_code == 400
    assert r.json() == {"message": "400 Bad request - Expiration date must be before 2032-01-10"}
    assert not pat.revoked and state.descendants(pat) == []
    r = api("POST", ROTATE, pat.token, data={"expires_at": "2032-01-10"})
    assert r.status_code == 200 and r.json()["expires_at"] == "2032-01-10"
    pat = state.find_token(r.json()["token"])

    # Not a date: Grape's parameter validation.
    for bad in ("tomorrow", "2031-02-30", "31/01/2031"):
        r = api("POST", ROTATE, pat.token, data={"expires_at": bad})
        assert r.status_code == 400 and r.json() == {"error": "expires_at is invalid"}
    r = api("POST", ROTATE, pat.token, json={"expires_at": 20310201})
    assert r.status_code == 400 and r.json() == {"error": "expires_at is invalid"}
    assert not pat.revoked

    # A lower instance maximum lowers the limit and the default.
    state.max_token_lifetime_days = 30
    r = api("POST", ROTATE, pat.token, data={"expires_at": "2031-02-10"})
    assert r.json() == {"message": "400 Bad request - Expiration date must be before 2031-02-09"}
    state.max_token_lifetime_days = 5
    r = api("POST", ROTATE, pat.token)
    assert r.status_code == 200 and r.json()["expires_at"] == "2031-01-15"
    pat = state.find_token(r.json()["token"])

    # GitLab does not refuse a date in the past: the new token is born expired.
    r = api("POST", ROTATE, pat.token, data={"expires_at": "2031-01-10"})
    assert r.status_code == 200
    assert (r.json()["active"], r.json()["expired"]) == (False, True)
    assert_invalid_token(api("GET", SELF, r.json()["token"]), EXPIRED)


def test_rotate_when_expiry_is_not_required(api, state):
    state.require_token_expiry = False
    pat = state.create_pat(new_user(state), ["api"])
    r = api("POST", ROTATE, pat.token)
    assert r.status_code == 200 and r.json()["expires_at"] is None
    far = (state.today() + dt.timedelta(days=1000)).isoformat()
    r = api("POST", ROTATE, r.json()["token"], data={"expires_at": far})
    assert r.status_code == 200 and r.json()["expires_at"] == far


def test_reuse_detection_revokes_every_descendant(api, state):
    user = new_user(state)
    first = state.create_pat(user, ["api"])
    second = state.find_token(api("POST", ROTATE, first.token).json()["token"])
    third = state.find_token(api("POST", ROTATE, second.token).json()["token"])
    assert state.descendants(first) == [second, third]
    unrelated = state.create_pat(user, ["api"])

    # An old token on any other route: only the 401.
    assert_invalid_token(api("GET", SELF, first.token), REVOKED)
    assert_invalid_token(api("GET", SELF, second.token), REVOKED)
    assert api("GET", SELF, third.token).status_code == 200

    # An old token on the rotate route: the 401, and the family is revoked.
    assert_invalid_token(api("POST", ROTATE, first.token), REVOKED)
    assert third.revoked and not unrelated.revoked
    assert_invalid_token(api("GET", SELF, third.token), REVOKED)
    assert state.descendants(third) == []


def test_second_rotation_with_the_same_token_kills_the_first_result(api, state):
    pat = state.create_pat(new_user(state), ["api"])
    r1 = api("POST", ROTATE, pat.token)
    assert r1.status_code == 200
    r2 = api("POST", ROTATE, pat.token)
    assert_invalid_token(r2, REVOKED)
    assert_invalid_token(api("GET", SELF, r1.json()["token"]), REVOKED)


def test_concurrent_rotations_give_one_successor(api, state):
    pat = state.create_pat(new_user(state), ["api"])
    barrier = threading.Barrier(4)
    results = []

    def rotate():
        barrier.wait()
        results.append(api("POST", ROTATE, pat.token))

    threads = [threading.Thread(target=rotate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401]
    # The winner's token was revoked by the losers' reuse.
    assert len(state.descendants(pat)) == 1 and state.descendants(pat)[0].revoked


# --- OAuth -----------------------------------------------------------------------------------------


def test_oauth_token_info(api, state):
    user = new_user(state)
    start = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    state.set_clock(lambda: start)
    app = state.add_oauth_application("helper")
    oauth = state.create_oauth_token(user, ["api", "read_user"], application_id=app.id)
    assert state.application_uid(oauth) == app.uid
    state.advance(100)
    for kwargs in ({"headers": {"Authorization": f"Bearer {oauth.token}"}},
                   {"params": {"access_token": oauth.token}}):
        r = api("GET", "/oauth/token/info", **kwargs)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json; charset=utf-8"
        body = r.json()
        assert list(body) == ["resource_owner_id", "scope", "expires_in", "application", "created_at",
                              "scopes", "expires_in_seconds"]
        assert body == {"resource_owner_id": state.user(user).id, "scope": ["api", "read_user"],
                        "expires_in": 7100, "application": {"uid": app.uid},
                        "created_at": int(start.timestamp()), "scopes": ["api", "read_user"],
                        "expires_in_seconds": 7100}

    def assert_refused(r):
        assert r.status_code == 401
        assert r.json() == {"error": "invalid_token", "error_description": "The access token is invalid"}
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        assert r.headers["Cache-Control"] == "no-store, no-cache"
        assert r.headers["WWW-Authenticate"] == (
            'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"')

    assert_refused(api("GET", "/oauth/token/info"))
    assert_refused(api("GET", "/oauth/token/info", "0" * 64, header="Bearer"))
    pat = state.create_pat(user, ["api"])
    assert_refused(api("GET", "/oauth/token/info", pat.token, header="Bearer"))  # not an OAuth token
    state.advance(7100)
    assert_refused(api("GET", "/oauth/token/info", oauth.token, header="Bearer"))
    fresh = state.create_oauth_token(user, ["api"])
    state.revoke(fresh)
    assert_refused(api("GET", "/oauth/token/info", fresh.token, header="Bearer"))


def refresh(api, token, client_id, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": token.refresh_token, "client_id": client_id, **extra}
    return api("POST", "/oauth/token", data=data)


def assert_oauth_error(r, status, name, description):
    assert r.status_code == status
    assert r.json() == {"error": name, "error_description": description}
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store, no-cache"
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="Doorkeeper", error="{name}", error_description="{description}"')


def test_oauth_refresh(api, gitlab, state):
    user = new_user(state)
    app = state.add_oauth_application("helper")
    now = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    state.set_clock(lambda: now)
    old = state.create_oauth_token(user, ["api", "read_user"], application_id=app.id)
    state.advance(7200)  # the access token expired; its refresh token still works
    r = refresh(api, old, app.uid)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store, no-cache" and r.headers["Pragma"] == "no-cache"
    body = r.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200 and body["scope"] == "api read_user"
    assert body["created_at"] == int(now.timestamp()) + 7200
    assert body["access_token"] != old.token and body["refresh_token"] != old.refresh_token
    new = state.find_token(body["access_token"])
    assert new.refresh_token == body["refresh_token"] and old.revoked
    assert (old.id, new.id) in gitlab.api.refreshes

    info = api("GET", "/oauth/token/info", new.token, header="Bearer")
    assert info.status_code == 200 and info.json()["expires_in"] == 7200
    # The spent refresh token, the old access token.
    assert_oauth_error(refresh(api, old, app.uid), 400, "invalid_grant", INVALID_GRANT)
    assert_invalid_token(api("GET", SELF, old.token, header="Bearer"), EXPIRED)
    assert_oauth_error(refresh(api, old, app.uid), 400, "invalid_grant", INVALID_GRANT)

    # Client checks: unknown client_id, another application's, none at all.
    assert_oauth_error(refresh(api, new, "f" * 64), 401, "invalid_client", INVALID_CLIENT)
    other = state.add_oauth_application("other")
    assert_oauth_error(refresh(api, new, other.uid), 400, "invalid_grant", INVALID_GRANT)
    r = api("POST", "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": new.refresh_token})
    assert_oauth_error(r, 400, "invalid_grant", INVALID_GRANT)
    assert not new.revoked  # none of these spent it

    # Narrowing the scope is allowed, widening is not.
    assert_oauth_error(refresh(api, new, app.uid, scope="api sudo"), 400, "invalid_scope",
                       "The requested scope is invalid, unknown, or malformed.")
    r = refresh(api, new, app.uid, scope="read_user")
    assert r.status_code == 200 and r.json()["scope"] == "read_user"

    # Malformed requests.
    r = api("POST", "/oauth/token", data={"grant_type": "refresh_token", "client_id": app.uid})
    assert_oauth_error(r, 400, "invalid_request", "Missing required parameter: refresh_token.")
    r = api("POST", "/oauth/token", data={"refresh_token": "x"})
    assert_oauth_error(r, 400, "invalid_request", "Missing required parameter: grant_type.")
    r = api("POST", "/oauth/token", data={"grant_type": "password", "username": "u", "password": "p"})
    assert_oauth_error(r, 400, "unsupported_grant_type",
                       "The authorization grant type is not supported by the authorization server.")


def test_oauth_refresh_with_confidential_application(api, state):
    app = state.add_oauth_application("server-side", confidential=True)
    token = state.create_oauth_token(new_user(state), ["api"], application_id=app.id)
    assert_oauth_error(refresh(api, token, app.uid), 401, "invalid_client", INVALID_CLIENT)
    assert refresh(api, token, app.uid, client_secret=app.secret).status_code == 200


def test_oauth_refresh_revoked_on_use_mode(api, state):
    """Doorkeeper's mode: the old pair lives until the new access token is used."""
    state.oauth_refresh_revokes_on_use = True
    app = state.add_oauth_application("helper")
    old = state.create_oauth_token(new_user(state), ["api"], application_id=app.id)
    first = state.find_token(refresh(api, old, app.uid).json()["access_token"])
    assert not old.revoked
    second = state.find_token(refresh(api, old, app.uid).json()["access_token"])
    assert api("GET", "/oauth/token/info", old.token, header="Bearer").status_code == 200
    # The first use of a new token revokes the old one, refresh token included.
    assert api("GET", "/oauth/token/info", second.token, header="Bearer").status_code == 200
    assert old.revoked and not first.revoked
    assert_oauth_error(refresh(api, old, app.uid), 400, "invalid_grant", INVALID_GRANT)


# --- faults and counting ---------------------------------------------------------------------------


def test_status_faults_then_normal_service(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    gitlab.faults.status("POST", ROTATE, 503, retry_after=7)
    gitlab.faults.status("POST", ROTATE, 429, retry_after="30")
    gitlab.faults.status("*", ROTATE, 502, body="<html>502 Bad Gateway</html>", content_type="text/html")
    before = gitlab.count("POST", ROTATE)
    handled = gitlab.router.count("pat_rotate")

    r = api("POST", ROTATE, pat.token)
    assert (r.status_code, r.headers["Retry-After"], r.json()) == (503, "7", {"message": "503 Service Unavailable"})
    r = api("POST", ROTATE, pat.token)
    assert (r.status_code, r.headers["Retry-After"], r.text) == (429, "30", "Retry later\n")
    assert r.headers["Content-Type"] == "text/plain"
    r = api("POST", ROTATE, pat.token)
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (502, "<html>502 Bad Gateway</html>", "text/html")
    assert not pat.revoked and len(gitlab.faults) == 0
    assert api("POST", ROTATE, pat.token).status_code == 200

    assert gitlab.count("POST", ROTATE) == before + 4
    assert gitlab.router.count("pat_rotate") == handled + 1  # faulted requests never reached the route
    faulted = [rec.fault for rec in gitlab.requests.snapshot()[-4:]]
    assert faulted == ["status", "status", "status", None]


def test_status_fault_for_several_requests(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    fault = gitlab.faults.status("GET", SELF, 500, times=2)
    assert [api("GET", SELF, pat.token).status_code for _ in range(3)] == [500, 500, 200]
    assert fault.hits == 2 and fault.used_up and fault not in gitlab.faults.pending()


def test_garbage_fault(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    gitlab.faults.garbage("GET", SELF)
    r = api("GET", SELF, pat.token)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        r.json()
    gitlab.faults.garbage("GET", SELF, body=b'{"id": 1, "na', content_type="application/json")
    r = api("GET", SELF, pat.token)
    assert r.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_drop_fault_does_nothing(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    handled = gitlab.router.count("pat_rotate")
    gitlab.faults.drop("POST", ROTATE)
    with pytest.raises(requests.ConnectionError):
        api("POST", ROTATE, pat.token)
    assert not pat.revoked and state.descendants(pat) == []
    assert gitlab.router.count("pat_rotate") == handled
    record = gitlab.requests.carrying(pat.token)[-1]
    assert (record.path, record.fault, record.status) == (ROTATE, "drop", None)


def test_drop_after_commit_rotates_but_never_answers(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    fault = gitlab.faults.drop_after_commit("POST", ROTATE)
    with pytest.raises(requests.ConnectionError):
        api("POST", ROTATE, pat.token)
    assert fault.committed.is_set()
    assert pat.revoked
    [successor] = state.descendants(pat)
    assert state.is_active(successor)
    assert gitlab.api.rotations[-1] == (pat.id, successor.id)
    # The client, retrying with its old token, triggers reuse detection.
    assert_invalid_token(api("POST", ROTATE, pat.token), REVOKED)
    assert successor.revoked


def test_timeout_fault_never_handles_the_request(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    handled = gitlab.router.count("pat_rotate")
    fault = gitlab.faults.timeout("POST", ROTATE)
    errors = []

    def call():
        try:
            api("POST", ROTATE, pat.token)
        except requests.ConnectionError as error:
            errors.append(error)

    client = threading.Thread(target=call)
    client.start()
    assert fault.wait_hit()
    fault.release()
    client.join(10)
    assert len(errors) == 1  # closed without an answer
    assert not pat.revoked and gitlab.router.count("pat_rotate") == handled
    record = gitlab.requests.carrying(pat.token)[-1]
    assert (record.fault, record.status) == ("timeout", None)


def test_timeout_fault_holds_a_slow_answer_until_released(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    fault = gitlab.faults.timeout("POST", ROTATE, handle=True)
    result = {}
    client = threading.Thread(target=lambda: result.setdefault("r", api("POST", ROTATE, pat.token)))
    client.start()
    assert fault.wait_hit()
    assert not pat.revoked  # held before the handler: nothing happened yet
    assert "r" not in result
    fault.release()
    client.join(10)
    assert result["r"].status_code == 200 and pat.revoked


def test_timeout_fault_makes_a_client_time_out(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    fault = gitlab.faults.timeout("POST", ROTATE, seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api("POST", ROTATE, pat.token, timeout=0.3)
    assert fault.hit.is_set()
    gitlab.faults.clear()  # releases the hold: the request is still never handled
    assert api("GET", SELF, pat.token).json()["revoked"] is False
    assert state.descendants(pat) == []


def test_pause_after_commit(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    fault = gitlab.faults.pause_after_commit("POST", ROTATE)
    result = {}
    client = threading.Thread(target=lambda: result.setdefault("r", api("POST", ROTATE, pat.token)))
    client.start()
    assert fault.wait_committed()
    # Committed, not answered.
    assert pat.revoked and len(state.descendants(pat)) == 1 and "r" not in result
    fault.proceed.set()
    client.join(10)
    assert result["r"].status_code == 200
    assert result["r"].json()["token"] == state.descendants(pat)[0].token


CLIENT = """
import sys, requests
requests.post(sys.argv[1], headers={"PRIVATE-TOKEN": sys.stdin.readline().strip()}, verify=sys.argv[2], timeout=60)
print("answered")
"""


def test_client_killed_between_commit_and_answer(gitlab, state):
    pat = state.create_pat(new_user(state), ["api"])
    fault = gitlab.faults.pause_after_commit("POST", ROTATE)
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, f"https://localhost:{gitlab.port}{ROTATE}",
                             gitlab.ca.ca_file], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(pat.token + "\n")  # never in argv
        proc.stdin.close()
        assert fault.wait_committed(30)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout.read() == ""
    fault.release()  # the answer goes to a dead client: the server shrugs
    [successor] = state.descendants(pat)
    assert pat.revoked and state.is_active(successor)
    assert Client(gitlab)("GET", SELF, successor.token).status_code == 200


def test_stop_does_not_hang_on_held_requests(tmp_path):
    ca = TestCA(tmp_path / "tls")
    server = FakeGitLab(tmp_path / "server", ca).start()
    pat = server.state.create_pat(server.state.add_user("held").username, ["api"])
    api = Client(server)
    held = server.faults.timeout("GET", SELF)  # until release(), which never comes
    paused = server.faults.pause_after_commit("POST", ROTATE)
    errors = []

    def call(method, path):
        try:
            api(method, path, pat.token, timeout=30)
        except requests.ConnectionError as error:
            errors.append(error)

    clients = [threading.Thread(target=call, args=("GET", SELF)), threading.Thread(target=call, args=("POST", ROTATE))]
    for client in clients:
        client.start()
    assert held.wait_hit() and paused.wait_committed()
    started = time.monotonic()
    server.stop()
    for client in clients:
        client.join(10)
    assert time.monotonic() - started < 5
    assert not any(client.is_alive() for client in clients)
    assert len(errors) == 2  # both connections closed without an answer
    # The holds were released, so no handler thread is left waiting.
    assert held.proceed.is_set() and paused.proceed.is_set()
    assert pat.revoked  # the paused rotation had committed


def test_count_filters(api, gitlab, state):
    pat = state.create_pat(new_user(state), ["read_user"])
    gitlab.requests.clear()
    gitlab.router.reset_counts()
    api("GET", SELF, pat.token)
    api("GET", SELF, pat.token)
    api("GET", SELF, "glpat-wrong-token-000000")
    api("GET", "/api/v4/nothing")
    assert gitlab.count() == 4
    assert gitlab.count("GET", SELF) == 3
    assert gitlab.count("get", r"/api/v4/personal_access_tokens/.*", status=401) == 1
    assert gitlab.count(path=r".*/nothing", status=404) == 1
    assert gitlab.count(host="localhost") == 4 and gitlab.count(host="gitlab.example.com") == 0
    assert gitlab.router.counts() == {"pat_self": 3}
