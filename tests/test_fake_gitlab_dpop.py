"""The fake GitLab's DPoP check for personal access tokens, over real HTTPS.

Keys come from ssh-keygen, proofs are built here with PyJWT, and every
refusal is compared with the exact body GitLab sends (the reasons are the
texts of GitLab's DpopAuthenticationService, DpopToken and DpopTokenUser;
see tests/fake_gitlab/dpop.py).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import itertools
import json
import ssl
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from credhelper.selftest.tls import TestCA
from tests.fake_gitlab import FakeGitLab, ssh_fingerprint

SELF = "/api/v4/personal_access_tokens/self"
ROTATE = SELF + "/rotate"
CHALLENGE = 'Bearer realm="Protected by OAuth 2.0"'


# --- keys ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Key:
    name: str
    path: Path
    public_line: str  # the .pub file's line
    keygen_fingerprint: str  # what `ssh-keygen -lf` prints
    private: object  # cryptography private key

    @property
    def jwk(self) -> dict:
        public = self.private.public_key()
        for algorithm in (RSAAlgorithm, OKPAlgorithm, ECAlgorithm):
            try:
                return algorithm.to_jwk(public, as_dict=True)
            except Exception:  # noqa: BLE001 - not this key type
                continue
        raise AssertionError("unknown key type")

    def private_jwk(self) -> dict:
        return RSAAlgorithm.to_jwk(self.private, as_dict=True)


# name -> ssh-keygen arguments
KEY_SPECS = {
    "rsa": ["-t", "rsa", "-b", "3072"],  # alice, auth_and_signing
    "rsa_auth": ["-t", "rsa", "-b", "3072"],  # alice, auth only
    "rsa_signing": ["-t", "rsa", "-b", "3072"],  # alice, signing only
    "rsa_bob": ["-t", "rsa", "-b", "3072"],  # bob's
    "rsa_stranger": ["-t", "rsa", "-b", "3072"],  # nobody's
    "ed25519": ["-t", "ed25519"],  # alice, signing
    "ecdsa": ["-t", "ecdsa"],  # alice, signing
}


def _keygen(directory: Path, name: str, args: list[str]) -> Key:
    path = directory / f"id_{name}"
    subprocess.run(["ssh-keygen", "-q", *args, "-N", "", "-C", f"{name}@test", "-f", str(path)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    listed = subprocess.run(["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True, text=True)
    fingerprint = listed.stdout.split()[1]
    private = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    return Key(name, path, Path(f"{path}.pub").read_text().strip(), fingerprint, private)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ssh-keys")
    with ThreadPoolExecutor(len(KEY_SPECS)) as pool:
        futures = {name: pool.submit(_keygen, directory, name, args) for name, args in KEY_SPECS.items()}
        return {name: future.result() for name, future in futures.items()}


# --- the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory, keys):
    base = tmp_path_factory.mktemp("fake-gitlab-dpop")
    ca = TestCA(base / "tls", names=["gitlab.example.com"])
    with FakeGitLab(base / "server", ca) as server:
        st = server.state
        st.add_user("alice")
        st.add_ssh_key("alice", keys["rsa"].public_line)
        st.add_ssh_key("alice", keys["rsa_auth"].public_line, usage="auth")
        st.add_ssh_key("alice", keys["rsa_signing"].public_line, usage="signing", title="signer")
        st.add_ssh_key("alice", keys["ed25519"].public_line, usage="signing")
        st.add_ssh_key("alice", keys["ecdsa"].public_line, usage="signing")
        st.enable_dpop("alice")
        st.add_user("bob")
        st.add_ssh_key("bob", keys["rsa_bob"].public_line)
        st.enable_dpop("bob")
        st.add_project("dpop/project", members={"alice": "developer"})
        yield server


@pytest.fixture
def state(gitlab):
    st = gitlab.state
    gitlab.api.dpop.reset()
    yield st
    st.set_clock(None)
    st.enable_dpop("alice")
    gitlab.api.dpop.reset()


_names = itertools.count(1)


class Client:
    def __init__(self, gitlab):
        self.base = f"https://localhost:{gitlab.port}"
        self.ca = gitlab.ca.ca_file
        self.port = gitlab.port

    def __call__(self, method, path, token=None, dpop=None, *, header="PRIVATE-TOKEN", **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization" if header == "Bearer" else header] = (
                f"Bearer {token}" if header == "Bearer" else token)
        if dpop is not None:
            headers["DPoP"] = dpop
        return requests.request(method, self.base + path, headers=headers, verify=self.ca, timeout=10, **kwargs)

    def raw(self, method, path, headers):
        """http.client, for what requests cannot send (a repeated header)."""
        context = ssl.create_default_context(cafile=self.ca)
        conn = http.client.HTTPSConnection("localhost", self.port, context=context, timeout=10)
        try:
            conn.putrequest(method, path)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@pytest.fixture
def api(gitlab):
    return Client(gitlab)


# --- proofs -------------------------------------------------------------------------------------


def ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).decode().rstrip("=")


def make_proof(key: Key, token: str, method: str = "GET", url: str = "", *, now: float | None = None,
               header: dict | None = None, claims: dict | None = None, drop_header=(), drop_claims=(),
               algorithm: str = "RS512", signer: Key | None = None) -> str:
    """A DPoP proof as RFC 9449 and GitLab want it; the keywords break it on purpose."""
    now = int(time.time()) if now is None else now
    head = {"typ": "dpop+jwt", "alg": algorithm, "jwk": key.jwk, "kid": key.keygen_fingerprint}
    head.update(header or {})
    body = {"iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "ath": ath(token), "htm": method, "htu": url}
    body.update(claims or {})
    for name in drop_header:
        head.pop(name)
    for name in drop_claims:
        body.pop(name)
    return jwt.encode(body, (signer or key).private, algorithm=algorithm, headers=head)


def b64json(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def with_header(proof: str, key: Key, **changes) -> str:
    """*proof* with header fields changed, signed again (RS512) by *key*: for
    headers PyJWT will not write (it picks the algorithm from ``alg``)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    header.update(changes)
    signing_input = f"{b64json(header)}.{proof.split('.')[1]}"
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA512())
    return signing_input + "." + base64.urlsafe_b64encode(signature).decode().rstrip("=")


