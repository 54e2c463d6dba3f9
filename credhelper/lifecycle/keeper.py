"""Keeping a token good: ask the server about it, rotate a PAT (or refresh an OAuth token)
before it expires, and finish or explain a rotation that was interrupted.

Only ``get`` calls in here, and only when ``freshness.needs_attention`` says so; the decisions
themselves are the pure functions of ``lifecycle``.  All of it runs under the token's *slot
lock* (one per host, path, kind and username, so it survives the record's id changing when
the token rotates), and re-reads the registry once it holds the lock: of 32 processes that
all find a token due, one rotates and 31 find the new token already there.

Rotation never loses a working token.  The steps, each durable before the next:

1. the record gets ``pending = {"new_id": ...}`` (a journal entry);   failpoint before-rotate-call
2. POST .../self/rotate: the server revokes the old token, returns the new one;
                                                                     failpoint after-server-commit
3. the new token is written to the store under ``new_id``;           failpoint after-store-write
4. the registry swaps the old record for the new one;                failpoint after-metadata-write
5. the old secret is deleted.

A process that dies anywhere leaves a ``pending`` journal entry for the next ``get``, which
looks for the new token in the store (dead after step 3: it finishes the swap), else asks the
server about the old token: still active means the rotation never happened (it retries);
revoked means the response was lost after the server committed, the one window GitLab's
design leaves open, and the user gets the exact steps to recover.  Rotation is only ever
attempted with the token the registry holds under the lock, so two processes never rotate the
same token and GitLab's reuse detection (a rotate with a revoked token revokes its
descendants) never fires.
"""

import hashlib
import os
import re
import time

from credhelper.lifecycle import failpoints
from credhelper.local import audit, paths
from credhelper.local.files import FileLock, LockTimeout
from credhelper.rules import dates, freshness
from credhelper.rules.freshness import DAY
from credhelper.rules.model import ADDED, EXPIRED, LOST, NEEDS_CHECK, OAUTH, OK, REVOKED, UNKNOWN
from credhelper.rules.redact import redact

API_BUDGET = 6.0      # seconds of network a single `get` may spend; git waits for us
LOCK_WAIT = 8.0       # seconds to wait for another process busy with the same token
_REJECTION_STATES = {"expired": EXPIRED, "revoked": REVOKED, "unknown": UNKNOWN}


