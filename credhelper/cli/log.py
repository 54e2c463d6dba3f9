"""`credhelper log [HOST] [--since WHEN] [-n N] [--json]`: the audit log (local/audit.py) for
people, one line per event in local time; ``--json`` prints the events as JSON lines for
scripts.  IDEs hide the helper's stderr, so this is where a rotation, a refusal or a failure
that happened under an IDE's git can be read afterwards (README, "Troubleshooting").

The log quotes servers' error text: every string is scrubbed again on the way out (an entry
written by an older version, or edited, must not act on the terminal or show a secret), and a
line that is no JSON object is skipped rather than fail the command.
"""

from __future__ import annotations

import time

from credhelper.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from credhelper.cli.common import Commands

# Fields every entry has, shown in columns of their own; the rest are the event's details.
_FIXED = ("time", "event", "host", "path", "kind", "token", "token_id")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def register(commands: Commands) -> None:
    log = commands.add_parser("log", help="the audit log: rotations, refreshes, refusals, "
                              "failures (the helper's stderr is hidden in IDEs)")
    log.add_argument("host", nargs="?", metavar="HOST", help="only this host's events")
    log.add_argument("--since", metavar="WHEN",
                     help="only events since WHEN: 2026-11-30, 2026-11-30T08:00 (UTC), or "
                     "an age like 30m, 12h, 3d, 2w")
    log.add_argument("-n", "--lines", type=int, metavar="N", help="only the last N events")
    log.add_argument("--json", action="store_true", help="JSON lines, for scripts")
    log.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json

    events = _chosen(_read(), args)
    if args.json:   # ensure_ascii: control characters are escaped, never raw
        for event in events:
            print(json.dumps(event, sort_keys=True))
    elif not events:
        from credhelper.rules.redact import scrub

        print(scrub("No events%s. credhelper records rotations, refreshes, refusals and "
                    "failures here." % (" for " + args.host if args.host else "")))
    else:
        for event in events:
            print(line(event))
    return 0


def _read() -> list[dict[str, Any]]:
    """Every well-formed entry of the audit log, oldest first, scrubbed."""
    import json
    import os

    from credhelper.local import paths
    from credhelper.local.audit import scrubbed

    try:
        with open(os.path.join(paths.state_dir(), "audit.log"), errors="replace") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    events = []
    for text in lines:
        try:
            entry = json.loads(text)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("time"), str):
            events.append(scrubbed(entry))
    return events


def _chosen(events: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.host:
        from credhelper.accounts import host_argument

        host = host_argument(args.host)
        events = [e for e in events if e.get("host") == host]
    if args.since:
        since = since_seconds(args.since, time.time())
        events = [e for e in events if (_seconds(e["time"]) or 0) >= since]
    return events if args.lines is None else _last(events, args.lines)


def _last(events: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    if count < 0:
        raise InvalidInput("-n takes a count of events, 0 or more")
    return events[len(events) - count:] if count else []


def since_seconds(text: str, now: float) -> float:
    """``--since``: an age (``12h``) before ``now``, or a UTC date or date and time."""
    import calendar

    text = text.strip()
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return now - int(text[:-1]) * _UNITS[text[-1]]
    for shape in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return calendar.timegm(time.strptime(text, shape))
        except ValueError:
            continue
    raise InvalidInput("--since takes a date (2026-11-30), a UTC time (2026-11-30T08:00) or an "
                       "age (30m, 12h, 3d, 2w)")


def _seconds(stamp: str) -> float | None:
    import calendar

    try:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def line(event: dict[str, Any]) -> str:
    """``2026-12-01 17:20:05 CET  gitlab.example.com  glpat-…0001  rotated  new_token_id=12``:
    local time, host (and path), token hint, event, then its reason and other details."""
    from credhelper.rules.redact import scrub

    at = _seconds(event["time"])
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(at)) if at else event["time"]
    where = str(event.get("host", "?")) + (" " + str(event["path"]) if event.get("path") else "")
    details = ["%s: %s" % (key, event[key]) for key in ("reason", "error") if key in event]
    details += ["%s=%s" % (key, _flat(value)) for key, value in sorted(event.items())
                if key not in _FIXED and key not in ("reason", "error")]
    return scrub("  ".join([when, where, str(event.get("token") or "-"),
                            str(event.get("event", "?"))] + (["; ".join(details)]
                                                             if details else [])))


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return ",".join("%s:%s" % item for item in sorted(value.items()))
    return str(value)
