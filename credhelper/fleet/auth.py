"""How a machine logs in to OpenBao, in this order (README, "Fleets"):

1. ``token_file``: a file holding an OpenBao token (0600; an operator's or a provisioned one);
2. AppRole: ``role_id`` and ``secret_id_file`` (the secret id is read from its file at each
   login, so rotating it is a file write), at ``approle_mount`` (default ``approle``);
3. a GitLab CI ID token through OpenBao's JWT auth method: ``jwt_role``, with the token in
   the environment variable ``id_token_env`` (the name the job's ``id_tokens:`` gives it;
   default ``BAO_ID_TOKEN``), at ``jwt_mount`` (default ``jwt``).  OpenBao checks it against
   GitLab's JWKS (``/oauth/discovery/keys``) and the role's bound audience and claims.

Nothing read here is ever printed.
"""

from __future__ import annotations

from credhelper.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def read_secret_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError as error:
        raise ConfigError("cannot read the OpenBao %s file %s (%s)"
                          % (what, path, error.strerror or error)) from None
    if not value or any(c.isspace() for c in value):
        raise ConfigError("the OpenBao %s file %s does not hold one %s" % (what, path, what))
    return value


def authenticate(client: Any, auth: dict[str, Any]) -> None:
    """Give ``client`` its token: from the token file, else by an AppRole login."""
    if auth.get("token_file"):
        client.token = read_secret_file(str(auth["token_file"]), "token")
        return
    if auth.get("role_id") and auth.get("secret_id_file"):
        secret_id = read_secret_file(str(auth["secret_id_file"]), "secret id")
        client.auth.approle.login(role_id=str(auth["role_id"]), secret_id=secret_id,
                                  mount_point=str(auth.get("approle_mount") or "approle"))
        return
    if auth.get("jwt_role"):
        client.auth.jwt.jwt_login(role=str(auth["jwt_role"]), jwt=id_token(auth),
                                  path=str(auth.get("jwt_mount") or "jwt"))
        return
    raise ConfigError("no way to log in to OpenBao: give --token-file FILE, or --role-id ID "
                      "with --secret-id-file FILE, or --jwt-role ROLE")


DEFAULT_ID_TOKEN_ENV = "BAO_ID_TOKEN"


def id_token(auth: dict[str, Any]) -> str:
    import os

    name = str(auth.get("id_token_env") or DEFAULT_ID_TOKEN_ENV)
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError("no CI ID token in $%s for the OpenBao login (id_tokens: %s: aud: "
                          "... in the job)" % (name, name))
    return value


def auth_options(token_file: str | None, role_id: str | None, secret_id_file: str | None,
                 jwt_role: str | None = None, id_token_env: str | None = None
                 ) -> dict[str, Any]:
    """The ``auth`` part of a fleet link from the command line (files made absolute)."""
    import os

    if token_file:
        return {"token_file": os.path.abspath(token_file)}
    if role_id and secret_id_file:
        return {"role_id": role_id, "secret_id_file": os.path.abspath(secret_id_file)}
    if jwt_role:
        return {"jwt_role": jwt_role, "id_token_env": id_token_env or DEFAULT_ID_TOKEN_ENV}
    raise ConfigError("log in to OpenBao with --token-file FILE, or --role-id ID with "
                      "--secret-id-file FILE, or --jwt-role ROLE (a CI job's ID token)")