def assert_dpop_error(r, reason):
    assert r.status_code == 401, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "dpop_error", "error_description": f"DPoP validation error: {reason}"}
    assert r.headers["WWW-Authenticate"] == CHALLENGE


def pat(state, user="alice", scopes=("api",)):
    return state.create_pat(user, list(scopes)).token


# --- fingerprints and keys -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rsa", "ed25519", "ecdsa"])
def test_fingerprints_are_ssh_keygens(gitlab, keys, name):
    key = keys[name]
    registered = gitlab.state.find_ssh_key(key.keygen_fingerprint)
    assert registered is not None and registered.user == "alice"
    assert registered.fingerprint == key.keygen_fingerprint
    assert ssh_fingerprint(key.public_line) == key.keygen_fingerprint
    assert registered.key_type == key.public_line.split()[0]
    assert registered.title == f"{name}@test"  # the key's comment by default


def test_ssh_keys_registry(gitlab, keys):
    st = gitlab.state
    usages = {k.fingerprint: k.usage for k in st.user_ssh_keys("alice")}
    assert usages[keys["rsa"].keygen_fingerprint] == "auth_and_signing"
    assert usages[keys["rsa_auth"].keygen_fingerprint] == "auth"
    assert usages[keys["rsa_signing"].keygen_fingerprint] == "signing"
    # GitLab: a key exists once on the whole instance.
    with pytest.raises(ValueError, match="Fingerprint sha256 has already been taken"):
        st.add_ssh_key("bob", keys["rsa"].public_line)
    with pytest.raises(ValueError):
        st.add_ssh_key("bob", keys["rsa_stranger"].public_line, usage="everything")
    with pytest.raises(ValueError):
        st.add_ssh_key("bob", "ssh-rsa not-base64!")
    with pytest.raises(ValueError):  # the blob says ed25519
        st.add_ssh_key("bob", "ssh-rsa " + keys["ed25519"].public_line.split()[1])
    with pytest.raises(KeyError):
        st.add_ssh_key("nobody", keys["rsa_stranger"].public_line)
    assert st.find_ssh_key(keys["rsa_stranger"].keygen_fingerprint) is None


