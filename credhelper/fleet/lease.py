"""The rotation lease in the fleet record: ``{"holder": MACHINE, "until": UNIX_SECONDS}``.

A machine claims it by a check-and-set on the version it read, so of any number of machines
that read one version, one claim succeeds and every other gets ``Conflict``.  The lease lasts
long enough for a rotate call with its fallback (two ``ROTATE_TIMEOUT``s) and the writes
after it; a holder that dies leaves a lease that simply runs out, and the next machine reads
the journal (keeper.py, recovery).

The holder is this machine: its host name and a random id kept in the state directory, so
two HOMEs on one host are two machines, as they are two local stores.
"""

from __future__ import annotations

import os

from credhelper.fleet.store import Conflict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from credhelper.fleet.store import FleetStore, Snapshot

LEASE_SECONDS = 90


def live(snapshot: Snapshot, now: float) -> bool:
    """Does somebody hold the lease right now?"""
    lease = snapshot.lease
    until = lease.get("until") if lease else None
    return isinstance(until, (int, float)) and now < until


def claim(store: FleetStore, snapshot: Snapshot, holder: str, now: float,
          journal: dict[str, Any] | None) -> Snapshot | None:
    """Take the lease (with ``journal`` written in the same version); None: another won."""
    data = snapshot.changed(lease={"holder": holder, "until": int(now + LEASE_SECONDS)},
                            journal=journal)
    try:
        return store.write(data, cas=snapshot.version)
    except Conflict:
        return None


def release(store: FleetStore, snapshot: Snapshot, **fields: Any) -> Snapshot | None:
    """Give the lease back, writing ``fields`` with it; None when the record moved on."""
    try:
        return store.write(snapshot.changed(lease=None, **fields), cas=snapshot.version)
    except Conflict:
        return None


def machine_id() -> str:
    """This machine's name as a lease holder: ``HOSTNAME/RANDOM`` (made once, then kept; the
    same in every process: see ``made_once``)."""
    import socket

    from credhelper.local import paths
    from credhelper.local.files import ensure_private_dir, made_once

    directory = os.path.join(paths.state_dir(), "fleet")
    ensure_private_dir(directory)
    made = made_once(os.path.join(directory, "machine-id"), lambda: (
        "%s/%s\n" % (socket.gethostname()[:64], os.urandom(4).hex())).encode())
    return made.decode("utf-8", "replace").strip()