class Keeper:
    def __init__(self, service):
        self.service = service
        self.deadline = time.monotonic() + API_BUDGET

    # -- entry points -----------------------------------------------------------------------

    def attend(self, record, force_check=False):
        """The record to serve after whatever it needed (it may be a new, rotated record, or
        one now known to be unusable); None when it was removed meanwhile."""
        now = self.service.clock()
        if not freshness.can_use_api(record) and not record.pending:
            self._warn_expiry(record, now)
            return record
        try:
            with self.slot_lock(record):
                current = self.reload(record)
                if current is None:
                    return None
                if not force_check and not freshness.needs_attention(
                        current, self.service.clock(), self.service.config_changed_at()):
                    return current     # another process did it while we waited
                return self._attend_locked(current, force_check)
        except LockTimeout:
            self.service.warn("another credhelper is still busy with the %s for %s; using it "
                              "as it is" % (_kind(record), record.host))
            return record

    def rotate_now(self, record):
        """`credhelper rotate`: rotate whatever the policy says (errors are raised)."""
        with self.slot_lock(record):
            current = self.reload(record)
            if current is None:
                return None
            if current.pending:
                current = self._recover(current)
                if current is None or current.state not in (OK, NEEDS_CHECK):
                    return current
            secret = self.service.secret(current)
            policy = self.service.config().policy(current.host)
            if current.kind == OAUTH:
                return self._refresh(current, policy, strict=True)
            return self._rotate(current, secret, policy, strict=True)

    def revoke(self, record):
        """`credhelper remove --revoke`: DELETE .../personal_access_tokens/self."""
        secret = self.service.secret(record)
        if secret is None:
            return False
        self.client(record).revoke_self(secret)
        audit.record_event("revoked", record)
        return True

    # -- the lock and the registry ----------------------------------------------------------

    def slot_lock(self, record):
        slot = "\0".join((record.host, record.path or "", record.kind, record.username or ""))
        name = hashlib.sha256(slot.encode()).hexdigest()[:24]
        return FileLock(os.path.join(paths.state_dir(), "locks", name + ".lock"),
                        timeout=LOCK_WAIT)

    def reload(self, record):
        """The registry's current record for ``record``'s slot (its id may have changed)."""
        for current in self.service.registry.load():
            if current.origin == ADDED and _same_slot(current, record):
                return current
        return None

    def save(self, record, replaces=None):
        """Write ``record`` in place of the record with id ``replaces`` (default: its own)."""
        old_id = replaces or record.id
        self.service.registry.update(
            lambda records: [record if r.id == old_id else r for r in records])
        return record

    # -- what a token needs -----------------------------------------------------------------

    def _attend_locked(self, record, force_check=False):
        policy = self.service.config().policy(record.host)
        record = self.drop_stale_secret(record)     # a crash left the old secret behind
        if record.pending:
            record = self._recover(record)
            if record is None or record.state in freshness.FINAL_STATES or record.pending:
                return record
        secret = self.service.secret(record)
        if secret is None:
            return record                 # lookup explains a missing secret
        if force_check or freshness.check_due(record, self.service.clock(),
                                              self.service.config_changed_at()):
            record = self._check(record, secret, policy)
        if record.state != OK:
            return record
        now = self.service.clock()
        if freshness.rotation_due(record, now, policy):
            return self._rotate(record, secret, policy)
        if freshness.refresh_due(record, now) and record.client_id:
            return self._refresh(record, policy)
        if freshness.warning_due(record, now, policy.warn_before_days):
            self._warn_expiry(record, now, policy)
        return record

    def _check(self, record, secret, policy):
        """Ask the server about the token and record the answer."""
        from credhelper.gitlab.errors import ApiError, TokenRejected

        now = self.service.clock()
        try:
            if record.kind == OAUTH:
                changes = _oauth_facts(self.client(record).oauth_info(secret), now)
            else:
                changes = _pat_facts(self.client(record).token_self(secret))
        except TokenRejected as rejected:
            state = _REJECTION_STATES[rejected.reason]
            audit.record_event("rejected", record, reason=rejected.reason)
            return self.save(record.replace(state=state, checked_at=int(now), pending=None))
        except ApiError as error:
            return self._failed(record, "check", error, policy)
        updated = record.replace(state=changes.pop("state", OK), checked_at=int(now),
                                 backoff_until=None,
                                 config_mtime=self.service.config_changed_at(), **changes)
        updated = updated.replace(next_check_at=freshness.next_check_at(updated, now, policy))
        differences = {key: getattr(updated, key) for key in ("state", "scopes", "expires_at",
                                                              "token_id")
                       if getattr(updated, key) != getattr(record, key)}
        if (differences and record.checked_at is not None) or record.state == NEEDS_CHECK:
            audit.record_event("checked", updated, changed=differences)
        return self.save(updated)

    def _rotate(self, record, secret, policy, strict=False):
        """Rotate a PAT through the journal described in the module docstring."""
        from credhelper.gitlab.errors import (
            ApiError,
            InsufficientScope,
            Refused,
            TokenRejected,
            Unavailable,
        )

        now = self.service.clock()
        new_id = os.urandom(8).hex()
        expires_at = freshness.new_expiry_date(now, policy)
        record = self.save(record.replace(pending={"new_id": new_id, "started_at": int(now),
                                                   "expires_at": expires_at}))
        failpoints.reached("before-rotate-call")
        client = self.client(record)
        try:
            try:
                response = client.rotate(secret, expires_at)
            except Refused as refused:
                # GitLab refuses a date past its maximum lifetime ("... must be before D"):
                # ask for the day before that maximum, or else for the server's default.
                fallback = _day_before_limit(str(refused))
                self.service.warn("%s refused the expiry %s for the new token (%s); asking for "
                                  "%s instead" % (record.host, expires_at, refused,
                                                  fallback or "the server's default"))
                expires_at = fallback
                response = client.rotate(secret, fallback)
        except TokenRejected as rejected:
            # Someone (another machine?) already rotated or revoked this very token.
            audit.record_event("rotation-failed", record, reason=rejected.reason)
            return self.save(record.replace(state=_REJECTION_STATES[rejected.reason],
                                            pending=None, checked_at=int(now)))
        except InsufficientScope as error:
            audit.record_event("rotation-failed", record, reason="scope")
            record = record.replace(pending=None, backoff_until=freshness.backoff_until(
                now, policy, policy.check_interval))
            if strict:
                self.save(record)
                raise
            self.service.warn("cannot rotate the %s for %s: %s" % (_kind(record), record.host,
                                                                  error))
            return self.save(record)
        except Unavailable as error:
            if error.ambiguous:
                # Timed out or dropped: the server may have rotated.  Ask about the old token
                # now, so a lost answer is told at once rather than at the next git command.
                record = self._recover(record, quiet=True)
                if record.state != OK or not record.pending:
                    if record.state == OK:
                        self._failed(record, "rotation", error, policy, strict)
                    return self.reload(record) or record
                return self._failed(record, "rotation", error, policy, strict)
            # the server answered: nothing happened
            return self._failed(record.replace(pending=None), "rotation", error, policy, strict)
        except ApiError as error:
            return self._failed(record.replace(pending=None), "rotation", error, policy, strict)
        failpoints.reached("after-server-commit")
        new_secret = response.get("token")
        if not _plausible_token(new_secret):
            # the server committed but sent no usable token: the same as a lost response
            return self._lost(record, "the rotation answer held no token")
        facts = _pat_facts(response)
        facts.pop("state", None)
        new_record = record.replace(
            id=new_id, pending=None, state=OK, hint=redact(new_secret), expires_utc=None,
            checked_at=int(now), backoff_until=None, warned_at=None,
            config_mtime=self.service.config_changed_at(), **facts)
        new_record = new_record.replace(
            next_check_at=freshness.next_check_at(new_record, now, policy))
        self.service.store_for(new_record).set(new_record, new_secret)
        failpoints.reached("after-store-write")
        new_record = self._swap(record, new_record)
        audit.record_event("rotated", new_record, old_token_id=record.token_id,
                           new_token_id=new_record.token_id, expires_at=new_record.expires_at)
        self.service.warn("rotated the %s for %s: %s -> %s, valid until %s" % (
            _kind(record), record.host, record.hint, new_record.hint,
            new_record.expires_at or "no expiry"))
        return new_record

    def _refresh(self, record, policy, strict=False):
        """Refresh an OAuth token with its refresh token (same journal as a rotation)."""
        from credhelper.gitlab.errors import ApiError, Refused, Unavailable

        refresh_token = self.service.secret(refresh_slot(record))
        if not refresh_token or not record.client_id:
            if strict:
                from credhelper.errors import CredhelperError

                raise CredhelperError("no refresh token was registered for this OAuth token; "
                                      "add it again with --refresh-token --client-id ID")
            return record
        now = self.service.clock()
        new_id = os.urandom(8).hex()
        record = self.save(record.replace(pending={"new_id": new_id, "started_at": int(now)}))
        failpoints.reached("before-rotate-call")
        try:
            response = self.client(record).oauth_refresh(refresh_token, record.client_id)
        except Refused as refused:
            # invalid_grant: this refresh token was spent already; only the user can mend it
            audit.record_event("refresh-failed", record, reason=str(refused)[:100])
            if strict:
                self.save(record.replace(pending=None))
                raise
            self.service.warn("%s refused to refresh the OAuth token %s (%s); it works until "
                              "it expires, then sign in again and run credhelper add %s"
                              % (record.host, record.hint, refused, record.host))
            return self.save(record.replace(pending=None, client_id=None))
        except Unavailable as error:
            if not error.ambiguous:
                record = record.replace(pending=None)
            return self._failed(record, "refresh", error, policy, strict)
        except ApiError as error:
            return self._failed(record.replace(pending=None), "refresh", error, policy, strict)
        failpoints.reached("after-server-commit")
        access, refresh = response.get("access_token"), response.get("refresh_token")
        if not _plausible_token(access):
            return self._lost(record, "the refresh answer held no token")
        expires_in = response.get("expires_in")
        new_record = record.replace(
            id=new_id, pending=None, state=OK, hint=redact(access), checked_at=int(now),
            backoff_until=None,
            expires_utc=int(now + expires_in) if isinstance(expires_in, int) else None)
        new_record = new_record.replace(
            next_check_at=freshness.next_check_at(new_record, now, policy))
        if _plausible_token(refresh):
            self.service.store_for(new_record).set(refresh_slot(new_record), refresh)
        self.service.store_for(new_record).set(new_record, access)
        failpoints.reached("after-store-write")
        new_record = self._swap(record, new_record)
        audit.record_event("refreshed", new_record, expires_utc=new_record.expires_utc)
        return new_record

    def _swap(self, old, new):
        """Steps 4 and 5: point the registry at the new token, remembering the old secret's
        key until it is deleted, so a crash in between cannot leave it behind forever."""
        new = self.save(new.replace(extra=dict(new.extra, stale_secret=old.id)),
                        replaces=old.id)
        failpoints.reached("after-metadata-write")
        return self.drop_stale_secret(new)

    def drop_stale_secret(self, record):
        """Delete the replaced token's secret (and refresh token) named in the record."""
        stale = record.extra.get("stale_secret")
        if not stale:
            return record
        old = record.replace(id=stale)
        self.service.delete_secret(old)
        self.service.delete_secret(refresh_slot(old))
        extra = {key: value for key, value in record.extra.items() if key != "stale_secret"}
        return self.save(record.replace(extra=extra))

    def _recover(self, record, quiet=False):
        """A journal entry says a rotation or refresh started and did not finish.

        Returns the record as it now stands: swapped for the new one, marked lost, cleared of
        its journal entry (the rotation never happened), or unchanged with the entry kept
        (``quiet``: the server could not be asked; the caller reports it).
        """
        from credhelper.gitlab.errors import ApiError, TokenRejected

        new_record = record.replace(id=record.pending["new_id"], pending=None)
        new_secret = self.service.secret(new_record, quiet=True)
        if new_secret:
            # died after storing the new token: finish the swap; a check fills in the facts
            new_record = new_record.replace(state=NEEDS_CHECK, hint=redact(new_secret),
                                            expires_at=record.pending.get("expires_at"),
                                            expires_utc=None, checked_at=None, token_id=None)
            self.save(new_record, replaces=record.id)
            self.service.delete_secret(record)
            audit.record_event("rotation-completed", new_record, after="interruption")
            return new_record
        old_secret = self.service.secret(record)
        try:
            if record.kind == OAUTH:
                self.client(record).oauth_info(old_secret)
            else:
                self.client(record).token_self(old_secret)
        except TokenRejected as rejected:
            if rejected.reason == "revoked" or record.kind == OAUTH:
                return self._lost(record, "the server committed the rotation, but its answer "
                                          "never arrived")
            return self.save(record.replace(state=_REJECTION_STATES[rejected.reason],
                                            pending=None))
        except ApiError as error:
            if quiet:
                return record
            policy = self.service.config().policy(record.host)
            self.service.warn("could not verify an interrupted rotation of the %s for %s (%s); "
                              "using it as it is" % (_kind(record), record.host, error))
            return self.save(record.replace(backoff_until=freshness.backoff_until(
                self.service.clock(), policy)))
        # the old token still works: the rotation never reached the server
        audit.record_event("rotation-abandoned", record, reason="interrupted before the server")
        return self.save(record.replace(pending=None))

    def _lost(self, record, why):
        audit.record_event("rotation-lost", record, reason=why)
        return self.save(record.replace(
            state=LOST, extra=dict(record.extra, lost_at=int(self.service.clock()))))

    def _failed(self, record, what, error, policy, strict=False):
        """A call failed without a verdict on the token: keep using it, try again later."""
        now = self.service.clock()
        retry_after = getattr(error, "retry_after", None)
        record = self.save(record.replace(
            backoff_until=freshness.backoff_until(now, policy, retry_after)))
        audit.record_event(what + "-failed", record, error=str(error)[:200])
        if strict:
            raise error
        usable = freshness.unusable_reason(record, now) is None
        self.service.warn("could not %s the %s for %s (%s)%s" % (
            "check" if what == "check" else "complete the " + what + " of", _kind(record),
            record.host, error, "; using it as it is" if usable else ""))
        return record

    def _warn_expiry(self, record, now, policy=None):
        days = policy.warn_before_days if policy else \
            self.service.config().policy(record.host).warn_before_days
        if not freshness.warning_due(record, now, days):
            return
        left = freshness.days_left(record, now)
        self.service.warn("the %s %s for %s expires on %s (%s); it cannot renew itself: create "
                          "a new one and run credhelper add %s%s" % (
                              _kind(record), record.hint, record.host, record.expires_at
                              or "soon", "today" if left == 0 else "in %d days" % left,
                              record.host, " --path " + record.path if record.path else ""))
        self.save(record.replace(warned_at=int(now)))

    def client(self, record):
        from credhelper.gitlab.client import GitLabClient

        settings = self.service.config().host(record.host)
        api_url = record.api_url or settings.api_url
        base_url = "https://" + record.host
        if api_url and api_url.rstrip("/").endswith("/api/v4"):
            base_url = api_url.rstrip("/")[:-len("/api/v4")]   # OAuth lives beside the API
        return GitLabClient(base_url, api_url, ca_file=settings.ca_file, deadline=self.deadline,
                            proof=self._prover(record))

    def _prover(self, record):
        """For a DPoP-bound token: make a fresh proof for each API call's method and URL."""
        if not record.dpop_key:
            return None
        from credhelper.gitlab import sshkeys
        from credhelper.gitlab.dpop import make_proof

        key = sshkeys.load(record.dpop_key)     # once per process: it may ask a passphrase
        if not key.is_rsa:
            self.service.warn("%s signs %s proofs; GitLab accepts RS512 (RSA keys) only today"
                              % (key.description, key.algorithm))
        return lambda method, url, token: make_proof(key, token, method, url, time.time())

    def inspect(self, record, secret):
        """Ask the server about a token that is not registered yet (`credhelper add`).

        Returns the record with what the server said; raises TokenRejected for a token that
        does not work, and other ApiErrors when the server cannot be asked.
        """
        now = self.service.clock()
        policy = self.service.config().policy(record.host)
        if record.kind == OAUTH:
            facts = _oauth_facts(self.client(record).oauth_info(secret), now)
        else:
            facts = _pat_facts(self.client(record).token_self(secret))
        state = facts.pop("state", OK)
        if state != OK:
            from credhelper.gitlab.errors import TokenRejected

            raise TokenRejected(state, "the server says the token %s" % (
                "was revoked" if state == REVOKED else "has expired"))
        record = record.replace(checked_at=int(now), state=OK,
                                config_mtime=self.service.config_changed_at(), **facts)
        return record.replace(next_check_at=freshness.next_check_at(record, now, policy))


