"""The fake GitLab's token list, /:id routes, fine-grained PATs and family helpers, over HTTPS.

What is asserted follows GitLab's lib/api/personal_access_tokens.rb and
its helpers, RotateService and RevokeService (see tests/fake_gitlab/api.py).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from credhelper.selftest.tls import TestCA
from tests.fake_gitlab import FakeGitLab
from tests.test_fake_gitlab import Git, bare_head
from tests.test_fake_gitlab_api import (
    PAT_KEYS,
    REVOKED,
    UNAUTHORIZED,
    Client,
    assert_invalid_token,
    new_user,
)

TOKENS = "/api/v4/personal_access_tokens"
SELF = TOKENS + "/self"
LIST_KEYS = PAT_KEYS + ["last_used_ips"]
API_SCOPE_ERROR = {
    "error": "insufficient_scope",
    "error_description": "The request requires higher privileges than provided by the access token.",
    "scope": "api read_api",
}


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake-gitlab-token-list")
    ca = TestCA(base / "tls", names=["gitlab.example.com"])
    with FakeGitLab(base / "server", ca) as server:
        yield server


@pytest.fixture
def state(gitlab):
    st = gitlab.state
    yield st
    st.set_clock(None)
    st.require_token_expiry = True
    st.max_token_lifetime_days = 365


@pytest.fixture
def api(gitlab):
    return Client(gitlab)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()]


# --- GET /personal_access_tokens ----------------------------------------------------------------


def test_list_shows_the_callers_own_tokens_oldest_first(api, state):
    user = new_user(state)
    state.set_clock(lambda: dt.datetime(2031, 5, 1, 9, 0, tzinfo=dt.timezone.utc))
    lister = state.create_pat(user, ["read_api"], name="lister")
    laptop = state.create_pat(user, ["read_repository"], expires_at=dt.date(2031, 6, 1), name="laptop",
                              description="my laptop")
    old = state.create_pat(user, ["api"], expires_at=dt.date(2031, 4, 1), name="old")
    gone = state.create_pat(user, ["api"], name="gone")
    state.revoke(gone)
    state.create_pat(new_user(state), ["api"], name="someone else's")

    r = api("GET", TOKENS, lister.token)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert [e["id"] for e in body] == [lister.id, laptop.id, old.id, gone.id]
    assert all(list(entry) == LIST_KEYS for entry in body)
    assert body[1] == {
        "id": laptop.id, "name": "laptop", "active": True, "revoked": False, "expired": False,
        "granular": False, "created_at": "2031-05-01T09:00:00.000Z", "description": "my laptop",
        "scopes": ["read_repository"], "user_id": state.user(user).id, "last_used_at": None,
        "expires_at": "2031-06-01", "last_used_ips": [],
    }
    assert body[0]["last_used_ips"] == ["127.0.0.1"]  # the listing itself was a use
    assert (body[2]["active"], body[2]["expired"]) == (False, True)
    assert (body[3]["active"], body[3]["revoked"]) == (False, True)

    # Any api-scoped credential of the user: an OAuth token too.
    oauth = state.create_oauth_token(user, ["api"])
    assert ids(api("GET", TOKENS, oauth.token, header="Bearer")) == [lister.id, laptop.id, old.id, gone.id]


def test_list_needs_api_or_read_api(api, state):
    user = new_user(state)
    for scopes in (["read_user"], ["read_repository", "write_repository", "self_rotate"]):
        r = api("GET", TOKENS, state.create_pat(user, scopes).token)
        assert r.status_code == 403 and r.json() == API_SCOPE_ERROR
    assert api("GET", TOKENS, state.create_pat(user, ["api"]).token).status_code == 200
    r = api("GET", TOKENS, state.create_oauth_token(user, ["read_user"]).token, header="Bearer")
    assert r.status_code == 403 and r.json() == API_SCOPE_ERROR
    revoked = state.create_pat(user, ["api"])
    state.revoke(revoked)
    assert_invalid_token(api("GET", TOKENS, revoked.token), REVOKED)
    assert api("GET", TOKENS).json() == UNAUTHORIZED


def test_list_filters(api, state):
    user = new_user(state)
    state.set_clock(lambda: dt.datetime(2031, 5, 1, tzinfo=dt.timezone.utc))
    me = state.create_pat(user, ["api"], name="recovery")
    ci = state.create_pat(user, ["api"], name="credhelper CI")
    ci_old = state.create_pat(user, ["api"], name="CREDHELPER ci")
    state.revoke(ci_old)
    expired = state.create_pat(user, ["api"], name="credhelper-ci-2", expires_at=dt.date(2031, 5, 1))
    other = state.create_pat(user, ["api"], name="docker")

    assert ids(api("GET", TOKENS, me.token, params={"state": "active"})) == [me.id, ci.id, other.id]
    assert ids(api("GET", TOKENS, me.token, params={"state": "inactive"})) == [ci_old.id, expired.id]
    # search: a case-insensitive substring of the name, so a client compares names itself.
    assert ids(api("GET", TOKENS, me.token, params={"search": "credhelper ci"})) == [ci.id, ci_old.id]
    assert ids(api("GET", TOKENS, me.token, params={"search": "Helper"})) == [ci.id, ci_old.id, expired.id]
    assert ids(api("GET", TOKENS, me.token, params={"state": "active", "search": "credhelper"})) == [ci.id]
    assert ids(api("GET", TOKENS, me.token, params={"revoked": "true"})) == [ci_old.id]
    assert ids(api("GET", TOKENS, me.token, params={"revoked": "false", "search": "ci"})) == [ci.id, expired.id]
    assert api("GET", TOKENS, me.token, params={"search": "nothing"}).json() == []

    r = api("GET", TOKENS, me.token, params={"state": "expired"})
    assert r.status_code == 400 and r.json() == {"error": "state does not have a valid value"}
    r = api("GET", TOKENS, me.token, params={"revoked": "maybe"})
    assert r.status_code == 400 and r.json() == {"error": "revoked is invalid"}


def test_list_user_id(api, state):
    alice = new_user(state)
    bob = new_user(state)
    admin = new_user(state, admin=True)
    a1 = state.create_pat(alice, ["read_api"])
    b1 = state.create_pat(bob, ["api"])
    root = state.create_pat(admin, ["api"])

    # A non-admin may name only themselves; anyone else (or nobody) is 401.
    assert ids(api("GET", TOKENS, a1.token, params={"user_id": state.user(alice).id})) == [a1.id]
    for other in (state.user(bob).id, 999999, "abc"):
        r = api("GET", TOKENS, a1.token, params={"user_id": other})
        assert r.status_code == 401 and r.json() == UNAUTHORIZED

    # An admin lists every token of the instance, or one user's.
    everything = ids(api("GET", TOKENS, root.token, params={"per_page": 100}))
    assert {a1.id, b1.id, root.id} <= set(everything)
    assert ids(api("GET", TOKENS, root.token, params={"user_id": state.user(bob).id})) == [b1.id]
    for missing in (999999, ""):
        r = api("GET", TOKENS, root.token, params={"user_id": missing})
        assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    r = api("GET", TOKENS, root.token, params={"user_id": "abc"})
    assert r.status_code == 400 and r.json() == {"error": "user_id is invalid"}


def test_list_pagination(api, state):
    user = new_user(state)
    tokens = [state.create_pat(user, ["api"], name=f"t{i}") for i in range(5)]
    caller = tokens[0].token

    r = api("GET", TOKENS, caller, params={"per_page": 2, "search": "t"})
    assert ids(r) == [tokens[0].id, tokens[1].id]
    h = r.headers
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"], h["X-Per-Page"]) == ("5", "3", "1", "2")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("2", "")
    links = {rel.split('"')[1]: url.strip(" <>") for url, rel in
             (part.split(";") for part in h["Link"].split(","))}
    assert set(links) == {"next", "first", "last"}
    assert parse_qs(urlsplit(links["next"]).query) == {"search": ["t"], "page": ["2"], "per_page": ["2"]}
    assert parse_qs(urlsplit(links["last"]).query)["page"] == ["3"]
    assert urlsplit(links["next"]).path == TOKENS

    r = api("GET", TOKENS, caller, params={"per_page": 2, "page": 3})
    assert ids(r) == [tokens[4].id]
    assert (r.headers["X-Next-Page"], r.headers["X-Prev-Page"]) == ("", "2")
    assert 'rel="prev"' in r.headers["Link"] and 'rel="next"' not in r.headers["Link"]

    r = api("GET", TOKENS, caller, params={"per_page": 2, "page": 4})  # beyond the end
    assert ids(r) == [] and (r.headers["X-Next-Page"], r.headers["X-Prev-Page"]) == ("", "")

    r = api("GET", TOKENS, caller)
    assert r.headers["X-Per-Page"] == "20" and r.headers["X-Total"] == "5" and len(r.json()) == 5
    assert api("GET", TOKENS, caller, params={"per_page": 500}).headers["X-Per-Page"] == "100"
    r = api("GET", TOKENS, caller, params={"page": "two"})
    assert r.status_code == 400 and r.json() == {"error": "page is invalid"}

    r = api("GET", TOKENS, caller, params={"search": "nothing"})
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Next-Page"]) == ("0", "1", "")


# --- GET /personal_access_tokens/:id ----------------------------------------------------------------


def test_get_one_token(api, state):
    user = new_user(state)
    admin = new_user(state, admin=True)
    reader = state.create_pat(user, ["read_api"])
    target = state.create_pat(user, ["write_repository"], name="laptop")
    api("GET", SELF, target.token)  # one use, from 127.0.0.1

    r = api("GET", f"{TOKENS}/{target.id}", reader.token)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == LIST_KEYS
    assert (body["id"], body["name"], body["last_used_ips"]) == (target.id, "laptop", ["127.0.0.1"])
    state.revoke(target)
    assert api("GET", f"{TOKENS}/{target.id}", reader.token).json()["revoked"] is True

    # Someone else's token, or none: a non-admin learns nothing (401).
    foreign = state.create_pat(new_user(state), ["api"])
    for token_id in (foreign.id, 999999, "abc"):
        r = api("GET", f"{TOKENS}/{token_id}", reader.token)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED
    # An admin sees any token, and is told when there is none.
    root = state.create_pat(admin, ["read_api"])
    assert api("GET", f"{TOKENS}/{foreign.id}", root.token).json()["id"] == foreign.id
    r = api("GET", f"{TOKENS}/999999", root.token)
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}

    r = api("GET", f"{TOKENS}/{reader.id}", state.create_pat(user, ["read_user"]).token)
    assert r.status_code == 403 and r.json() == API_SCOPE_ERROR


# --- POST /personal_access_tokens/:id/rotate ---------------------------------------------------------


def test_rotate_by_id_recovers_a_lost_successor(api, gitlab, state):
    """The lost-answer recovery of docs/gitlab.md: list, then rotate by id with another credential."""
    user = new_user(state)
    now = dt.datetime(2031, 7, 1, 12, 0, tzinfo=dt.timezone.utc)
    state.set_clock(lambda: now)
    recovery = state.create_pat(user, ["api"], name="recovery")
    helper = state.create_pat(user, ["write_repository", "self_rotate"], name="helper")
    lost = state.find_token(api("POST", SELF + "/rotate", helper.token).json()["token"])
    assert lost is not None  # the client never saw this answer

    found = api("GET", TOKENS, recovery.token, params={"state": "active", "search": "helper"}).json()
    assert [e["id"] for e in found if e["name"] == "helper"] == [lost.id]
    r = api("POST", f"{TOKENS}/{lost.id}/rotate", recovery.token,
            data={"expires_at": "2031-08-01"})
    assert r.status_code == 200
    body = r.json()
    assert list(body) == PAT_KEYS + ["token"]
    fresh = state.find_token(body["token"])
    assert fresh is not None and body["id"] == fresh.id
    assert (body["name"], body["scopes"], body["expires_at"]) == (
        "helper", ["write_repository", "self_rotate"], "2031-08-01")
    assert fresh.previous_token_id == lost.id and lost.revoked and not recovery.revoked
    assert (lost.id, fresh.id) in gitlab.api.rotations
    assert state.family(helper) == [helper, lost, fresh]
    assert state.active_tokens_of_family(helper) == [fresh]
    assert state.rotation_count(fresh) == 2
    assert state.reuse_detections_of_family(helper) == []  # no revoked token was presented
    assert api("GET", SELF, fresh.token).status_code == 200


def test_rotate_by_id_expiry_rules(api, state):
    user = new_user(state)
    state.set_clock(lambda: dt.datetime(2031, 1, 10, 8, 0, tzinfo=dt.timezone.utc))
    cred = state.create_pat(user, ["api"])

    def rotate(**kwargs):
        target = state.create_pat(user, ["api"])
        return target, api("POST", f"{TOKENS}/{target.id}/rotate", cred.token, **kwargs)

    _, r = rotate()
    assert r.status_code == 200 and r.json()["expires_at"] == "2031-01-17"  # one week
    target, r = rotate(data={"expires_at": "2032-01-11"})
    assert r.status_code == 400
    assert r.json() == {"message": "400 Bad request - Expiration date must be before 2032-01-10"}
    assert not target.revoked and state.descendants(target) == []
    _, r = rotate(json={"expires_at": "2032-01-10"})
    assert r.status_code == 200 and r.json()["expires_at"] == "2032-01-10"
    _, r = rotate(params={"expires_at": "not a date"})
    assert r.status_code == 400 and r.json() == {"error": "expires_at is invalid"}

    # A maximum lifetime under a week bounds the default and the limit.
    state.max_token_lifetime_days = 5
    _, r = rotate()
    assert r.status_code == 200 and r.json()["expires_at"] == "2031-01-15"
    _, r = rotate(data={"expires_at": "2031-01-16"})
    assert r.json() == {"message": "400 Bad request - Expiration date must be before 2031-01-15"}
    # The same for self/rotate.
    mine = state.create_pat(user, ["api"])
    r = api("POST", SELF + "/rotate", mine.token)
    assert r.status_code == 200 and r.json()["expires_at"] == "2031-01-15"
    r = api("POST", SELF + "/rotate", r.json()["token"], data={"expires_at": "2031-01-16"})
    assert r.json() == {"message": "400 Bad request - Expiration date must be before 2031-01-15"}

    # Without the expiry requirement: no default, and a token that never expires.
    state.require_token_expiry = False
    _, r = rotate()
    assert r.status_code == 200 and r.json()["expires_at"] is None
    fresh = state.find_token(r.json()["token"])
    state.advance(days=5000)
    assert api("GET", SELF, fresh.token).json()["active"] is True
    r = api("POST", SELF + "/rotate", fresh.token)
    assert r.status_code == 200 and r.json()["expires_at"] is None


def test_rotate_by_id_refusals(api, state):
    user = new_user(state)
    state.set_clock(lambda: dt.datetime(2031, 3, 1, tzinfo=dt.timezone.utc))
    cred = state.create_pat(user, ["api"])

    # An already revoked target: RotateService's 400, and no reuse detection
    # (the credential is alive).
    target = state.create_pat(user, ["api"])
    successor = state.find_token(api("POST", f"{TOKENS}/{target.id}/rotate", cred.token).json()["token"])
    r = api("POST", f"{TOKENS}/{target.id}/rotate", cred.token)
    assert r.status_code == 400 and r.json() == {"message": "400 Bad request - Token already revoked"}
    assert state.is_active(successor) and state.reuse_detections_of_family(target) == []

    # An expired (not revoked) target still rotates: RotateService checks revocation only.
    expired = state.create_pat(user, ["api"], expires_at=dt.date(2031, 2, 1))
    r = api("POST", f"{TOKENS}/{expired.id}/rotate", cred.token)
    assert r.status_code == 200 and r.json()["active"] is True

    # Scope api only: read_api is for GET.
    reader = state.create_pat(user, ["read_api", "self_rotate"])
    r = api("POST", f"{TOKENS}/{reader.id}/rotate", reader.token)
    assert r.status_code == 403 and r.json() == API_SCOPE_ERROR and not reader.revoked

    # Someone else's token or none: 401 for a non-admin, 404 for an admin (who may rotate any).
    foreign = state.create_pat(new_user(state), ["api"])
    for token_id in (foreign.id, 999999):
        r = api("POST", f"{TOKENS}/{token_id}/rotate", cred.token)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert not foreign.revoked
    root = state.create_pat(new_user(state, admin=True), ["api"])
    r = api("POST", f"{TOKENS}/999999/rotate", root.token)
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    assert api("POST", f"{TOKENS}/{foreign.id}/rotate", root.token).status_code == 200

    # An OAuth token of the same user rotates too; a PAT may rotate itself by id.
    oauth = state.create_oauth_token(user, ["api"])
    mine = state.create_pat(user, ["api"])
    assert api("POST", f"{TOKENS}/{mine.id}/rotate", oauth.token, header="Bearer").status_code == 200
    again = state.create_pat(user, ["api"])
    r = api("POST", f"{TOKENS}/{again.id}/rotate", again.token)
    assert r.status_code == 200 and again.revoked


def test_revoked_credential_on_rotate_by_id_triggers_reuse_detection(api, state):
    user = new_user(state)
    first = state.create_pat(user, ["api"])
    second = state.find_token(api("POST", SELF + "/rotate", first.token).json()["token"])
    bystander = state.create_pat(user, ["api"])
    before = len(state.reuse_detections)

    r = api("POST", f"{TOKENS}/{bystander.id}/rotate", first.token)
    assert_invalid_token(r, REVOKED)
    assert second.revoked and not bystander.revoked
    assert state.active_tokens_of_family(first) == []
    detections = state.reuse_detections_of_family(second)
    assert [(d.token_id, d.revoked_ids) for d in detections] == [(first.id, (second.id,))]
    assert state.reuse_detections[before:] == detections
    # A revoked token on GET /:id only gets the 401.
    third = state.create_pat(user, ["api"])
    state.revoke(third)
    assert_invalid_token(api("GET", f"{TOKENS}/{bystander.id}", third.token), REVOKED)
    assert len(state.reuse_detections) == before + 1


# --- DELETE /personal_access_tokens/:id ---------------------------------------------------------------


def test_revoke_by_id(api, state):
    user = new_user(state)
    cred = state.create_pat(user, ["api"])
    target = state.create_pat(user, ["read_repository"])
    r = api("DELETE", f"{TOKENS}/{target.id}", cred.token)
    assert r.status_code == 204 and r.content == b""
    assert target.revoked and not cred.revoked
    assert_invalid_token(api("GET", SELF, target.token), REVOKED)

    foreign = state.create_pat(new_user(state), ["api"])
    r = api("DELETE", f"{TOKENS}/{foreign.id}", cred.token)
    assert r.status_code == 400 and r.json() == {"message": "400 Bad request - Not permitted to revoke"}
    assert not foreign.revoked
    for missing in (999999, "abc"):
        r = api("DELETE", f"{TOKENS}/{missing}", cred.token)
        assert r.status_code == 404 and r.json() == {"message": "404 Not found"}
    r = api("DELETE", f"{TOKENS}/{cred.id}", state.create_pat(user, ["read_api"]).token)
    assert r.status_code == 403 and r.json() == API_SCOPE_ERROR and not cred.revoked
    root = state.create_pat(new_user(state, admin=True), ["api"])
    assert api("DELETE", f"{TOKENS}/{foreign.id}", root.token).status_code == 204 and foreign.revoked


# --- fine-grained PATs ------------------------------------------------------------------------------


def test_granular_pat_self_and_self_rotation(api, state):
    user = new_user(state)
    fine = state.create_pat(user, granular=True, permissions={"code_download"}, name="fine")
    body = api("GET", SELF, fine.token).json()
    assert (body["granular"], body["scopes"]) == (True, ["granular"])
    r = api("POST", SELF + "/rotate", fine.token)
    assert r.status_code == 200
    assert (r.json()["granular"], r.json()["scopes"], r.json()["name"]) == (True, ["granular"], "fine")
    successor = state.find_token(r.json()["token"])
    assert successor.granular and successor.permissions == {"code_download"}
    assert api("GET", SELF, successor.token).json()["granular"] is True
    assert api("GET", SELF, state.create_pat(user, ["api"]).token).json()["granular"] is False
    with pytest.raises(ValueError):
        state.create_pat(user, ["api"], permissions={"code_push"})

    # The other token routes need the permission GitLab names for them.
    r = api("GET", TOKENS, successor.token)
    assert r.status_code == 403 and r.json() == API_SCOPE_ERROR
    manager = state.create_pat(user, granular=True, permissions={
        "read_personal_access_token", "rotate_personal_access_token", "revoke_personal_access_token"})
    assert successor.id in ids(api("GET", TOKENS, manager.token))
    assert api("GET", f"{TOKENS}/{successor.id}", manager.token).json()["granular"] is True
    r = api("POST", f"{TOKENS}/{successor.id}/rotate", manager.token)
    assert r.status_code == 200 and r.json()["granular"] is True
    assert api("DELETE", f"{TOKENS}/{r.json()['id']}", manager.token).status_code == 204


def test_granular_pat_git_and_registry(gitlab, state, tmp_path):
    user = new_user(state)
    path = f"group/{user}-fine"
    project = state.add_project(path, members={user: "developer"})
    git = Git(gitlab, tmp_path)
    pusher = state.create_pat(user, granular=True, permissions={"code_download", "code_push"})
    reader = state.create_pat(user, granular=True, permissions={"code_download"})
    nothing = state.create_pat(user, granular=True)

    done = git.clone(path, pusher.token)
    assert done.returncode == 0, done.stderr
    head = git.commit(git.last_clone, "fine.txt", b"fine\n")
    done = git("push", "--quiet", "origin", "main", token=pusher.token, cwd=git.last_clone)
    assert done.returncode == 0, done.stderr
    assert bare_head(project) == head

    url = f"{gitlab.url_for('localhost')}/{path}.git/info/refs"
    ca = gitlab.ca.ca_file
    r = requests.get(url, params={"service": "git-upload-pack"}, auth=("x", reader.token), verify=ca)
    assert r.status_code == 200
    r = requests.get(url, params={"service": "git-receive-pack"}, auth=("x", reader.token), verify=ca)
    assert (r.status_code, r.text) == (403, "You are not allowed to upload code.")
    r = requests.get(url, params={"service": "git-upload-pack"}, auth=("x", nothing.token), verify=ca)
    assert (r.status_code, r.text) == (403, "You are not allowed to download code.")

    # No container image push (nor any registry access) for fine-grained PATs.
    r = requests.get(f"{gitlab.url_for('localhost')}/jwt/auth", auth=(user, pusher.token), verify=ca,
                     params={"service": "container_registry", "scope": f"repository:{path}:pull,push"})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
