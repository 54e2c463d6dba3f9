"""The pure parts of the OAuth sign-in (gitlab/oauth_flows.py): PKCE, the authorization URL,
reading the browser's redirect, and what a server's device authorization answer may say."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from credhelper.gitlab.oauth_flows import (
    DeviceStart,
    LoginFailed,
    authorize_url,
    code_from_redirect,
    pkce,
    token_pair,
)

HOST = "gitlab.example.com"


def test_pkce_is_s256_of_a_fresh_verifier():
    verifier, challenge = pkce()
    assert 43 <= len(verifier) <= 128 and verifier != pkce()[0]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_the_authorization_url_asks_for_a_code_with_pkce_and_state():
    url = authorize_url("https://" + HOST, "app", "http://127.0.0.1:5000/callback",
                        "read_repository write_repository", "st", "ch")
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == (HOST, "/oauth/authorize")
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "client_id": "app", "redirect_uri": "http://127.0.0.1:5000/callback",
        "response_type": "code", "state": "st", "scope": "read_repository write_repository",
        "code_challenge": "ch", "code_challenge_method": "S256"}


@pytest.mark.parametrize("target", ["/callback?code=abc&state=st",
                                    " http://127.0.0.1:5000/callback?state=st&code=abc\n"])
def test_the_code_comes_from_the_redirect_path_or_a_pasted_url(target):
    assert code_from_redirect(target, "st", HOST) == "abc"


@pytest.mark.parametrize("target, words", [
    ("/callback?code=abc&state=other", "state"),
    ("/callback?code=abc", "state"),
    ("/favicon.ico", "state"),
    ("/callback?error=access_denied&state=st", "denied"),
    ("/callback?error=invalid_scope&state=st", "scopes"),
    ("/callback?error=server_error&state=st", "server_error"),
    ("/callback?state=st", "no authorization code"),
])
def test_a_redirect_without_a_good_code_is_one_line(target, words):
    with pytest.raises(LoginFailed) as failed:
        code_from_redirect(target, "st", HOST)
    assert words in str(failed.value) and "\n" not in str(failed.value)


def test_a_device_answer_is_bounded_and_scrubbed():
    start = DeviceStart({"device_code": "d", "user_code": "AB\x1b[31mCD", "interval": 0,
                         "expires_in": 10 ** 9, "verification_uri": "https://h/oauth/device"})
    assert "\x1b" not in start.user_code
    assert (start.interval, start.expires_in) == (1, 1800)
    assert DeviceStart({"device_code": "d", "user_code": "U", "verification_uri": "u"}
                       ).interval == 5
    with pytest.raises(LoginFailed):
        DeviceStart({"user_code": "U", "verification_uri": "u"})


def test_a_token_answer_needs_an_access_token():
    assert token_pair({"access_token": "a" * 64, "refresh_token": "r" * 64}) == ("a" * 64, "r" * 64)
    assert token_pair({"access_token": "a" * 64}) == ("a" * 64, None)
    with pytest.raises(LoginFailed):
        token_pair({"refresh_token": "r" * 64})
