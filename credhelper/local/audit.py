"""The audit log: one JSON object per line in ``$XDG_STATE_HOME/credhelper/audit.log`` (0600).

It records what changed a token's life (checks that changed something, rotations with the old
and new server ids and the new expiry, failures), never a secret: only the redacted hint.
Every text in an entry goes through ``redact.scrub`` first: failures quote the server's own
error text, which can echo a token or carry terminal escapes for whoever reads the log.
"""

from __future__ import annotations

import json
import os
import time

from credhelper.local import paths
from credhelper.local.files import PRIVATE_FILE_MODE, ensure_private_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.rules.model import TokenRecord


def record_event(event: str, record: TokenRecord, **details: Any) -> None:
    entry: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event,
        "host": record.host, "kind": record.kind, "token": record.hint,
        "token_id": record.token_id}
    if record.path:
        entry["path"] = record.path
    entry.update(details)
    entry = scrubbed(entry)
    directory = paths.state_dir()
    try:
        ensure_private_dir(directory)
        fd = os.open(os.path.join(directory, "audit.log"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "a") as handle:   # one write() per line: appends do not interleave
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError:
        pass  # the log is a record, not a precondition: never fail a git command over it


def scrubbed(value: Any) -> Any:
    """``value`` with every string in it (keys too) scrubbed."""
    if isinstance(value, str):
        from credhelper.rules.redact import scrub

        return scrub(value)
    if isinstance(value, dict):
        return {scrubbed(key): scrubbed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrubbed(item) for item in value]
    return value


def read_events() -> list[Any]:
    try:
        with open(os.path.join(paths.state_dir(), "audit.log")) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
