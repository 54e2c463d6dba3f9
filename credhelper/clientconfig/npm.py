"""`credhelper npmrc`: npm has no credential helper hook, so give it an ``.npmrc`` that names
an environment variable instead of holding the token.

    @scope:registry=https://HOST/api/v4/projects/ID/packages/npm/
    //HOST/api/v4/projects/ID/packages/npm/:_authToken=${CREDHELPER_NPM_TOKEN}

npm expands ``${VAR}`` when it reads the file; the user exports the variable from
``credhelper token HOST``, so the file itself can be committed or shared.  Writing the token
itself into the file happens only on request (``--literal-token``), and then the file is 0600.
"""

from __future__ import annotations

import os
import re

from credhelper.errors import InvalidInput
from credhelper.local.files import write_private

DEFAULT_VARIABLE = "CREDHELPER_NPM_TOKEN"


def registry_url(host: str, project: str | None = None, group: str | None = None) -> str:
    if project and group:
        raise InvalidInput("--project and --group exclude each other")
    owner = project or group
    if owner is not None and not re.match(r"^[A-Za-z0-9_.\-/%]+$", owner):
        raise InvalidInput("a project or group is its numeric id or its full path")
    encoded = owner.replace("/", "%2F") if owner else None
    if project:
        return "https://%s/api/v4/projects/%s/packages/npm/" % (host, encoded)
    if group:
        return "https://%s/api/v4/groups/%s/-/packages/npm/" % (host, encoded)
    return "https://%s/api/v4/packages/npm/" % host


def lines(url: str, scope: str | None = None, variable: str = DEFAULT_VARIABLE,
          token: str | None = None) -> list[tuple[str, str]]:
    if scope is not None and not re.match(r"^@[a-z0-9][a-z0-9._\-]*$", scope):
        raise InvalidInput("--scope looks like @my-scope")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable):
        raise InvalidInput("--env must be a variable name")
    key = "%s:registry" % scope if scope else "registry"
    auth = url.split(":", 1)[1] + ":_authToken"          # //HOST/path/:_authToken
    return [(key, url), (auth, token if token is not None else "${%s}" % variable)]


def render(entries: list[tuple[str, str]]) -> str:
    return "".join("%s=%s\n" % pair for pair in entries)


def write(path: str, entries: list[tuple[str, str]], holds_token: bool) -> None:
    """Set these keys in the .npmrc at ``path``, keeping every other line; atomically."""
    try:
        with open(path) as handle:
            existing = handle.read().splitlines()
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        existing, mode = [], 0o644
    keys = {key for key, _ in entries}
    kept = [line for line in existing if line.split("=", 1)[0].strip() not in keys]
    text = "\n".join(kept + ["%s=%s" % pair for pair in entries]) + "\n"
    write_private(os.path.abspath(path), text.encode())
    os.chmod(path, 0o600 if holds_token else mode)
