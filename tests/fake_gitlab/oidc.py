"""GitLab as an OpenID Connect issuer for CI jobs: the ID tokens a job gets from ``id_tokens:``
and the documents a relying party (OpenBao's JWT auth method) verifies them with
(/work/shared/gitlab-facts.md, "OIDC for CI").

    GET /.well-known/openid-configuration   issuer, jwks_uri, the algorithms
    GET /oauth/discovery/keys               the JWKS: the RSA signing key (RS256), its kid

``issue(project_path, aud=...)`` makes a job's ID token: RS256, ``iss`` = the issuer URL,
``sub`` = ``project_path:GROUP/PROJECT:ref_type:branch:ref:REF``, with ``namespace_path``,
``project_path``, ``ref``, ``ref_type``, ``pipeline_id``, ``job_id``, ``user_login``.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time

from cryptography.hazmat.primitives.asymmetric import rsa

from .web import Request, Response, Router


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class CiIdTokens:
    def __init__(self, issuer: str = "https://gitlab.example.com") -> None:
        self.issuer = issuer
        self.kid = "fake-gitlab-ci-%d" % id(self)
        self._key: rsa.RSAPrivateKey | None = None
        self._lock = threading.Lock()
        self._jobs = itertools.count(1000)

    @property
    def key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._key

    def install(self, router: Router) -> None:
        router.add("GET", r"/\.well-known/openid-configuration", self.discovery,
                   name="oidc_discovery")
        router.add("GET", r"/oauth/discovery/keys", self.keys, name="oidc_keys")

    def discovery(self, request: Request, match) -> Response:
        return Response.json(200, {
            "issuer": self.issuer, "jwks_uri": self.issuer + "/oauth/discovery/keys",
            "authorization_endpoint": self.issuer + "/oauth/authorize",
            "token_endpoint": self.issuer + "/oauth/token",
            "userinfo_endpoint": self.issuer + "/oauth/userinfo",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "sub_legacy", "name",
                                 "nickname", "email", "email_verified", "groups_direct"]})

    def keys(self, request: Request, match) -> Response:
        numbers = self.key.public_key().public_numbers()
        return Response.json(200, {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig",
                                             "alg": "RS256", "e": _b64(numbers.e),
                                             "n": _b64(numbers.n)}]})

    def issue(self, project_path: str, aud: str, ref: str = "main", user: str = "alice",
              ttl: int = 300) -> str:
        import jwt

        now = int(time.time())
        job = next(self._jobs)
        claims = {
            "iss": self.issuer, "aud": aud, "iat": now, "nbf": now - 1, "exp": now + ttl,
            "sub": "project_path:%s:ref_type:branch:ref:%s" % (project_path, ref),
            "namespace_path": project_path.rsplit("/", 1)[0], "project_path": project_path,
            "ref": ref, "ref_type": "branch", "ref_protected": "true",
            "pipeline_id": str(job * 10), "pipeline_source": "push", "job_id": str(job),
            "user_login": user, "jti": "job-%d" % job}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


def install(app) -> CiIdTokens:
    tokens = CiIdTokens()
    tokens.install(app.router)
    return tokens