# --- accepted proofs ------------------------------------------------------------------------------


def test_valid_proof_is_accepted_and_recorded(gitlab, api, state, keys):
    token = state.create_pat("alice", ["read_api"])
    url = api.base + SELF
    first = make_proof(keys["rsa"], token.token, "GET", url)
    r = api("GET", SELF, token.token, first)
    assert r.status_code == 200 and r.json()["id"] == token.id
    second = make_proof(keys["rsa"], token.token, "GET", url)
    assert api("GET", SELF, token.token, second).status_code == 200

    proofs = gitlab.api.dpop_proofs
    assert len(proofs) == 2
    assert proofs[0].jti != proofs[1].jti  # a fresh proof per call
    for proof, raw in zip(proofs, (first, second)):
        assert proof.method == "GET" and proof.url == url and proof.path == SELF
        assert proof.htm == "GET" and proof.htu == url
        assert proof.kid == keys["rsa"].keygen_fingerprint
        assert proof.header["typ"] == "dpop+jwt" and proof.header["alg"] == "RS512"
        assert proof.ath == ath(token.token)
        assert proof.exp - proof.iat == 300
        assert proof.username == "alice" and proof.token_id == token.id
        assert proof.key_id == gitlab.state.find_ssh_key(keys["rsa"].keygen_fingerprint).id
        assert proof.proof == raw
    assert gitlab.api.dpop.rejections == []


def test_rotation_with_a_proof_and_the_new_token_needs_its_own(gitlab, api, state, keys):
    old = pat(state)
    url = api.base + ROTATE
    r = api("POST", ROTATE, old, make_proof(keys["rsa"], old, "POST", url))
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    (proof,) = gitlab.api.dpop_proofs
    assert proof.method == "POST" and proof.htm == "POST" and proof.url == url and proof.htu == url

    # The old proof is bound to the old token (ath).
    assert_dpop_error(api("GET", SELF, new, make_proof(keys["rsa"], old, "GET", api.base + SELF)),
                      "Incorrect access token hash in JWT")
    assert_dpop_error(api("GET", SELF, new), "DPoP header is missing")
    r = api("GET", SELF, new, make_proof(keys["rsa"], new, "GET", api.base + SELF))
    assert r.status_code == 200 and r.json()["id"] == state.find_token(new).id


@pytest.mark.parametrize("how", ["header", "bearer", "private_token", "access_token"])
def test_the_proof_binds_the_pat_wherever_it_is_sent(api, state, keys, how):
    token = pat(state)
    proof = make_proof(keys["rsa"], token, "GET", api.base + SELF)
    if how == "header":
        r = api("GET", SELF, token, proof)
    elif how == "bearer":
        r = api("GET", SELF, token, proof, header="Bearer")
    else:
        r = api("GET", SELF, dpop=proof, params={how: token})
    assert r.status_code == 200, r.text