def refresh_slot(record):
    """Where an OAuth token's refresh token is kept: beside it, under a derived key."""
    return record.replace(id=record.id + ".refresh")


def recovery_steps(record):
    """What to do when a rotation's answer was lost (the only way a token can be lost)."""
    base = "https://%s" % record.host
    path = " --path %s" % record.path if record.path else ""
    if record.kind == OAUTH:
        return ("the OAuth token %s for %s was refreshed on the server, but the answer never "
                "arrived, so the new token is lost. Sign in again to get a new token, then run: "
                "credhelper add %s --kind oauth%s" % (record.hint, record.host, record.host, path))
    return ("the access token %s for %s was rotated on the server (GitLab revoked it) but the "
            "new token never arrived, so it is lost. To recover: 1. open %s/-/user_settings/"
            "personal_access_tokens (or the project's or group's Settings > Access tokens), "
            "2. revoke the active token named %r created at %s UTC, 3. create a new token "
            "with scopes %s, 4. run: credhelper add %s%s" % (
                record.hint, record.host, base, record.token_name or "(same name)",
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(
                    (record.pending or {}).get("started_at", record.extra.get("lost_at", 0)))),
                ",".join(record.scopes or ["(the same)"]), record.host, path))


def _pat_facts(info):
    """GET .../personal_access_tokens/self (or a rotation answer) -> record fields."""
    facts = {}
    if isinstance(info.get("id"), int):
        facts["token_id"] = info["id"]
    if isinstance(info.get("name"), str):
        facts["token_name"] = info["name"][:200]
    if isinstance(info.get("user_id"), int):
        facts["user_id"] = info["user_id"]
    if isinstance(info.get("scopes"), list):
        facts["scopes"] = sorted(str(s) for s in info["scopes"])
    if "expires_at" in info:
        expires_at = info["expires_at"]
        if isinstance(expires_at, str):
            try:
                dates.parse_date(expires_at[:10])
                facts["expires_at"] = expires_at[:10]
            except ValueError:
                pass
        elif expires_at is None:
            facts["expires_at"] = None
    if info.get("revoked") is True:
        facts["state"] = REVOKED
    elif info.get("expired") is True:
        facts["state"] = EXPIRED
    elif info.get("active") is False:
        facts["state"] = REVOKED
    return facts


