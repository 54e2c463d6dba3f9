"""`credhelper attend`: give every registered token what it needs now (a check, a rotation,
an OAuth refresh, finishing an interrupted rotation), off the git path.  For a systemd user
timer or cron (README, "Rotation off the git path"); exits 1 when a token needs the user."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.common import Commands


def register(commands: Commands) -> None:
    attend = commands.add_parser("attend", help="check, rotate and refresh every token that "
                                 "needs it now (for a systemd timer or cron)")
    attend.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.cli.status import next_action
    from credhelper.rules import freshness
    from credhelper.rules.model import ADDED
    from credhelper.rules.redact import scrub
    from credhelper.service import Service

    service = Service()
    needs_you = 0
    for record in service.tokens.load():
        if record.origin != ADDED:
            continue
        current = record
        if freshness.needs_attention(record, time.time(), service.settings.changed_at()):
            # each token gets a request context (and network budget) of its own
            current = service.keeper().attend(record, service.context()) or record
        if freshness.unusable_reason(current, time.time()):
            needs_you += 1
        print(scrub("%s%s %s: %s" % (current.host, " " + current.path if current.path else "",
                                     current.hint, next_action(current, time.time()))))
    return 1 if needs_you else 0