def test_htm_htu_nonce_jti_are_not_checked(gitlab, api, state, keys):
    token = pat(state)
    odd = make_proof(keys["rsa"], token, "DELETE", "https://elsewhere.example/x",
                     claims={"nonce": "server-never-sent-one"})
    assert api("GET", SELF, token, odd).status_code == 200
    assert api("GET", SELF, token, odd).status_code == 200  # the same jti again
    glab_style = make_proof(keys["rsa"], token, "", "")  # glab auth dpop-gen: empty htm/htu
    assert api("GET", SELF, token, glab_style).status_code == 200
    recorded = gitlab.api.dpop_proofs
    assert [(p.htm, p.htu, p.nonce) for p in recorded] == [
        ("DELETE", "https://elsewhere.example/x", "server-never-sent-one"),
        ("DELETE", "https://elsewhere.example/x", "server-never-sent-one"),
        ("", "", None),
    ]
    assert all(p.method == "GET" and p.url == api.base + SELF for p in recorded)


def test_signing_only_key_and_case_insensitive_typ_and_alg(api, state, keys):
    token = pat(state)
    assert api("GET", SELF, token, make_proof(keys["rsa_signing"], token)).status_code == 200
    assert api("GET", SELF, token, make_proof(keys["rsa"], token, header={"typ": "DPoP+JWT"})).status_code == 200
    lower_alg = with_header(make_proof(keys["rsa"], token), keys["rsa"], alg="rs512")
    assert api("GET", SELF, token, lower_alg).status_code == 200


def test_lifetime_of_exactly_five_minutes_and_expiry_edge(gitlab, api, state, keys):
    now = int(time.time())
    gitlab.api.dpop.clock = lambda: now + 0.5
    token = pat(state)
    ok = make_proof(keys["rsa"], token, now=now, claims={"exp": now + 300})
    assert api("GET", SELF, token, ok).status_code == 200
    # ruby-jwt: expired when exp <= now (whole seconds).
    assert_dpop_error(api("GET", SELF, token, make_proof(keys["rsa"], token, now=now - 10,
                                                         claims={"exp": now})), "Signature expired")
    assert api("GET", SELF, token, make_proof(keys["rsa"], token, now=now - 10,
                                              claims={"exp": now + 1})).status_code == 200
    # iat in the future, even by half a second: "Invalid IAT value" (no leeway).
    assert_dpop_error(api("GET", SELF, token, make_proof(keys["rsa"], token, now=now,
                                                         claims={"iat": now + 0.75})), "Invalid IAT value")


# --- refusals -------------------------------------------------------------------------------------


def _header_b64(header: dict, payload: dict) -> str:
    return f"{b64json(header)}.{b64json(payload)}"


