"""`credhelper npmrc`: npm has no credential helper hook, so the token goes into npm's user
config (``~/.npmrc``, 0600), bound to the registry's URL:

    @scope:registry=https://HOST/api/v4/projects/ID/packages/npm/
    //HOST/api/v4/projects/ID/packages/npm/:_authToken=TOKEN

npm sends a ``//HOST/path/:_authToken`` only with requests to URLs under that prefix, port
included, so npm itself keeps the token to its registry.  What it must never be is an
environment variable (``_authToken=${VAR}``): any cloned repository's own ``.npmrc`` can name
a variable for a registry of its choosing, and every install script reads the environment.
The user config is where npm reads it from (npm's docs, "npmrc": ``$HOME/.npmrc``, or the
``userconfig`` setting from the environment); a project's ``.npmrc`` is a file of the project,
and may be committed.

The file is someone else's (the user's, edited by hand and by ``npm config set``): every line
that is not ours stays as it is, the rewrite is atomic, and a symbolic link is refused rather
than followed (its target may be a dotfiles repository) or replaced.
"""

from __future__ import annotations

import os
import re

from credhelper.errors import CredhelperError, InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

AUTH_SUFFIX = ":_authToken"
# what a value in npm's ini format carries unquoted: no ';' or '#' (comments), no quotes,
# no blanks, and no CR/LF that would start a line of its own
_INI_VALUE = re.compile(r"^[A-Za-z0-9._~+/=-]+$")


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


def registry_key(scope: str | None) -> str:
    if scope is not None and not re.match(r"^@[a-z0-9][a-z0-9._\-]*$", scope):
        raise InvalidInput("--scope looks like @my-scope")
    return "%s:registry" % scope if scope else "registry"


def auth_key(url: str) -> str:
    """npm's key for a registry's token: the URL without its scheme (``//HOST/path/``)."""
    return url.split(":", 1)[1] + AUTH_SUFFIX


def checked_token(token: str) -> str:
    if not _INI_VALUE.match(token):
        raise CredhelperError("this token has characters .npmrc cannot hold; it was not written")
    return token


def userconfig() -> str:
    """npm's user config file: ``userconfig`` from the environment (npm reads its
    ``npm_config_*`` variables in any case), else ``~/.npmrc``."""
    for name, value in os.environ.items():
        if name.lower() == "npm_config_userconfig" and value:
            return os.path.abspath(os.path.expanduser(value))
    return os.path.join(os.path.expanduser("~"), ".npmrc")


def key_of(line: str) -> str | None:
    """The key a line of an .npmrc sets, or None (a comment, a section, a blank line)."""
    text = line.strip()
    if not text or text[0] in ";#[" or "=" not in text:
        return None
    return text.split("=", 1)[0].strip()


def value_of(line: str) -> str:
    return line.split("=", 1)[1].strip()


def read_lines(path: str) -> list[str]:
    try:
        if os.path.islink(path):
            raise CredhelperError("%s is a symbolic link; credhelper writes a token only into a "
                                  "regular file (replace the link with a copy, or set "
                                  "NPM_CONFIG_USERCONFIG to a file of its own)" % path)
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise CredhelperError("cannot read %s: %s" % (path, _reason(error))) from None


def with_entries(lines: list[str], entries: list[tuple[str, str]]) -> list[str]:
    """``lines`` with each key set once: in place of its first line, else before the first
    ``[section]`` (a key below one would belong to it), else at the end."""
    values = dict(entries)
    out: list[str] = []
    for line in lines:
        key = key_of(line)
        if key not in values:
            out.append(line)
        elif key not in {key_of(kept) for kept in out}:
            out.append("%s=%s" % (key, values[key]))
    missing = ["%s=%s" % pair for pair in entries if pair[0] not in {key_of(x) for x in out}]
    section = next((i for i, line in enumerate(out) if line.strip().startswith("[")), len(out))
    return out[:section] + missing + out[section:]


def without(lines: list[str], drop: Callable[[str, str], bool]) -> list[str]:
    """``lines`` without those whose (key, value) ``drop`` picks."""
    return [line for line in lines
            if (key := key_of(line)) is None or not drop(key, value_of(line))]


def write_lines(path: str, lines: list[str]) -> None:
    """Replace ``path`` with ``lines``, atomically, 0600 (it holds a token).  Written here,
    not with local/files.py's write_private: that one is for credhelper's own directories,
    and tightens the directory it writes in, which here is the user's home."""
    import tempfile

    directory = os.path.dirname(path)
    read_lines(path)            # refuses a symbolic link, as a reader of it would
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".npmrc.credhelper-")   # 0600
    except OSError as error:
        raise CredhelperError("cannot write %s: %s" % (path, _reason(error))) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or type(error).__name__


def token_urls(lines: list[str]) -> list[str]:
    """The registry URLs (``https://HOST/path/``) that ``lines`` hold a token for."""
    return ["https:" + key[:-len(AUTH_SUFFIX)] for line in lines
            if (key := key_of(line)) and key.startswith("//") and key.endswith(AUTH_SUFFIX)]
