"""`credhelper registries`: each container registry docker-credential-gitlab answers, the
login it gets, and why (a --registry token, the config, a proven convention, the CI job,
docker login).  Never a token."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    registries = commands.add_parser("registries",
                                     help="the container registries served, and why")
    registries.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.registry_service import served_registries
    from credhelper.service import Service

    served = served_registries(Service())
    if not served:
        print("no container registry is served (credhelper add HOST --registry REGISTRY)")
    for registry, (username, why) in sorted(served.items()):
        print("%-32s %-24s %s" % (registry, username, why))
    return 0