def _cases():
    """(id, build(keys, token) -> DPoP value or None for no header, reason)."""
    rsa = lambda k: k["rsa"]  # noqa: E731

    def signed_other(k, t):  # an RSA key pair, but an unusable one
        return make_proof(k["rsa"], t, header={"jwk": k["rsa_stranger"].jwk})

    return [
        ("missing", lambda k, t: None, "DPoP header is missing"),
        ("comma", lambda k, t: make_proof(rsa(k), t) + "," + make_proof(rsa(k), t),
         "Multiple DPoP headers must not be present in the request"),
        ("space", lambda k, t: make_proof(rsa(k), t) + " x",
         "Multiple DPoP headers must not be present in the request"),
        ("not_a_jwt", lambda k, t: "invalid", "Malformed JWT, unable to decode. Not enough or too many segments"),
        ("empty", lambda k, t: "", "Malformed JWT, unable to decode. Not enough or too many segments"),
        ("four_segments", lambda k, t: make_proof(rsa(k), t) + ".x",
         "Malformed JWT, unable to decode. Not enough or too many segments"),
        ("bad_header_json", lambda k, t: "bm90IGpzb24." + b64json({"exp": 1}) + ".c2ln",
         "Malformed JWT, unable to decode. Invalid segment encoding"),
        ("empty_payload", lambda k, t: b64json({"typ": "dpop+jwt"}) + "..c2ln",
         "Malformed JWT, unable to decode. Encoded payload is empty"),
        ("no_typ", lambda k, t: make_proof(rsa(k), t, header={"typ": None}), "Missing required claim, typ"),
        ("typ_jwt", lambda k, t: make_proof(rsa(k), t, header={"typ": "JWT"}), "Invalid typ value in JWT"),
        ("no_kid", lambda k, t: make_proof(rsa(k), t, drop_header=["kid"]), "No kid in JWT, unable to fetch key"),
        ("blank_kid", lambda k, t: make_proof(rsa(k), t, header={"kid": " "}), "No kid in JWT, unable to fetch key"),
        ("no_jwk", lambda k, t: make_proof(rsa(k), t, drop_header=["jwk"]), "Missing required claim, jwk"),
        ("rs256", lambda k, t: make_proof(rsa(k), t, algorithm="RS256"),
         "Currently only RS512 algorithm is supported"),
        ("ps512", lambda k, t: make_proof(rsa(k), t, algorithm="PS512"),
         "Currently only RS512 algorithm is supported"),
        ("eddsa_like_glab", lambda k, t: make_proof(k["ed25519"], t, algorithm="EdDSA"),
         "Currently only RS512 algorithm is supported"),
        ("es256", lambda k, t: make_proof(k["ecdsa"], t, algorithm="ES256"),
         "Currently only RS512 algorithm is supported"),
        ("kid_without_algorithm", lambda k, t: make_proof(rsa(k), t, header={"kid": rsa(k).keygen_fingerprint[7:]}),
         "Malformed fingerprint value in kid"),
        ("kid_too_many_colons", lambda k, t: make_proof(rsa(k), t, header={"kid": "SHA256:a:b"}),
         "Malformed fingerprint value in kid"),
        ("kid_md5", lambda k, t: make_proof(rsa(k), t, header={"kid": "MD5:" + rsa(k).keygen_fingerprint[7:]}),
         "Unsupported fingerprint algorithm in kid"),
        ("no_exp", lambda k, t: make_proof(rsa(k), t, drop_claims=["exp"]), "exp is missing"),
        ("no_iat", lambda k, t: make_proof(rsa(k), t, drop_claims=["iat"]), "iat is missing"),
        ("too_long", lambda k, t: make_proof(rsa(k), t, claims={"exp": int(time.time()) + 301}),
         "exp must not exceed iat by more than 5 minutes"),
        ("kty_ec", lambda k, t: make_proof(rsa(k), t, header={"jwk": k["ecdsa"].jwk}), "JWK algorithm must be RSA"),
        ("unknown_key", lambda k, t: make_proof(k["rsa_stranger"], t), "No matching key found"),
        ("auth_only_key", lambda k, t: make_proof(k["rsa_auth"], t), "No matching key found"),
        ("other_users_key", lambda k, t: make_proof(k["rsa_bob"], t), "No matching key found"),
        ("kid_lowercase_prefix", lambda k, t: make_proof(
            rsa(k), t, header={"kid": "sha256:" + rsa(k).keygen_fingerprint[7:]}), "No matching key found"),
        ("ed25519_key_kid", lambda k, t: make_proof(rsa(k), t, header={"kid": k["ed25519"].keygen_fingerprint}),
         "Currently only RSA keys are supported"),
        ("ecdsa_key_kid", lambda k, t: make_proof(rsa(k), t, header={"kid": k["ecdsa"].keygen_fingerprint}),
         "Currently only RSA keys are supported"),
        ("expired", lambda k, t: make_proof(rsa(k), t, now=int(time.time()) - 400), "Signature expired"),
        ("iat_in_future", lambda k, t: make_proof(rsa(k), t, now=int(time.time()) + 100), "Invalid IAT value"),
        ("float_times_long_ago", lambda k, t: make_proof(rsa(k), t, claims={"iat": 1.5, "exp": 2.9}),
         "Signature expired"),
        ("no_ath", lambda k, t: make_proof(rsa(k), t, drop_claims=["ath"]), "Missing required claim ath"),
        ("no_jti", lambda k, t: make_proof(rsa(k), t, drop_claims=["jti"]), "Missing required claim jti"),
        ("jwk_private", lambda k, t: make_proof(rsa(k), t, header={"jwk": rsa(k).private_jwk()}),
         "JWK contains private key"),
        ("jwk_d_only", lambda k, t: make_proof(rsa(k), t, header={"jwk": {**rsa(k).jwk, "d": "AQAB"}}),
         "Creating a RSA key with a private key requires the CRT parameters to be defined"),
        ("jwk_without_n", lambda k, t: make_proof(rsa(k), t, header={"jwk": {"kty": "RSA", "e": "AQAB"}}),
         "Key format is invalid for RSA"),
        ("jwk_of_another_key", signed_other, "Failed to parse JWK: invalid JWK"),
        ("jwk_empty_values", lambda k, t: make_proof(rsa(k), t, header={"jwk": {"kty": "RSA", "n": "", "e": ""}}),
         "Failed to parse JWK: invalid JWK"),
        ("ath_of_another_token", lambda k, t: make_proof(rsa(k), t, claims={"ath": ath(t + "x")}),
         "Incorrect access token hash in JWT"),
        ("ath_with_padding", lambda k, t: make_proof(rsa(k), t, claims={"ath": ath(t) + "="}),
         "Incorrect access token hash in JWT"),
    ]


