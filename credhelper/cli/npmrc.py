"""`credhelper npmrc HOST`: put the token for a GitLab npm registry into npm's user config,
bound to that registry's URL (clientconfig/npm.py says why there and not in a variable);
``--print`` shows the lines without the token, ``--remove`` takes them out, ``--refresh``
puts the current token into every GitLab entry after a rotation."""

from __future__ import annotations

import argparse
import os
import sys

from credhelper.cli.common import package_token
from credhelper.errors import CredhelperError, InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.cli.common import Commands

# Options of the old variable-based flow: a variable named by the user is still read by every
# repository's .npmrc that names it and by every install script, so they are gone.
_REMOVED = ("--env", "--write", "--literal-token")


def register(commands: Commands) -> None:
    npmrc = commands.add_parser("npmrc", help="put the token for a GitLab npm registry into "
                                "npm's user config (~/.npmrc, 0600), bound to that registry")
    npmrc.add_argument("host", nargs="?", metavar="HOST")
    where = npmrc.add_mutually_exclusive_group()
    where.add_argument("--project", metavar="ID", help="numeric id or full path")
    where.add_argument("--group", metavar="ID", help="numeric id or full path")
    npmrc.add_argument("--scope", metavar="@SCOPE", help="only packages of this scope")
    action = npmrc.add_mutually_exclusive_group()
    action.add_argument("--print", action="store_true",
                        help="only show the lines (without the token); change nothing")
    action.add_argument("--remove", action="store_true", help="take the lines out again")
    action.add_argument("--refresh", action="store_true",
                        help="put the current token into every GitLab registry entry "
                        "(after a rotation); no HOST")
    for option in ("--env", "--write"):
        npmrc.add_argument(option, dest=_dest(option), help=argparse.SUPPRESS)
    npmrc.add_argument("--literal-token", dest=_dest("--literal-token"), action="store_true",
                       help=argparse.SUPPRESS)
    npmrc.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.clientconfig import npm

    _refuse_removed_options(args)
    if args.refresh:
        if args.host or args.project or args.group or args.scope:
            raise InvalidInput("--refresh takes no HOST and no --project, --group or --scope")
        return refresh(npm.userconfig())
    if not args.host:
        raise InvalidInput("which GitLab host? credhelper npmrc HOST [--project ID]")
    from credhelper import accounts

    host = accounts.host_argument(args.host)
    url = npm.registry_url(host, args.project, args.group)
    key, path = npm.registry_key(args.scope), npm.userconfig()
    if args.print:
        sys.stdout.write("%s=%s\n%s=<the token>\n" % (key, url, npm.auth_key(url)))
        print("credhelper npmrc %s (without --print) writes these into %s with the token"
              % (host, path), file=sys.stderr)
    elif args.remove:
        remove(path, key, url)
    else:
        lines = npm.read_lines(path)          # a file it refuses stops us before the token
        entries = [(key, url), (npm.auth_key(url), npm.checked_token(package_token(host)))]
        npm.write_lines(path, npm.with_entries(lines, entries))
        print("set %s and %s in %s (0600); npm sends the token only to %s..."
              % (key, npm.auth_key(url), path, url))
    _warn_about_the_old_variable()
    return 0


def remove(path: str, key: str, url: str) -> None:
    """Take out the token for ``url``, and ``key`` if it names that registry."""
    from credhelper.clientconfig import npm

    lines = npm.read_lines(path)
    auth = npm.auth_key(url)
    kept = npm.without(lines, lambda k, v: k == auth or (k == key and v == url))
    if kept == lines:
        print("%s holds no entry for %s" % (path, url))
        return
    npm.write_lines(path, kept)
    print("removed %s from %s" % (auth, path))


def refresh(path: str) -> int:
    """Every GitLab entry of a host credhelper knows gets the token credhelper would serve for
    that URL now; an entry with no usable token is named, and left for the user to decide."""
    from credhelper.clientconfig import npm
    from credhelper.rules.package_urls import request_for
    from credhelper.service import Service

    service, lines = Service(), npm.read_lines(path)
    updates, stale = [], []
    for url in npm.token_urls(lines):
        request = request_for(url)
        if request is None or not service.manages(request.host):
            continue
        found = service.lookup(request)
        if found is None:
            stale.append(url)
        else:
            updates.append((npm.auth_key(url), npm.checked_token(found.secret)))
    if updates:
        npm.write_lines(path, npm.with_entries(lines, updates))
    print("refreshed %d npm registry token(s) in %s" % (len(updates), path))
    for url in stale:
        print("no usable token for %s; its entry in %s is unchanged (take it out: credhelper "
              "npmrc HOST [--project ID | --group ID] --remove)" % (url, path), file=sys.stderr)
    return 1 if stale else 0


def forget_tokens(secrets: set[str]) -> None:
    """After `credhelper remove`: take out of npm's user config every entry holding one of
    these (now forgotten) tokens.  The token was already removed; a file that cannot be
    changed is one line, not a failure of the removal."""
    from credhelper.clientconfig import npm

    path = npm.userconfig()
    try:
        lines = npm.read_lines(path)
        kept = npm.without(lines, lambda key, value: key.endswith(npm.AUTH_SUFFIX)
                           and value in secrets)
        if kept != lines:
            npm.write_lines(path, kept)
            print("removed its npm registry entry from %s" % path)
    except CredhelperError as error:
        print("credhelper: %s still holds the token: %s" % (path, error), file=sys.stderr)


def _refuse_removed_options(args: argparse.Namespace) -> None:
    for option in _REMOVED:
        if getattr(args, _dest(option)) not in (None, False):
            raise CredhelperError(
                "%s is gone: a token in a variable or a project's .npmrc reaches other "
                "registries and install scripts; credhelper npmrc HOST now writes it into npm's "
                "user config (another file: NPM_CONFIG_USERCONFIG=FILE)" % option)


def _dest(option: str) -> str:
    return "removed_" + option[2:].replace("-", "_")


def _warn_about_the_old_variable() -> None:
    if os.environ.get("CREDHELPER_NPM_TOKEN"):
        print("CREDHELPER_NPM_TOKEN is set in this shell: unset it and drop its export, any "
              "repository's .npmrc can send it elsewhere", file=sys.stderr)
