"""DPoP proofs for personal access tokens, checked the way GitLab checks them.

A user who turned DPoP on ("Use DPoP with personal access tokens") must send,
with every ``/api/...`` request made with one of their personal access
tokens, a ``DPoP`` header holding a proof JWT signed with one of their SSH
keys.  OAuth, deploy and job tokens are never asked for one; neither is Git
over HTTP (only the API guard calls this module).

Where GitLab's code lives, and what this module follows:

* ``API::APIGuard#check_dpop!`` (lib/api/api_guard.rb): runs inside
  ``find_current_user!``, i.e. after the token was found, found active
  (401 ``invalid_token`` otherwise) and its owner found not blocked (403),
  and before the endpoint's scopes are checked (403 ``insufficient_scope``).
  It takes the personal access token from ``private_token``, then
  ``PRIVATE-TOKEN``, then the OAuth positions (``access_token``,
  ``Authorization: Bearer``, ``bearer_token``), and does nothing when that
  value is not a personal access token.  Feature flag ``dpop_authentication``
  (``DPoPVerifier.enabled``).
* ``Auth::DpopAuthenticationService``: nothing unless the user enabled DPoP;
  ``DPoP header is missing``.  An earlier version also refused a value with a
  comma or a space ("Multiple DPoP headers must not be present in the
  request"); that check is kept here (``reject_multiple_values``) since
  several headers reach Rails joined by ", ".
* ``Gitlab::Auth::DpopToken#validate!``: the JWT is decoded without
  verification, then ``typ``, ``kid``, ``jwk``, ``alg`` (RS512 only), the
  ``kid`` format, ``exp``/``iat`` (at most 300 s apart) and ``jwk.kty`` (RSA).
* ``Gitlab::Auth::DpopTokenUser#validate!``: the token belongs to the user;
  the ``kid`` names one of the user's SSH keys usable for signing, an
  ``ssh-rsa`` one; the JWT verifies with that key (RS512) with ``exp``,
  ``iat`` and required claims ``exp ath iat jti``; the ``jwk`` holds no
  private key and is that same key; ``ath`` is the token's hash.
* Failures are ``Gitlab::Auth::DpopValidationError``, rendered by the API
  guard as rack-oauth2's ``Bearer::Unauthorized(:dpop_error, ...)``::

      401 {"error":"dpop_error","error_description":"DPoP validation error: <reason>"}
      WWW-Authenticate: Bearer realm="Protected by OAuth 2.0"

  (rack-oauth2 adds error/error_description to the challenge only for the
  RFC 6750 codes, and dpop_error is not one).
* Errors GitLab does not rescue end in Grape's ``rescue_from :all``:
  ``500 {"message":"500 Internal Server Error"}``.  That is what GitLab's
  current code does when the signature does not verify, ``nbf`` lies in the
  future, or the proof has only two segments (ruby-jwt errors it no longer
  wraps), and for type confusion in the JSON (e.g. a numeric ``typ``).  With
  ``rescue_jwt_errors = True`` the ruby-jwt errors become 401 ``Malformed JWT,
  unable to decode. <ruby-jwt message>`` instead, as an earlier GitLab did.

``htm``, ``htu`` and ``nonce`` are not checked (nor is ``jti`` for reuse);
every accepted proof is recorded (``DPoPVerifier.proofs``) with the request's
method and URL so tests can check what clients send.  Proof times are judged
by the real clock (``DPoPVerifier.clock``), not the model's movable clock:
clients stamp proofs with the real time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .state import PAT, GitLabState, User
from .web import Request, Response

__all__ = [
    "DPoPVerifier",
    "DPoPProof",
    "DPoPRejection",
    "dpop_error",
    "DPOP_REALM",
    "MAX_EXPIRY_TIME_IN_SECS",
    "REASONS",
]

# rack-oauth2's DEFAULT_REALM: GitLab sets none.
DPOP_REALM = "Protected by OAuth 2.0"
# Gitlab::Auth::DpopToken::MAX_EXPIRY_TIME_IN_SECS
MAX_EXPIRY_TIME_IN_SECS = 300
# DpopTokenUser: required_claims
REQUIRED_CLAIMS = ("exp", "ath", "iat", "jti")

# The reasons, as GitLab words them (after "DPoP validation error: ").
MALFORMED = "Malformed JWT, unable to decode. "
REASONS = {
    "missing": "DPoP header is missing",
    "multiple": "Multiple DPoP headers must not be present in the request",
    "segments": MALFORMED + "Not enough or too many segments",
    "empty_payload": MALFORMED + "Encoded payload is empty",
    "encoding": MALFORMED + "Invalid segment encoding",
    "typ_missing": "Missing required claim, typ",
    "typ": "Invalid typ value in JWT",
    "kid_missing": "No kid in JWT, unable to fetch key",
    "jwk_missing": "Missing required claim, jwk",
    "alg": "Currently only RS512 algorithm is supported",
    "kid_format": "Malformed fingerprint value in kid",
    "kid_algorithm": "Unsupported fingerprint algorithm in kid",
    "exp_missing": "exp is missing",
    "iat_missing": "iat is missing",
    "lifetime": "exp must not exceed iat by more than 5 minutes",
    "kty": "JWK algorithm must be RSA",
    "not_owner": "Personal access token does not belong to the requesting user",
    "no_key": "No matching key found",
    "key_type": "Currently only RSA keys are supported",
    "expired": "Signature expired",
    "iat": "Invalid IAT value",
    "jwk_format": "Key format is invalid for RSA",
    "jwk_crt": "Creating a RSA key with a private key requires the CRT parameters to be defined",
    "jwk_private": "JWK contains private key",
    "jwk_mismatch": "Failed to parse JWK: invalid JWK",
    "ath": "Incorrect access token hash in JWT",
}

logger = logging.getLogger("tests.fake_gitlab")

_RSA_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
_B64_CHARS = re.compile(r"[^A-Za-z0-9+/]")


# --- outcomes ----------------------------------------------------------------------------


class _Refused(Exception):
    """A DpopValidationError: 401 dpop_error with this reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Crash(Exception):
    """An exception GitLab lets through to Grape's rescue_from :all (500).

    *jwt_message* is set for ruby-jwt's own DecodeErrors (which an earlier
    GitLab wrapped as "Malformed JWT, unable to decode. ...").
    """

    def __init__(self, what: str, jwt_message: str | None = None):
        super().__init__(what)
        self.jwt_message = jwt_message