def _oauth_facts(info, now):
    """GET /oauth/token/info -> record fields (OAuth tokens live hours, so expiry is exact)."""
    facts = {}
    left = info.get("expires_in")
    if left is None:
        left = info.get("expires_in_seconds")
    if isinstance(left, (int, float)):
        facts["expires_utc"] = int(now + left)
        facts["expires_at"] = dates.date_from_days(int((now + left) // DAY))
    scopes = info.get("scopes") or info.get("scope")
    if isinstance(scopes, str):
        scopes = scopes.split()
    if isinstance(scopes, list):
        facts["scopes"] = sorted(str(s) for s in scopes)
    if isinstance(info.get("resource_owner_id"), int):
        facts["user_id"] = info["resource_owner_id"]
    return facts


def _day_before_limit(message):
    found = re.search(r"(\d{4}-\d{2}-\d{2})", message)
    if not found:
        return None
    try:
        year, month, day = dates.parse_date(found.group(1))
    except ValueError:
        return None
    return dates.date_from_days(dates.days_from_civil(year, month, day) - 1)


def _plausible_token(value):
    return isinstance(value, str) and 8 <= len(value) <= 4096 and value.isprintable() \
        and not any(c.isspace() for c in value)


def _same_slot(a, b):
    return (a.host, a.path, a.kind, a.username) == (b.host, b.path, b.kind, b.username)


def _kind(record):
    from credhelper.rules.model import KIND_NAMES

    return KIND_NAMES.get(record.kind, "token")

