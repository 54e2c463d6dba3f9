"""The keeper's view of local state: the token index, the secrets, and one lock per token.

The lock is keyed by a keyed hash of the token itself, so two records that hold one token
(two usernames, paths or host names) can never check or rotate it at the same time; when the
secret cannot be read it falls back to the record's slot (``TokenRecord.slot``).  Both survive
the record's id changing when the token rotates.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from credhelper.local import paths
from credhelper.local.files import FileLock
from credhelper.rules.model import ADDED, EXPIRED, REVOKED, UNKNOWN

_DEAD = (REVOKED, EXPIRED, UNKNOWN)      # the server's verdicts that only a new token mends

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from credhelper.lifecycle.context import RequestContext
    from credhelper.local.token_index import TokenIndex
    from credhelper.rules.model import TokenRecord
    from credhelper.stores import Secrets

LOCK_WAIT = 8.0       # seconds to wait for another process busy with the same token


def refresh_slot(record: TokenRecord) -> TokenRecord:
    """Where an OAuth token's refresh token is kept: beside it, under a derived key."""
    return record.replace(id=record.id + ".refresh")


class TokenBook:
    def __init__(self, tokens: TokenIndex, secrets: Secrets) -> None:
        self.tokens = tokens
        self.secrets = secrets

    def lock_for(self, record: TokenRecord, secret: str | None = None,
                 timeout: float = LOCK_WAIT) -> FileLock:
        if secret:
            name = hmac.new(_lock_key(), secret.encode(), hashlib.sha256).hexdigest()[:32]
        else:
            slot = "\0".join(str(part or "") for part in record.slot())
            name = hashlib.sha256(slot.encode()).hexdigest()[:24]
        return FileLock(os.path.join(paths.state_dir(), "locks", name + ".lock"),
                        timeout=timeout)

    def reload(self, record: TokenRecord) -> TokenRecord | None:
        """The index's current record for ``record``: the same id, else the same slot (a
        rotation gives the record a new id).  The id comes first because the slot can change
        under it: a token added unchecked learns its owner at its first check."""
        current = self.tokens.load()
        found = [r for r in current if r.id == record.id] or [
            r for r in current if r.origin == ADDED and r.slot() == record.slot()]
        return found[0] if found else None

    def save(self, record: TokenRecord, replaces: str | None = None) -> TokenRecord:
        """Write ``record`` in place of the record with id ``replaces`` (default: its own)."""
        old_id = replaces or record.id
        self.tokens.update(lambda records: [record if r.id == old_id else r for r in records])
        return record

    def secret(self, record: TokenRecord, ctx: RequestContext | None = None) -> str | None:
        """The record's secret; a store failure is told to ``ctx`` (None: say nothing)."""
        return self.secrets.get(record, ctx.warn if ctx is not None else None)

    def delete_secret(self, record: TokenRecord, ctx: RequestContext) -> None:
        self.secrets.delete(record, ctx.warn)

    def register(self, record: TokenRecord, secret: str, refresh_token: str | None,
                 warn: Callable[[str], None]) -> list[TokenRecord]:
        """Store ``secret`` for ``record`` and index it, replacing the records of the same
        slot; returns those.  The secret is written first and the metadata second, both
        atomically, so an interruption leaves at worst an unreferenced secret, never a record
        without its token."""
        if record.origin == ADDED:
            current = self.tokens.load()
            self._refuse_duplicate(current, record, secret)
            _refuse_unsettled(current, record)
        # outside the index lock: a keyring write may wait for a person to unlock it
        self.secrets.set(record, secret)
        if refresh_token:
            self.secrets.set(refresh_slot(record), refresh_token)
        with self.tokens.lock():
            current = self.tokens.load()
            same = [r for r in current if r.slot() == record.slot()]
            replaced = same + [r for r in current if r not in same and _gives_way(r, record)]
            kept = [r for r in current if r not in replaced]
            if any(r.default_account for r in same) or record.default_account:
                record = record.replace(default_account=True)
                kept = [_not_default(r, record) for r in kept]
            self.tokens.save(kept + [record])
        for old in replaced:
            self.forget_secrets(old, warn)
        return replaced

    def forget(self, records: list[TokenRecord], warn: Callable[[str], None]) -> None:
        """Drop ``records`` from the index, then their secrets."""
        ids = {r.id for r in records}
        self.tokens.update(lambda current: [r for r in current if r.id not in ids])
        for record in records:
            self.forget_secrets(record, warn)

    def forget_secrets(self, record: TokenRecord, warn: Callable[[str], None]) -> None:
        self.secrets.delete(record, warn)
        if record.client_id:
            self.secrets.delete(refresh_slot(record), warn)

    def _refuse_duplicate(self, current: list[TokenRecord], record: TokenRecord, secret: str
                          ) -> None:
        """One token, one record: two records of one token (two usernames, paths or host
        names) would each rotate it, and the second rotation trips GitLab's reuse detection
        (docs/gitlab.md#reuse-detection).  A PAT answers any username already."""
        for other in current:
            if (other.origin == ADDED and other.slot() != record.slot()
                    and self.secrets.get(other) == secret):
                from credhelper.errors import InvalidInput

                where = other.host + (" path " + other.path if other.path else "")
                raise InvalidInput(
                    "this token is already registered for %s%s; one token is kept in one "
                    "record (it serves any username); to move it: credhelper remove %s%s"
                    % (where, " as " + other.username if other.username else "", other.host,
                       " --path " + other.path if other.path else ""))


def _gives_way(old: TokenRecord, new: TokenRecord) -> bool:
    """Does ``new`` also replace ``old``, a token of another owner?  Only when ``old`` is a
    dead token (revoked, expired or unknown to the server) of the same host, path and kind:
    dropping it orphans nothing, and keeping it would name it on every fetch.  A new project
    or group access token always has a new owner (its own bot user), so this is how the
    command the rejection line names (`credhelper add HOST --path P`) takes the old one's
    place; a LOST record stays until its orphan is dealt with (lifecycle/explain.py)."""
    return (new.origin == ADDED and old.origin == ADDED and old.state in _DEAD
            and (old.host, old.path, old.kind) == (new.host, new.path, new.kind))


def _not_default(other: TokenRecord, default: TokenRecord) -> TokenRecord:
    """``other`` as it stays beside a new default account on its host: one default a host."""
    if other.host == default.host and other.default_account:
        return other.replace(default_account=None)
    return other


def _refuse_unsettled(current: list[TokenRecord], record: TokenRecord) -> None:
    """Replacing a record whose rotation is unsettled would forget the journal entry, and with
    it the new token if the server committed: wait until it is settled (or lost)."""
    from credhelper.rules.model import LOST

    for old in current:
        if old.slot() == record.slot() and old.pending and old.state != LOST:
            from credhelper.errors import InvalidInput
            from credhelper.lifecycle.explain import unsettled

            raise InvalidInput("not replaced: " + unsettled(old))


def _lock_key() -> bytes:
    """This machine's key for lock names (a lock file must not be a hash of a bare token).
    Every process must use the same one: see ``made_once``."""
    from credhelper.local.files import ensure_private_dir, made_once

    directory = os.path.join(paths.state_dir(), "locks")
    ensure_private_dir(directory)
    return made_once(os.path.join(directory, "key"), lambda: os.urandom(32))