def dpop_error(reason: str) -> Response:
    """rack-oauth2's Bearer::Unauthorized(:dpop_error, DpopValidationError) as GitLab sends it."""
    return Response.json(401, {"error": "dpop_error", "error_description": f"DPoP validation error: {reason}"},
                         [("WWW-Authenticate", f'Bearer realm="{DPOP_REALM}"')])


def internal_error() -> Response:
    """API::Helpers#handle_api_exception in production."""
    return Response.json(500, {"message": "500 Internal Server Error"})


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DPoPProof:
    """One accepted proof and the request it came with."""

    method: str  # the request's method
    url: str  # the request's URL as the client addressed it, without the query
    path: str  # the request's decoded path
    header: dict[str, Any]  # the JWT header (typ, alg, jwk, kid)
    claims: dict[str, Any]  # the JWT claims (iat, exp, jti, ath, and htm/htu/nonce if sent)
    kid: str
    key_id: int  # the SSHKey that verified it
    username: str
    token_id: int  # the personal access token it was bound to (ath)
    checked_at: float  # clock() when it was accepted
    proof: str = field(repr=False, default="")

    @property
    def jti(self) -> Any:
        return self.claims.get("jti")

    @property
    def htm(self) -> Any:
        return self.claims.get("htm")

    @property
    def htu(self) -> Any:
        return self.claims.get("htu")

    @property
    def nonce(self) -> Any:
        return self.claims.get("nonce")

    @property
    def iat(self) -> Any:
        return self.claims.get("iat")

    @property
    def exp(self) -> Any:
        return self.claims.get("exp")

    @property
    def ath(self) -> Any:
        return self.claims.get("ath")


