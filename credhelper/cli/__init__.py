"""``credhelper``: the admin commands.  The one place that turns errors into a line for a
person (exit 1 for a user error, 2 for usage), and that never prints a token.

    credhelper login HOST [--browser|--device|--pat] [--client-id ID] [--scopes S] [--no-setup]
    credhelper add HOST [--kind K] [--username U] [--path P] [--expires-at D] [--scopes S]
                        [--registry R] [--api-url URL] [--store keyring|file] [--no-setup]
    credhelper list | status [HOST] [--json|--table] [--refresh] [--check [--quiet]]
    credhelper log [HOST] [--since WHEN] [-n N] [--json] | rotate HOST [--path P]
    credhelper remove HOST [--path P] [--all] [--revoke]
    credhelper logout HOST [--username U] [--path P] [--revoke|--keep]
    credhelper uninstall [--revoke|--keep] [--forget-tokens]
    credhelper setup git [HOST] [--reset-other-helpers] | setup docker [REGISTRY]
    credhelper dpop-gen [--private-key PATH|agent] [--hostname HOST] [--pat-stdin]
    credhelper token HOST | npmrc HOST [--project ID|--group ID] [--print|--remove]
    credhelper npmrc --refresh | goauth [URL]
    credhelper fleet publish|join|show HOST ... (a token shared through OpenBao)
    credhelper doctor | selftest | version | help [COMMAND] | completion bash|zsh|fish | man
    credhelper --version | -V

Each command is a module here with ``register(commands)``, which adds its subparser with
``handler=run``, and ``run(args) -> int``; a new command is one module and one line in
``build_parser``.  Command modules import what they need beyond argparse inside ``run``, so
that ``credhelper --help`` loads no store, no GitLab client and no lifecycle code.
"""

from __future__ import annotations

import sys

from credhelper.cli import (
    add,
    attend,
    completion,
    doctor,
    dpop_gen,
    fleet,
    goauth,
    help_command,
    listing,
    log,
    login,
    logout,
    manpage,
    npmrc,
    registries,
    remove,
    rotate,
    selftest,
    setup,
    status,
    token,
    uninstall,
    version,
)
from credhelper.cli.common import Parser, help_handler
from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("credhelper: interrupted; nothing was changed", file=sys.stderr)
        return 130
    except Exception as error:
        # one line, no traceback; a bug's text is never shown (it could hold a token)
        from credhelper.protocols import refusal

        print(refusal("credhelper", error), file=sys.stderr)
        return error.exit_code if isinstance(error, CredhelperError) else 1


def build_parser() -> Parser:
    parser = Parser(prog="credhelper", description=(
        "Serve the right GitLab token to git (and docker, package managers) per host."))
    parser.set_defaults(handler=help_handler(parser))
    version.add_flag(parser)
    commands = parser.add_subparsers(metavar="COMMAND")
    login.register(commands)
    add.register(commands)
    listing.register(commands)
    status.register(commands)
    log.register(commands)
    rotate.register(commands)
    attend.register(commands)
    remove.register(commands)
    logout.register(commands)
    setup.register(commands)
    doctor.register(commands)
    token.register(commands)
    npmrc.register(commands)
    registries.register(commands)
    fleet.register(commands)
    goauth.register(commands)
    dpop_gen.register(commands)
    selftest.register(commands)
    uninstall.register(commands)
    version.register(commands)
    help_command.register(commands)
    completion.register(commands)
    manpage.register(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