CASES = _cases()


@pytest.mark.parametrize("build,reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusals_carry_gitlabs_reason(gitlab, api, state, keys, build, reason):
    token = pat(state)
    value = build(keys, token)
    r = api("GET", SELF, token, value)
    assert_dpop_error(r, reason)
    (rejection,) = gitlab.api.dpop.rejections
    assert (rejection.status, rejection.reason, rejection.method) == (401, reason, "GET")
    assert gitlab.api.dpop_proofs == []


def test_refusal_on_rotate_does_not_rotate(gitlab, api, state, keys):
    token = state.create_pat("alice", ["api"])
    assert_dpop_error(api("POST", ROTATE, token.token), "DPoP header is missing")
    assert_dpop_error(api("POST", ROTATE, token.token, make_proof(keys["rsa_stranger"], token.token, "POST")),
                      "No matching key found")
    assert token.id not in [old for old, _ in gitlab.api.rotations]
    assert not state.token_by_id(token.kind, token.id).revoked


def test_two_dpop_headers(gitlab, api, state, keys):
    token = pat(state)
    proofs = [make_proof(keys["rsa"], token), make_proof(keys["rsa"], token)]
    headers = [("PRIVATE-TOKEN", token), ("DPoP", proofs[0]), ("DPoP", proofs[1])]
    status, response_headers, body = api.raw("GET", SELF, headers)
    assert status == 401 and response_headers["WWW-Authenticate"] == CHALLENGE
    assert json.loads(body) == {"error": "dpop_error", "error_description":
                                "DPoP validation error: Multiple DPoP headers must not be present in the request"}
    # GitLab's latest service no longer looks: Rails' joined value then fails to decode.
    gitlab.api.dpop.reject_multiple_values = False
    status, _, body = api.raw("GET", SELF, headers)
    assert status == 401 and json.loads(body)["error_description"] == (
        "DPoP validation error: Malformed JWT, unable to decode. Not enough or too many segments")


def test_errors_gitlab_does_not_rescue_are_500(gitlab, api, state, keys):
    token = pat(state)
    forged = make_proof(keys["rsa"], token, signer=keys["rsa_stranger"])  # kid/jwk right, signature not
    two_segments = ".".join(make_proof(keys["rsa"], token).split(".")[:2])
    immature = make_proof(keys["rsa"], token, claims={"nbf": int(time.time()) + 60})
    numeric_typ = make_proof(keys["rsa"], token, header={"typ": 5})
    for value in (forged, two_segments, immature, numeric_typ):
        r = api("GET", SELF, token, value)
        assert r.status_code == 500 and r.json() == {"message": "500 Internal Server Error"}
        assert "WWW-Authenticate" not in r.headers
    assert [x.status for x in gitlab.api.dpop.rejections] == [500] * 4

    # An earlier GitLab wrapped ruby-jwt's errors: 401 with ruby-jwt's message.
    gitlab.api.dpop.rescue_jwt_errors = True
    assert_dpop_error(api("GET", SELF, token, forged),
                      "Malformed JWT, unable to decode. Signature verification failed")
    assert_dpop_error(api("GET", SELF, token, two_segments),
                      "Malformed JWT, unable to decode. Not enough or too many segments")
    assert_dpop_error(api("GET", SELF, token, immature),
                      "Malformed JWT, unable to decode. Signature nbf has not been reached")
    assert api("GET", SELF, token, numeric_typ).status_code == 500


# --- order: the token first, then DPoP, then scopes ---------------------------------------------------


def test_token_problems_come_before_dpop(api, state):
    r = api("GET", SELF, "glpat-not-a-real-token-000")
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}

    revoked = pat(state)
    state.revoke(revoked)
    r = api("GET", SELF, revoked)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert r.json()["error_description"] == "Token was revoked. You have to re-authorize from the user."

    expired = state.create_pat("alice", ["api"], expires_at=state.today())
    r = api("GET", SELF, expired.token)
    assert r.status_code == 401 and r.json()["error_description"].startswith("Token is expired.")

    user = f"blocked{next(_names)}"
    state.add_user(user)
    state.enable_dpop(user)
    blocked = pat(state, user)
    state.block_user(user)
    r = api("GET", SELF, blocked)
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden - Your account has been blocked."}


