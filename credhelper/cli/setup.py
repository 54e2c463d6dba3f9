"""`credhelper setup git [HOST]` and `credhelper setup docker [REGISTRY]`: point a client's
configuration at credhelper."""

from __future__ import annotations

from credhelper.cli.common import help_handler
from credhelper.errors import CredhelperError, InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    setup = commands.add_parser("setup", help="configure a client to use credhelper")
    setup_targets = setup.add_subparsers(metavar="CLIENT", dest="client")
    setup_git = setup_targets.add_parser("git", help="set credential.https://HOST.helper")
    setup_git.add_argument("host", nargs="?", metavar="HOST",
                           help="default: every host with a registered token")
    # credhelper is always made the only helper for its hosts (clientconfig/git.py says
    # why); the option stays for the scripts and documents that name it
    setup_git.add_argument("--reset-other-helpers", action="store_true",
                           help="accepted for compatibility: credhelper is always made the "
                           "only helper git asks for HOST")
    setup_git.set_defaults(handler=run)
    setup_docker = setup_targets.add_parser(
        "docker", help="add credHelpers entries to $DOCKER_CONFIG/config.json (docker, podman, "
        "skopeo)")
    setup_docker.add_argument("registry", nargs="?", metavar="REGISTRY",
                              help="default: every registry credhelper serves")
    setup_docker.set_defaults(handler=run)
    setup.set_defaults(handler=help_handler(setup))


def run(args: argparse.Namespace) -> int:
    return setup_git(args) if args.client == "git" else setup_docker(args)


def setup_git(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.clientconfig import git as gitconfig
    from credhelper.local.token_index import TokenIndex

    records = TokenIndex().load()
    if args.host:
        hosts = [accounts.host_argument(args.host)]
    else:
        hosts = sorted({r.host for r in records})
        if not hosts:
            raise InvalidInput("no tokens registered yet: credhelper add HOST first, "
                               "or name a HOST")
    for host in hosts:
        by_path = any(r.host == host and r.path for r in records)
        changes = gitconfig.configure(host, use_http_path=by_path)
        print("%s: %s" % (host, "; ".join(changes) if changes else "already set up"))
    return 0


def setup_docker(args: argparse.Namespace) -> int:
    from credhelper.clientconfig import docker as dockerconfig
    from credhelper.rules import container_registries

    if args.registry:
        wanted = [container_registries.parse_server_url(args.registry)[1]]
    else:
        from credhelper.registry_service import list_registries
        from credhelper.service import Service

        wanted = sorted(list_registries(Service()))
        if not wanted:
            raise CredhelperError("no registry known yet: add a token with --registry "
                                  "REGISTRY, or name the registry here")
    changes = dockerconfig.configure(wanted)
    print("%s: %s" % (dockerconfig.config_path(), "; ".join(changes) if changes
                      else "already set up for " + ", ".join(wanted)))
    return 0