@dataclass(frozen=True)
class DPoPRejection:
    """One refused request: status 401 with *reason*, or 500 (reason None)."""

    method: str
    url: str
    status: int
    reason: str | None
    username: str


# --- Ruby's semantics, where GitLab's checks depend on them ------------------------------------


def _present(value: Any) -> bool:
    """ActiveSupport's ``present?``."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


def _casecmp(value: Any, expected: str, what: str) -> bool:
    """``String#casecmp?``; a non-string receiver is a NoMethodError (500)."""
    if not isinstance(value, str):
        raise _Crash(f"{what} is not a string")
    return value.casefold() == expected.casefold()


def _ruby_split(value: str, sep: str) -> list[str]:
    """``String#split(sep)``: trailing empty fields are dropped."""
    parts = value.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_i(value: Any) -> int:
    """``#to_i`` of a JSON value (claims compared as integers by ruby-jwt)."""
    if value is None:
        return 0
    if _number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Crash("non-finite number")
        return int(value)
    if isinstance(value, str):
        match = re.match(r"\s*([+-]?\d+)", value.replace("_", ""))
        return int(match.group(1)) if match else 0
    raise _Crash("no to_i")


def _b64url_decode(segment: str) -> bytes:
    """``JWT::Base64.url_decode``: strict first, then the lenient fallback."""
    data = segment.replace("-", "+").replace("_", "/")
    if not data.endswith("=") and len(data) % 4:
        data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    # Base64.decode64 (String#unpack1("m")): other characters are skipped.
    data = _B64_CHARS.sub("", data.split("=", 1)[0])
    if len(data) % 4 == 1:
        data = data[:-1]
    return base64.b64decode(data + "=" * (-len(data) % 4))


def _reject_constant(name: str):
    raise ValueError(name)


def _parse_segment(segment: str) -> Any:
    try:
        return json.loads(_b64url_decode(segment).decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Refused(REASONS["encoding"]) from None


def _b64url_int(value: Any) -> int:
    if not isinstance(value, str):
        raise _Refused(REASONS["jwk_mismatch"])
    return int.from_bytes(_b64url_decode(value), "big")


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).decode().rstrip("=")


# --- the verifier ------------------------------------------------------------------------------


