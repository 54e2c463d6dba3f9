"""Fleets: one token shared by many machines, kept in OpenBao (issue 14).

A shared token's facts and secret live in one KV v2 record (store.py); every write is a
check-and-set on the version read, so of many machines that find the token due exactly one
wins the lease (lease.py) and rotates it (keeper.py); the others follow the new version.
Each machine keeps its local copy, with the version it came from, in its own store: the
``get`` hot path never talks to OpenBao, and nothing here is imported on it.

A local record is shared when its ``extra`` holds ``fleet`` (the link: address, mount, path,
authentication, version); ``is_shared`` is the one test of that.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import TokenRecord

LINK = "fleet"


def is_shared(record: TokenRecord) -> bool:
    return isinstance(record.extra.get(LINK), dict)