def test_dpop_comes_before_scopes(api, state, keys):
    read_only = pat(state, scopes=["read_api"])
    assert_dpop_error(api("POST", ROTATE, read_only), "DPoP header is missing")
    r = api("POST", ROTATE, read_only, make_proof(keys["rsa"], read_only, "POST", api.base + ROTATE))
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"


def test_pat_checked_is_the_one_gitlab_extracts(api, state, keys):
    # An OAuth token authenticates (it is looked for first) but GitLab binds
    # DPoP to the PRIVATE-TOKEN value, here bob's PAT: not alice's.
    oauth = state.create_oauth_token("alice", ["api"])
    bobs = pat(state, "bob")
    r = api("GET", SELF, bobs, make_proof(keys["rsa"], bobs), headers={"Authorization": f"Bearer {oauth.token}"})
    assert_dpop_error(r, "Personal access token does not belong to the requesting user")


# --- where DPoP does not apply ----------------------------------------------------------------------


def test_users_without_dpop_need_no_proof(api, state, keys):
    user = f"plain{next(_names)}"
    state.add_user(user)
    token = pat(state, user)
    assert api("GET", SELF, token).status_code == 200
    assert api("GET", SELF, token, "garbage").status_code == 200  # not even looked at
    state.enable_dpop("alice", False)
    assert api("GET", SELF, pat(state)).status_code == 200


def test_oauth_tokens_need_no_proof(api, state):
    oauth = state.create_oauth_token("alice", ["api"])
    for r in (api("GET", SELF, oauth.token, header="Bearer"), api("GET", SELF, params={"access_token": oauth.token})):
        # /self is for PATs only: GitLab's 400, not a DPoP refusal.
        assert r.status_code == 400
        assert r.json() == {"message": "400 Bad request - This endpoint requires token type to be a "
                                       "personal access token"}


def test_feature_flag_off(gitlab, api, state):
    gitlab.api.dpop.enabled = False
    assert api("GET", SELF, pat(state)).status_code == 200


def test_git_over_http_and_registry_never_check_dpop(api, state):
    token = pat(state)
    r = api("GET", "/dpop/project.git/info/refs", auth=("alice", token), params={"service": "git-upload-pack"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    r = api("GET", "/jwt/auth", auth=("alice", token),
            params={"service": "container_registry", "scope": "repository:dpop/project:pull"})
    assert r.status_code == 200 and "token" in r.json()
