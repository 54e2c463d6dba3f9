"""Package registry URLs: which GitLab host and project or group a URL belongs to.

pip, uv, twine (through keyring), cargo and Terraform name a URL; credhelper answers only for
the package API of a GitLab host it knows, and steps aside for every other URL so the user's
other credentials keep working:

    https://HOST/api/v4/projects/ID/packages/{pypi,npm,maven,nuget,composer,conan,go,
                                            helm,generic,terraform,...}/...
    https://HOST/api/v4/groups/ID/-/packages/...
    https://HOST/api/v4/packages/{npm,terraform,conan,...}/...     (instance level)

ID is a number or a URL-encoded full path; a path becomes the request's path, so tokens
registered with ``--path`` apply to their projects.
"""

from __future__ import annotations

from urllib.parse import unquote

from credhelper.rules.hosts import normalise_path
from credhelper.rules.model import PACKAGES, Request
from credhelper.rules.urls import parse_url

API = "/api/v4/"


def request_for(url: str, operation: str | None = None) -> Request | None:
    """The Request for a package API URL, or None when the URL is not one.  A URL that
    clients could read as another host raises InvalidInput (rules/urls.py)."""
    scheme, _, host, path = parse_url(url)
    if scheme not in ("https", "http") or not path.startswith(API):
        return None
    found, owner = _package_owner(path[len(API):].split("/"))
    if not found:
        return None
    project_path = None
    if owner and not (owner.isascii() and owner.isdigit()):
        project_path = normalise_path(unquote(owner))
    return Request(scheme, host, project_path, username=None, operation=operation,
                   service=PACKAGES)


def _package_owner(segments: list[str]) -> tuple[bool, str | None]:
    """(is this a package route, the project or group id or path in it, if any)."""
    if len(segments) >= 3 and segments[0] == "projects" and segments[2] == "packages":
        return True, segments[1]
    if len(segments) >= 4 and segments[0] == "groups" and segments[2:4] == ["-", "packages"]:
        return True, segments[1]
    return len(segments) >= 2 and segments[0] == "packages", None


def cargo_index_key(index_url: str) -> tuple[str, str, str] | None:
    """``sparse+https://H/path`` -> (scheme, host, the normalised URL ``https://H/path/``)
    for comparing cargo index URLs; None for anything that is not a plain index URL (no
    userinfo, query or fragment)."""
    from credhelper.errors import InvalidInput

    url = index_url[len("sparse+"):] if index_url.startswith("sparse+") else index_url
    if "://" not in url or "?" in url or "#" in url:
        return None
    try:
        scheme, userinfo, host, path = parse_url(url)
    except InvalidInput:
        return None
    if userinfo is not None or scheme not in ("https", "http"):
        return None
    path = path.rstrip("/") + "/"
    return scheme, host, "%s://%s%s" % (scheme, host, path)
