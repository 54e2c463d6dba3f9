"""The fake GitLab's OAuth authorization endpoints, over real HTTPS: the device authorization
grant (RFC 8628), the authorization code grant with PKCE (RFC 7636) and the consent page, as
Doorkeeper answers them with GitLab's settings (tests/fake_gitlab/oauth.py)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from credhelper.selftest.tls import TestCA
from tests.fake_gitlab import FakeGitLab
from tests.fake_gitlab.oauth import DEVICE_CODE_GRANT, s256

VERIFIER = "ks02i3jdikdo2k0dkfodf3m39rjfjsdk0wk349rj3jrhf"


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake-gitlab-oauth")
    ca = TestCA(base / "tls", names=["gitlab.example.com"])
    with FakeGitLab(base / "server", ca) as server:
        server.state.add_user("alice")
        yield server


@pytest.fixture
def web(gitlab):
    base = "https://localhost:%d" % gitlab.port
    yield lambda method, path, **kw: requests.request(method, base + path, allow_redirects=False,
                                                      verify=gitlab.ca.ca_file, timeout=10, **kw)
    gitlab.state.set_clock(None)
    gitlab.oauth.enforced_interval = None
    gitlab.oauth.signed_in = "alice"


@pytest.fixture
def app(gitlab):
    return gitlab.state.add_oauth_application("credhelper", redirect_uri="http://127.0.0.1/callback",
                                              scopes=["read_repository", "write_repository", "read_user"])


def test_pkce_s256_matches_gitlabs_documented_example():
    assert s256(VERIFIER) == "2i0WFA-0AerkjQm4X4oDEhqA17QIAKNjXpagHBXmO_U"


# -- device authorization grant ---------------------------------------------------------------

def start_device(web, app, scope="read_repository"):
    done = web("POST", "/oauth/authorize_device", data={"client_id": app.uid, "scope": scope})
    assert done.status_code == 200, done.text
    return done.json()


def poll(web, app, device_code):
    return web("POST", "/oauth/token", data={"grant_type": DEVICE_CODE_GRANT,
                                             "device_code": device_code, "client_id": app.uid})


def test_device_authorization_answers_as_gitlab_documents(web, app, gitlab):
    body = start_device(web, app)
    assert sorted(body) == ["device_code", "expires_in", "interval", "user_code",
                            "verification_uri", "verification_uri_complete"]
    assert re.fullmatch(r"[0-9A-Z]{8}", body["user_code"])
    assert body["verification_uri"] == "https://localhost:%d/oauth/device" % gitlab.port
    assert body["verification_uri_complete"] == body["verification_uri"] + "?user_code=" + body["user_code"]
    assert (body["expires_in"], body["interval"]) == (300, 5)


def test_device_authorization_refuses_unknown_clients_scopes_and_disabled_apps(web, app, gitlab):
    unknown = web("POST", "/oauth/authorize_device", data={"client_id": "nope", "scope": "api"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    scope = web("POST", "/oauth/authorize_device", data={"client_id": app.uid, "scope": "api"})
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    off = gitlab.state.add_oauth_application("no device", device_flow=False)
    disabled = web("POST", "/oauth/authorize_device", data={"client_id": off.uid})
    assert disabled.status_code == 401 and disabled.json()["error"] == "unauthorized_client"


def test_device_code_pending_then_slow_down_then_approved_once(web, app, gitlab):
    body = start_device(web, app)
    first = poll(web, app, body["device_code"])
    assert first.status_code == 400 and first.json()["error"] == "authorization_pending"
    again = poll(web, app, body["device_code"])           # sooner than the interval
    assert again.status_code == 400 and again.json()["error"] == "slow_down"
    gitlab.oauth.approve_device(body["user_code"], "alice")
    gitlab.state.advance(5)
    done = poll(web, app, body["device_code"])
    assert done.status_code == 200
    answer = done.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 7200
    assert answer["scope"] == "read_repository" and answer["refresh_token"]
    token = gitlab.state.find_token(answer["access_token"])
    assert token.user == "alice" and gitlab.state.application_uid(token) == app.uid
    gitlab.state.advance(5)
    spent = poll(web, app, body["device_code"])
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"


def test_device_code_denied_expired_and_of_another_client(web, app, gitlab):
    denied = start_device(web, app)
    gitlab.oauth.deny_device(denied["user_code"])
    answer = poll(web, app, denied["device_code"])
    assert answer.status_code == 400 and answer.json()["error"] == "access_denied"
    expired = start_device(web, app)
    other = gitlab.state.add_oauth_application("other")
    assert poll(web, other, expired["device_code"]).json()["error"] == "invalid_grant"
    gitlab.state.advance(300)
    answer = poll(web, app, expired["device_code"])
    assert answer.status_code == 400 and answer.json()["error"] == "expired_token"
    assert poll(web, app, expired["device_code"]).json()["error"] == "invalid_grant"


# -- authorization code with PKCE ----------------------------------------------------------------

def authorize_query(app, port=49152, **overrides):
    query = {"client_id": app.uid, "redirect_uri": "http://127.0.0.1:%d/callback" % port,
             "response_type": "code", "state": "xyz", "scope": "read_repository",
             "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}
    query.update(overrides)
    return {k: v for k, v in query.items() if v is not None}


def consent(web, query, deny=False):
    """What the person's browser does: open the consent page, press Authorize (or Deny)."""
    page = web("GET", "/oauth/authorize", params=query)
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text.split("</form>")[0]))
    if deny:
        form["_method"] = "delete"
    answer = web("POST", "/oauth/authorize", data=form)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    return location, {k: v[0] for k, v in parse_qs(location.query).items()}


