"""``credhelper``: the admin commands.  The one place that turns errors into a line for a
person (exit 1 for a user error, 2 for usage), and that never prints a token.

    credhelper add HOST [--kind K] [--username U] [--path P] [--expires-at D] [--scopes S]
                        [--registry R] [--api-url URL] [--store keyring|file]
    credhelper list | status [HOST] [--json] [--refresh] | rotate HOST [--path P]
    credhelper remove HOST [--path P] [--all] [--revoke]
    credhelper setup git [HOST] [--reset-other-helpers] | setup docker [REGISTRY]
    credhelper dpop-gen [--private-key PATH|agent] [--hostname HOST] [--pat-stdin]
    credhelper token HOST | npmrc HOST [--project ID|--group ID] [--write FILE] | goauth [URL]
    credhelper doctor | selftest | version
"""

import argparse
import json
import os
import sys
import time

from credhelper import __version__
from credhelper.errors import CredhelperError, InvalidInput
from credhelper.rules.model import KIND_NAMES
from credhelper.rules.redact import scrub


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except CredhelperError as error:
        print("credhelper: %s" % scrub(str(error)), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("credhelper: interrupted; nothing was changed", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: one line, no traceback (it could hold a token)
        if os.environ.get("CREDHELPER_DEBUG"):
            raise
        print("credhelper: internal error (%s): %s; set CREDHELPER_DEBUG=1 for details"
              % (error.__class__.__name__, scrub(str(error))[:300]), file=sys.stderr)
        return 1


class _Parser(argparse.ArgumentParser):
    """argparse echoes unknown arguments in its errors; someone may paste a token there."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, "%s: error: %s\n" % (self.prog, scrub(message)))


def build_parser():
    parser = _Parser(prog="credhelper", description=(
        "Serve the right GitLab token to git (and docker, package managers) per host."))
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)
    commands = parser.add_subparsers(metavar="COMMAND")

    add = commands.add_parser("add", help="register a token for a host (token on stdin or "
                              "typed at a hidden prompt, never as an argument)")
    add.add_argument("host", metavar="HOST", help="e.g. gitlab.example.com or host:port")
    add.add_argument("--kind", choices=("pat", "deploy", "oauth", "job"),
                     help="default: guessed from the prefix (glpat-, gldt-, glcbt-)")
    add.add_argument("--username", help="login name (required for deploy tokens)")
    add.add_argument("--path", metavar="PREFIX",
                     help="only for projects under this group/project path")
    add.add_argument("--expires-at", metavar="YYYY-MM-DD")
    add.add_argument("--scopes", metavar="LIST", help="e.g. read_repository,write_repository")
    add.add_argument("--registry", metavar="REGISTRY_HOST",
                     help="container registry served with this token")
    add.add_argument("--api-url", metavar="URL", help="default https://HOST/api/v4")
    add.add_argument("--store", choices=("keyring", "file"),
                     help="default: the config's store (auto: keyring when usable, else file)")
    add.add_argument("--refresh-token", action="store_true",
                     help="OAuth: a refresh token follows the access token (second line of "
                     "stdin, or a second prompt); needs --client-id")
    add.add_argument("--client-id", metavar="ID", help="OAuth application id, for refreshing")
    add.add_argument("--dpop-key", metavar="PATH|agent",
                     help="the token is DPoP-bound: sign every API call's proof with this SSH "
                     "key (a private key file, KEY.pub held by ssh-agent, or agent)")
    add.add_argument("--no-check", action="store_true",
                     help="do not ask the server about the token now (it is checked on first use)")
    add.set_defaults(handler=cmd_add)

    listing = commands.add_parser("list", help="one line per registered token")
    listing.set_defaults(handler=cmd_list)

    status = commands.add_parser("status", help="table of tokens: kind, scopes, expiry, store")
    status.add_argument("host", nargs="?", metavar="HOST")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--refresh", action="store_true",
                        help="ask the server about every token now")
    status.set_defaults(handler=cmd_status)

    rotate = commands.add_parser("rotate", help="rotate a personal, project or group access "
                                 "token now (or refresh an OAuth token)")
    rotate.add_argument("host", metavar="HOST")
    rotate.add_argument("--path", metavar="PREFIX")
    rotate.set_defaults(handler=cmd_rotate)

    remove = commands.add_parser("remove", help="forget a token (secret and metadata)")
    remove.add_argument("host", metavar="HOST")
    remove.add_argument("--path", metavar="PREFIX")
    remove.add_argument("--kind", choices=("pat", "deploy", "oauth", "job"))
    remove.add_argument("--username")
    remove.add_argument("--all", action="store_true", help="every token of HOST, any path")
    remove.add_argument("--revoke", action="store_true",
                        help="revoke the token on the server first (personal access tokens)")
    remove.set_defaults(handler=cmd_remove)

    setup = commands.add_parser("setup", help="configure a client to use credhelper")
    setup_targets = setup.add_subparsers(metavar="CLIENT")
    setup_git = setup_targets.add_parser("git", help="set credential.https://HOST.helper")
    setup_git.add_argument("host", nargs="?", metavar="HOST",
                           help="default: every host with a registered token")
    setup_git.add_argument("--reset-other-helpers", action="store_true",
                           help="make credhelper the only helper git asks for HOST")
    setup_git.set_defaults(handler=cmd_setup_git)
    setup_docker = setup_targets.add_parser(
        "docker", help="add credHelpers entries to $DOCKER_CONFIG/config.json (docker, podman, "
        "skopeo)")
    setup_docker.add_argument("registry", nargs="?", metavar="REGISTRY",
                              help="default: every registry credhelper serves")
    setup_docker.set_defaults(handler=cmd_setup_docker)
    setup.set_defaults(handler=lambda args: setup.print_help() or 2)

    doctor = commands.add_parser("doctor", help="check the installation and configuration")
    doctor.set_defaults(handler=cmd_doctor)

    token = commands.add_parser("token", help="print the token credhelper would use for HOST "
                                "(for scripts and environment variables; it is a secret)")
    token.add_argument("host", metavar="HOST")
    token.add_argument("--path", metavar="PREFIX", help="a project or group path")
    token.set_defaults(handler=cmd_token)

    npmrc = commands.add_parser("npmrc", help="print (or write) .npmrc lines for a GitLab npm "
                                "registry, naming an environment variable for the token")
    npmrc.add_argument("host", metavar="HOST")
    where = npmrc.add_mutually_exclusive_group()
    where.add_argument("--project", metavar="ID", help="numeric id or full path")
    where.add_argument("--group", metavar="ID", help="numeric id or full path")
    npmrc.add_argument("--scope", metavar="@SCOPE", help="only packages of this scope")
    npmrc.add_argument("--env", default="CREDHELPER_NPM_TOKEN", metavar="NAME",
                       help="the environment variable npm reads the token from")
    npmrc.add_argument("--write", metavar="FILE", help="set the lines in FILE (atomically)")
    npmrc.add_argument("--literal-token", action="store_true",
                       help="put the token itself in the file (0600) instead of ${NAME}")
    npmrc.set_defaults(handler=cmd_npmrc)

    goauth = commands.add_parser("goauth", help="Go's GOAUTH command: GOAUTH='credhelper goauth'")
    goauth.add_argument("url", nargs="*", metavar="URL")
    goauth.set_defaults(handler=lambda args: _goauth(args.url))

    dpop = commands.add_parser("dpop-gen", help="print one DPoP proof JWT for a token "
                               "(and nothing else)")
    dpop.add_argument("--private-key", metavar="PATH|agent",
                      help="default: the token's --dpop-key, else ssh-agent, else ~/.ssh/id_rsa")
    dpop.add_argument("--hostname", default="gitlab.com", metavar="HOST")
    dpop.add_argument("--pat-stdin", action="store_true",
                      help="read the token from stdin instead of using the registered one")
    dpop.add_argument("--method", default="GET", help="htm claim (default GET)")
    dpop.add_argument("--url", help="htu claim (default https://HOST/api/v4/user)")
    dpop.set_defaults(handler=cmd_dpop_gen)

    selftest = commands.add_parser("selftest", help="clone and push through the helper from "
                                   "a local fake GitLab (touches nothing of yours)")
    selftest.set_defaults(handler=lambda args: _selftest())

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=lambda args: print("credhelper", __version__))
    return parser


def cmd_add(args):
    from credhelper import accounts as admin
    from credhelper.service import Service

    host = admin.host_argument(args.host)
    if args.refresh_token and not args.client_id:
        raise CredhelperError("--refresh-token needs --client-id (the OAuth application's id)")
    if args.refresh_token and args.kind != "oauth":
        raise CredhelperError("--refresh-token is for --kind oauth")
    lines = read_secret("Token for %s: " % host, 2 if args.refresh_token else 1)
    token = admin.check_token(lines[0])
    refresh_token = admin.check_token(lines[1]) if args.refresh_token else None
    service = Service()
    from credhelper.rules.dates import date_from_days

    record = admin.build_record(host, token, args.kind, args.username, args.path,
                                args.expires_at, args.registry, args.api_url, args.scopes,
                                today=date_from_days(int(time.time() // 86400)),
                                client_id=args.client_id)
    if args.dpop_key:
        record = record.replace(dpop_key=admin.dpop_key_spec(args.dpop_key, record.kind))
    if not args.no_check:
        record = admin.inspect(service, record, token)
    record, replaced = admin.add_token(service, record, token, args.store, refresh_token)
    where = record.store + (" (%s)" % record.extra["backend"] if record.extra.get("backend")
                            else "")
    print("%s %s %s for %s%s as %s, in the %s store" % (
        "Replaced" if replaced else "Added", KIND_NAMES[record.kind], record.hint, host,
        " (path %s)" % record.path if record.path else "", record.login_name(), where))
    if record.checked_at:
        print("The server says: scopes %s, %s" % (
            ",".join(record.scopes or []) or "none",
            "expires on %s" % record.expires_at if record.expires_at else "no expiry"))
    from credhelper.clientconfig import git as gitconfig

    if not gitconfig.helpers_for(host):
        print("Next: credhelper setup git %s" % host)
    return 0


def cmd_list(args):
    from credhelper.local.token_index import TokenIndex

    for record in TokenIndex().load():
        print("%-28s %-7s %-24s %-20s %s" % (record.host, record.kind, record.login_name(),
                                             record.path or "-", record.hint))
    return 0


def cmd_status(args):
    from credhelper import accounts as admin
    from credhelper.local.token_index import TokenIndex

    now = time.time()
    if args.refresh:
        from credhelper.service import Service

        service = Service()
        for record in service.tokens.load():
            if record.origin == "added":   # each token gets a request context of its own
                service.keeper().attend(record, service.context(), force_check=True)
    records = TokenIndex().load()
    if args.host:
        host = admin.host_argument(args.host)
        records = [r for r in records if r.host == host]
    rows = [admin.describe(r, now) for r in records]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No tokens registered%s. Add one: credhelper add HOST"
              % (" for " + args.host if args.host else ""))
        return 0
    header = ("HOST", "KIND", "USERNAME", "PATH", "SCOPES", "EXPIRES", "STORE", "TOKEN", "STATE")
    table = [header] + [(
        row["host"], row["kind"], row["username"], row["path"] or "-",
        ",".join(row["scopes"]) if row["scopes"] else "?",
        "%s (%sd)" % (row["expires_at"], row["days_left"]) if row["expires_at"] else "never",
        row["store"], row["token"], row["state"]) for row in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


def cmd_remove(args):
    from credhelper import accounts as admin
    from credhelper.service import Service

    service = Service()
    host = admin.host_argument(args.host)
    chosen = admin.select(service.tokens.load(), host, args.path, args.kind, args.username,
                          every=args.all)
    if not chosen:
        others = [r for r in service.tokens.load() if r.host == host]
        hint = "; registered there: %s" % ", ".join(
            "--path %s" % r.path if r.path else "(no path)" for r in others) if others else ""
        raise CredhelperError("no matching token for %s%s" % (host, hint))
    if args.revoke:
        for record in chosen:
            admin.revoke(service, record)
    service.forget(chosen)
    for record in chosen:
        print("Removed %s %s for %s%s" % (KIND_NAMES[record.kind], record.hint, host,
                                         " (path %s)" % record.path if record.path else ""))
    return 0


def cmd_rotate(args):
    from credhelper import accounts as admin
    from credhelper.service import Service

    service = Service()
    host = admin.host_argument(args.host)
    chosen = [r for r in admin.select(service.tokens.load(), host, args.path)
              if r.kind in ("pat", "oauth") and r.origin == "added"]
    if not chosen:
        raise CredhelperError("no access or OAuth token registered for %s%s"
                              % (host, " --path " + args.path if args.path else ""))
    for record in chosen:
        new = service.keeper().rotate_now(record, service.context())
        if new is None or new.id == record.id:
            from credhelper.lifecycle.explain import explain_unusable
            from credhelper.rules.freshness import unusable_reason

            reason = new and unusable_reason(new, time.time())
            raise CredhelperError(explain_unusable(new, reason) if reason else
                                  "the %s for %s was not rotated" % (KIND_NAMES[record.kind],
                                                                      host))
        print("Rotated %s %s -> %s for %s, valid until %s" % (
            KIND_NAMES[record.kind], record.hint, new.hint, host, new.expires_at or "-"))
    return 0


def cmd_setup_git(args):
    from credhelper import accounts as admin
    from credhelper.clientconfig import git as gitconfig
    from credhelper.local.token_index import TokenIndex

    records = TokenIndex().load()
    if args.host:
        hosts = [admin.host_argument(args.host)]
    else:
        hosts = sorted({r.host for r in records})
        if not hosts:
            raise InvalidInput("no tokens registered yet: credhelper add HOST first, "
                               "or name a HOST")
    for host in hosts:
        by_path = any(r.host == host and r.path for r in records)
        changes = gitconfig.configure(host, args.reset_other_helpers, use_http_path=by_path)
        print("%s: %s" % (host, "; ".join(changes) if changes else "already set up"))
    return 0


def cmd_setup_docker(args):
    from credhelper.clientconfig import docker as dockerconfig
    from credhelper.rules import container_registries
    from credhelper.service import Service

    if args.registry:
        wanted = [container_registries.parse_server_url(args.registry)[1]]
    else:
        service = Service()
        from credhelper.registry_service import list_registries

        wanted = sorted(list_registries(service))
        if not wanted:
            raise CredhelperError("no registry known yet: add a token with --registry "
                                  "REGISTRY, or name the registry here")
    changes = dockerconfig.configure(wanted)
    print("%s: %s" % (dockerconfig.config_path(), "; ".join(changes) if changes
                      else "already set up for " + ", ".join(wanted)))
    return 0


def cmd_doctor(args):
    from credhelper.cli import doctor

    lines, problems = doctor.run()
    for line in lines:
        print(line)
    for problem in problems:
        print("problem: %s" % scrub(problem))
    print("ok" if not problems else "%d problem(s)" % len(problems))
    return 1 if problems else 0


def _package_token(host, path=None):
    from credhelper.rules.model import PACKAGES, Request
    from credhelper.service import Service

    found = Service().lookup(Request("https", host, path, service=PACKAGES))
    if found is None:
        raise CredhelperError("no usable token for %s; add one: credhelper add %s" % (host, host))
    return found.secret


def cmd_token(args):
    from credhelper import accounts as admin
    from credhelper.rules.hosts import normalise_path

    print(_package_token(admin.host_argument(args.host), normalise_path(args.path)))
    return 0


def cmd_npmrc(args):
    from credhelper import accounts as admin
    from credhelper.clientconfig import npm as npmrc

    host = admin.host_argument(args.host)
    url = npmrc.registry_url(host, args.project, args.group)
    token = _package_token(host) if args.literal_token else None
    entries = npmrc.lines(url, args.scope, args.env, token)
    if args.write:
        npmrc.write(args.write, entries, holds_token=token is not None)
        print("wrote %s to %s" % (", ".join(key for key, _ in entries), args.write))
    elif token is not None:
        raise CredhelperError("--literal-token only with --write FILE (never on the terminal)")
    else:
        sys.stdout.write(npmrc.render(entries))
    if token is None:
        print("npm reads the token from $%s: export %s=\"$(credhelper token %s)\""
              % (args.env, args.env, host), file=sys.stderr)
    return 0


def _goauth(urls):
    from credhelper.protocols import goauth

    return goauth.main(urls)


def cmd_dpop_gen(args):
    from credhelper import accounts as admin
    from credhelper.gitlab import sshkeys
    from credhelper.gitlab.dpop import make_proof
    from credhelper.service import Service

    service = Service()
    host = admin.host_argument(args.hostname)
    record = admin.dpop_record(service, host)
    if args.pat_stdin:
        token = admin.check_token(read_secret("Token: ")[0])
    else:
        if record is None:
            raise CredhelperError("no access token registered for %s; add one, or pass "
                                  "--pat-stdin" % host)
        token = service.secret(record)
        if not token:
            raise CredhelperError("the token for %s is missing from its store" % host)
    spec = args.private_key or (record.dpop_key if record else None) or (
        "agent" if os.environ.get("SSH_AUTH_SOCK") else "~/.ssh/id_rsa")
    key = sshkeys.load(spec)
    if not key.is_rsa:
        print("credhelper: %s makes %s proofs; GitLab accepts RS512 (RSA keys) only today"
              % (key.description, key.algorithm), file=sys.stderr)
    url = args.url or "https://%s/api/v4/user" % host
    print(make_proof(key, token, args.method, url, time.time()))
    return 0


def _selftest():
    from credhelper import selftest

    selftest.run()
    return 0


def read_secret(prompt, count=1):
    """``count`` secrets: lines of stdin when it is piped, else no-echo prompts.  Never argv."""
    if sys.stdin is None or not sys.stdin.isatty():
        data = sys.stdin.read(65536) if sys.stdin else ""
        lines = [line.strip() for line in data.splitlines() if line.strip()]
        return (lines + [""] * count)[:count]
    import getpass

    prompts = [prompt] + ["Refresh token: "] * (count - 1)
    return [getpass.getpass(text).strip() for text in prompts]


if __name__ == "__main__":
    sys.exit(main())
