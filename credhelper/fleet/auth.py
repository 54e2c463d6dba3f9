"""How a machine logs in to OpenBao, in this order (README, "Fleets"):

1. ``token_file``: a file holding an OpenBao token (0600; an operator's or a provisioned one);
2. AppRole: ``role_id`` and ``secret_id_file`` (the secret id is read from its file at each
   login, so rotating it is a file write), at ``approle_mount`` (default ``approle``).

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
    raise ConfigError("no way to log in to OpenBao: give --token-file FILE, or --role-id ID "
                      "with --secret-id-file FILE")


def auth_options(token_file: str | None, role_id: str | None, secret_id_file: str | None
                 ) -> dict[str, Any]:
    """The ``auth`` part of a fleet link from the command line (files made absolute)."""
    import os

    if token_file:
        return {"token_file": os.path.abspath(token_file)}
    if role_id and secret_id_file:
        return {"role_id": role_id, "secret_id_file": os.path.abspath(secret_id_file)}
    raise ConfigError("log in to OpenBao with --token-file FILE, or --role-id ID with "
                      "--secret-id-file FILE")