def exchange(web, app, code, verifier=VERIFIER, port=49152, path="/callback"):
    data = {"grant_type": "authorization_code", "code": code, "client_id": app.uid,
            "redirect_uri": "http://127.0.0.1:%d%s" % (port, path), "code_verifier": verifier}
    return web("POST", "/oauth/token", data={k: v for k, v in data.items() if v is not None})


def test_approval_redirects_to_the_loopback_port_with_code_and_state(web, app, gitlab):
    location, query = consent(web, authorize_query(app, port=49152))
    assert (location.scheme, location.netloc, location.path) == ("http", "127.0.0.1:49152", "/callback")
    assert query["state"] == "xyz" and query["code"]
    done = exchange(web, app, query["code"])
    assert done.status_code == 200
    token = gitlab.state.find_token(done.json()["access_token"])
    assert token.scopes == ("read_repository",) and token.user == "alice"
    reused = exchange(web, app, query["code"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("change, error", [
    ({"verifier": "x" * 43}, "invalid_grant"),
    ({"verifier": None}, "invalid_request"),
    ({"path": "/elsewhere"}, "invalid_grant"),
])
def test_the_code_needs_its_verifier_and_redirect_uri(web, app, change, error):
    _, query = consent(web, authorize_query(app))
    done = exchange(web, app, query["code"], **change)
    assert done.status_code == 400 and done.json()["error"] == error


def test_an_expired_code_is_invalid_grant(web, app, gitlab):
    _, query = consent(web, authorize_query(app))
    gitlab.state.advance(600)
    assert exchange(web, app, query["code"]).json()["error"] == "invalid_grant"


def test_deny_redirects_with_access_denied(web, app):
    _, query = consent(web, authorize_query(app), deny=True)
    assert query == {"error": "access_denied", "state": "xyz",
                     "error_description": "The resource owner or authorization server denied the request."}


def test_authorize_refuses_unknown_redirect_uris_with_a_page_and_bad_scopes_with_a_redirect(web, app):
    wrong = web("GET", "/oauth/authorize", params=authorize_query(
        app, redirect_uri="http://127.0.0.1:5000/other"))
    assert wrong.status_code == 400 and "Location" not in wrong.headers
    localhost = web("GET", "/oauth/authorize", params=authorize_query(
        app, redirect_uri="http://localhost:5000/callback"))     # loopback by name: not an IP
    assert localhost.status_code == 400
    scope = web("GET", "/oauth/authorize", params=authorize_query(app, scope="api"))
    assert scope.status_code == 302
    assert parse_qs(urlsplit(scope.headers["Location"]).query)["error"] == ["invalid_scope"]


def test_a_consent_form_needs_the_page_it_came_from(web, app):
    forged = web("POST", "/oauth/authorize", data=dict(authorize_query(app), authenticity_token="x"))
    assert forged.status_code == 422


def test_refresh_tokens_of_a_login_are_single_use(web, app, gitlab):
    _, query = consent(web, authorize_query(app))
    first = exchange(web, app, query["code"]).json()
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": app.uid}
    refreshed = web("POST", "/oauth/token", data=data)
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"] != first["refresh_token"]
    again = web("POST", "/oauth/token", data=data)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
