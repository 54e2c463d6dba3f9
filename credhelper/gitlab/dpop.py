"""DPoP proofs (RFC 9449) for GitLab: a pure function of (key, token, method, url, now).

GitLab checks (docs/gitlab.md#dpop): header ``typ`` dpop+jwt, ``alg`` RS512, ``jwk`` (public
parts), ``kid`` = the key's ``SHA256:`` fingerprint as ssh-keygen prints it; claims ``iat``,
``exp`` (at most 5 minutes later), ``jti``, and ``ath`` = base64url(SHA-256(token)).  It does
not check ``htm``/``htu``; we send them anyway, for exactly the request the proof is for, as the
RFC says (glab sends them empty).
"""

from __future__ import annotations

import hashlib
import json
import os

from credhelper.gitlab.sshkeys import b64url

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.gitlab.sshkeys import SigningKey

LIFETIME = 300   # seconds: GitLab's maximum exp - iat


def token_hash(token: str) -> str:
    """The ``ath`` claim: base64url (no padding) of SHA-256 of the token."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def target_uri(url: str) -> str:
    """``htu``: the URL without query and fragment (RFC 9449, section 4.2)."""
    return url.split("#", 1)[0].split("?", 1)[0]


def make_proof(key: SigningKey, token: str, method: str, url: str, now: float,
               jti: str | None = None) -> str:
    header = {"typ": "dpop+jwt", "alg": key.algorithm, "jwk": key.jwk, "kid": key.fingerprint}
    claims = {"iat": int(now), "exp": int(now) + LIFETIME,
              "jti": jti or b64url(os.urandom(16)), "ath": token_hash(token),
              "htm": method.upper(), "htu": target_uri(url)}
    signing_input = "%s.%s" % (_segment(header), _segment(claims))
    return "%s.%s" % (signing_input, b64url(key.sign(signing_input.encode("ascii"))))


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())