class DPoPVerifier:
    """GitLab's DPoP check for one fake GitLab (``server.api.dpop``).

    Settings (attributes): ``enabled`` (feature flag dpop_authentication,
    True), ``clock`` (seconds since the epoch, ``time.time``),
    ``reject_multiple_values`` (True), ``rescue_jwt_errors`` (False).
    """

    def __init__(self, state: GitLabState):
        self.state = state
        self.enabled = True
        self.clock: Callable[[], float] = time.time
        self.reject_multiple_values = True
        self.rescue_jwt_errors = False
        self._lock = threading.Lock()
        self._proofs: list[DPoPProof] = []
        self._rejections: list[DPoPRejection] = []

    @property
    def proofs(self) -> list[DPoPProof]:
        """Every accepted proof, oldest first."""
        with self._lock:
            return list(self._proofs)

    @property
    def rejections(self) -> list[DPoPRejection]:
        """Every refused request, oldest first."""
        with self._lock:
            return list(self._rejections)

    def clear(self) -> None:
        with self._lock:
            self._proofs.clear()
            self._rejections.clear()

    def reset(self) -> None:
        """Settings back to their defaults, records cleared."""
        self.enabled = True
        self.clock = time.time
        self.reject_multiple_values = True
        self.rescue_jwt_errors = False
        self.clear()

    # --- entry point (API::APIGuard#check_dpop!) ---------------------------------------------

    def check(self, request: Request, user: User | None, pat_plaintext: str | None) -> Response | None:
        """None when the request may go on, else GitLab's error response.

        *user*: the authenticated user; *pat_plaintext*: the value GitLab's
        ``extract_personal_access_token`` finds in the request.
        """
        if not self.enabled or user is None:
            return None
        if not request.raw_path.startswith("/api/"):
            return None
        if not pat_plaintext or self.state.find_token(pat_plaintext, PAT) is None:
            return None  # not a personal access token: DPoP does not apply
        if not user.dpop_enabled:
            return None
        url = f"{request.base_url}{request.raw_path}"
        now = self.clock()
        try:
            header, claims, key, token, raw = self._validate(request, user, pat_plaintext, now)
        except _Refused as refused:
            return self._reject(request, url, user, 401, refused.reason)
        except _Crash as crash:
            if crash.jwt_message is not None and self.rescue_jwt_errors:
                return self._reject(request, url, user, 401, MALFORMED + crash.jwt_message)
            return self._reject(request, url, user, 500, None)
        except Exception:  # anything else: Grape's rescue_from :all, as in GitLab
            logger.debug("DPoP check failed unexpectedly", exc_info=True)
            return self._reject(request, url, user, 500, None)
        record = DPoPProof(request.method.upper(), url, request.path, header, claims, header["kid"], key.id,
                           user.username, token.id, now, raw)
        with self._lock:
            self._proofs.append(record)
        return None

    def _reject(self, request: Request, url: str, user: User, status: int, reason: str | None) -> Response:
        with self._lock:
            self._rejections.append(DPoPRejection(request.method.upper(), url, status, reason, user.username))
        if status != 401:
            return internal_error()
        assert reason is not None  # every 401 names its reason
        return dpop_error(reason)

    # --- Auth::DpopAuthenticationService + DpopToken + DpopTokenUser -----------------------------

    def _validate(self, request: Request, user: User, pat_plaintext: str, now: float):
        values = request.headers.get_all("DPoP") or []
        if not values:
            raise _Refused(REASONS["missing"])
        # Rails sees several DPoP headers as one value joined by ", ".
        raw = ", ".join(values)
        if self.reject_multiple_values and re.search(r"[,\s]", raw.strip()):
            raise _Refused(REASONS["multiple"])
        header, claims = self._validate_token(raw)
        token = self._pat_belongs_to_user(user, pat_plaintext)
        key = self._valid_token_for_user(user, raw, header, claims, now)
        self._valid_access_token_hash(claims, pat_plaintext)
        return header, claims, key, token, raw

    def _validate_token(self, data: str) -> tuple[dict, dict]:
        """Gitlab::Auth::DpopToken#validate!"""
        # JWT.decode(data, nil, false), every error wrapped as "Malformed JWT, ...".
        segments = data.count(".") + 1
        if segments not in (2, 3):
            raise _Refused(REASONS["segments"])
        parts = data.split(".")
        if parts[1] == "":
            raise _Refused(REASONS["empty_payload"])
        header = _parse_segment(parts[0])
        payload = _parse_segment(parts[1])
        if not isinstance(header, dict) or not isinstance(payload, dict):
            # Ruby fails on the first Hash access (header['b64']) with a
            # Ruby-specific message, still inside the rescue: an approximation.
            raise _Refused(REASONS["encoding"])

        if not _present(header.get("typ")):
            raise _Refused(REASONS["typ_missing"])
        if not _casecmp(header["typ"], "dpop+jwt", "typ"):
            raise _Refused(REASONS["typ"])
        if not _present(header.get("kid")):
            raise _Refused(REASONS["kid_missing"])
        if not _present(header.get("jwk")):
            raise _Refused(REASONS["jwk_missing"])
        if not _casecmp(header.get("alg"), "RS512", "alg"):
            raise _Refused(REASONS["alg"])
        kid = header["kid"]
        if not isinstance(kid, str):
            raise _Crash("kid is not a string")
        kid_parts = _ruby_split(kid, ":")
        if len(kid_parts) != 2:
            raise _Refused(REASONS["kid_format"])
        if not _casecmp(kid_parts[0], "SHA256", "kid algorithm"):
            raise _Refused(REASONS["kid_algorithm"])
        if not _present(payload.get("exp")):
            raise _Refused(REASONS["exp_missing"])
        if not _present(payload.get("iat")):
            raise _Refused(REASONS["iat_missing"])
        exp, iat = payload["exp"], payload["iat"]
        if not (_number(exp) and _number(iat)):
            raise _Crash("exp - iat on non-numbers")
        if exp - iat > MAX_EXPIRY_TIME_IN_SECS:
            raise _Refused(REASONS["lifetime"])
        jwk = header["jwk"]
        if not isinstance(jwk, dict):
            raise _Crash("jwk does not respond to dig")
        if jwk.get("kty") != "RSA":
            raise _Refused(REASONS["kty"])
        return header, payload

    def _pat_belongs_to_user(self, user: User, pat_plaintext: str):
        """user.personal_access_tokens.active.find_by_token(plaintext)"""
        token = self.state.find_active_token(pat_plaintext, PAT)
        if token is None or (token.user or "").lower() != user.username.lower():
            raise _Refused(REASONS["not_owner"])
        return token

    def _valid_token_for_user(self, user: User, data: str, header: dict, claims: dict, now: float):
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        # signing_key_for_user!: the kid, without a (case-sensitive) "SHA256:" prefix.
        kid = header["kid"]
        fingerprint = kid[len("SHA256:"):] if kid.startswith("SHA256:") else kid
        key = self.state.signing_key(user, fingerprint)
        if key is None:
            raise _Refused(REASONS["no_key"])
        if not key.key.split(" ")[0].casefold() == "ssh-rsa":
            raise _Refused(REASONS["key_type"])
        try:
            public_key = serialization.load_ssh_public_key(key.key.encode())
        except (ValueError, TypeError, NotImplementedError) as error:
            raise _Refused(f"Unable to parse public key. {error}") from None
        assert isinstance(public_key, rsa.RSAPublicKey)

        # JWT.decode(data, key, true, required_claims:, algorithm: 'RS512', verify_iat: true)
        parts = data.split(".")
        if len(parts) != 3:
            raise _Crash("JWT::DecodeError", "Not enough or too many segments")
        try:
            signature = _b64url_decode(parts[2])
            public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA512())
        except (InvalidSignature, ValueError):
            raise _Crash("JWT::VerificationError", "Signature verification failed") from None
        if "exp" in claims and _to_i(claims["exp"]) <= int(now):
            raise _Refused(REASONS["expired"])
        if "nbf" in claims and _to_i(claims["nbf"]) > int(now):
            raise _Crash("JWT::ImmatureSignature", "Signature nbf has not been reached")
        if "iat" in claims:
            iat = claims["iat"]
            if not _number(iat) or float(iat) > now:
                raise _Refused(REASONS["iat"])
        for claim in REQUIRED_CLAIMS:
            if claim not in claims:
                raise _Refused(f"Missing required claim {claim}")

        # The jwk: JWT::JWK::RSA.import(jwk), no private key, and the same key.
        jwk = header["jwk"]
        if not (_truthy(jwk.get("n")) and _truthy(jwk.get("e"))):
            raise _Refused(REASONS["jwk_format"])
        private = [name for name in _RSA_PRIVATE_MEMBERS if _truthy(jwk.get(name))]
        if private:
            if len(private) != len(_RSA_PRIVATE_MEMBERS):
                raise _Refused(REASONS["jwk_crt"])
            raise _Refused(REASONS["jwk_private"])
        numbers = public_key.public_numbers()
        if _b64url_int(jwk["n"]) != numbers.n or _b64url_int(jwk["e"]) != numbers.e:
            raise _Refused(REASONS["jwk_mismatch"])
        return key

    @staticmethod
    def _valid_access_token_hash(claims: dict, pat_plaintext: str) -> None:
        ath = claims["ath"]
        if not isinstance(ath, str):
            raise _Crash("secure_compare on a non-string")
        if not hmac.compare_digest(ath.encode(), _ath(pat_plaintext).encode()):
            raise _Refused(REASONS["ath"])
