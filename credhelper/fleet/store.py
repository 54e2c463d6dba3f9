"""The fleet's shared record in OpenBao's KV v2 engine, through ``hvac`` (imported here only,
and only when a shared token needs the record: it is the optional ``fleet`` extra).

The record (``data`` of ``MOUNT/data/PATH``): ``token`` (the secret), ``host``, ``token_id``,
``token_name``, ``user_id``, ``scopes``, ``expires_at``, ``rotated_at``, ``lease``
(``{"holder", "until"}`` or null: lease.py) and ``journal`` (null, or the rotation in flight:
``{"step": "rotating"|"lost", "holder", "started_at", "expires_at", "token_id"}``).

Every write is a check-and-set on the version read (``options.cas``; 0 means "only if
absent"); a mismatch (HTTP 400) is ``Conflict``: somebody else wrote first, read again.
Messages never quote OpenBao's answer bodies (a record holds a token).
"""

from __future__ import annotations

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TIMEOUT = 3.0        # seconds per OpenBao call: a get waits for us, the local copy is good
DEFAULT_MOUNT = "secret"


class Unreachable(CredhelperError):
    """OpenBao could not be asked (refused, timed out, sealed): the local copy stands."""


class Conflict(Exception):
    """A check-and-set lost: the record is no longer at the version we read."""


class Snapshot:
    """One version of the record."""

    __slots__ = ("version", "data")

    def __init__(self, version: int, data: dict[str, Any]) -> None:
        self.version = version
        self.data = data

    @property
    def token(self) -> str | None:
        value = self.data.get("token")
        return value if isinstance(value, str) else None

    @property
    def lease(self) -> dict[str, Any] | None:
        value = self.data.get("lease")
        return value if isinstance(value, dict) else None

    @property
    def journal(self) -> dict[str, Any] | None:
        value = self.data.get("journal")
        return value if isinstance(value, dict) else None

    def changed(self, **fields: Any) -> dict[str, Any]:
        """The record's data with ``fields`` replaced (what a write sends)."""
        return dict(self.data, **fields)


class FleetStore:
    """One record at ``link["path"]`` under ``link["mount"]`` of the server ``link["addr"]``."""

    def __init__(self, link: dict[str, Any], timeout: float = TIMEOUT) -> None:
        self.link = link
        self.timeout = timeout
        self._client: Any = None

    @property
    def where(self) -> str:
        return "%s/%s at %s" % (self.link.get("mount", DEFAULT_MOUNT), self.link.get("path"),
                                self.link.get("addr"))

    def read(self) -> Snapshot | None:
        """The current version, or None when there is no record."""
        import hvac.exceptions

        client = self.client()
        try:
            answer = self._call(lambda: client.secrets.kv.v2.read_secret_version(
                path=self.link["path"], mount_point=self.mount,
                raise_on_deleted_version=True))
        except hvac.exceptions.InvalidPath:
            return None
        body = answer.get("data") or {}
        version = (body.get("metadata") or {}).get("version")
        data = body.get("data")
        if not isinstance(version, int) or not isinstance(data, dict):
            raise CredhelperError("the fleet record %s is not one credhelper wrote" % self.where)
        return Snapshot(version, data)

    def write(self, data: dict[str, Any], cas: int) -> Snapshot:
        """Write ``data`` if the record is still at version ``cas`` (0: only if absent)."""
        import hvac.exceptions

        client = self.client()
        try:
            answer = self._call(lambda: client.secrets.kv.v2.create_or_update_secret(
                path=self.link["path"], secret=data, cas=cas, mount_point=self.mount))
        except hvac.exceptions.InvalidRequest:
            raise Conflict() from None
        version = (answer.get("data") or {}).get("version")
        if not isinstance(version, int):
            raise Unreachable("OpenBao at %s gave no version for a write" % self.link["addr"])
        return Snapshot(version, data)

    @property
    def mount(self) -> str:
        return str(self.link.get("mount") or DEFAULT_MOUNT)

    def client(self) -> Any:
        """An authenticated hvac client: a token file first, else AppRole (auth.py)."""
        if self._client is None:
            import hvac

            from credhelper.fleet.auth import authenticate

            client = hvac.Client(url=self.link["addr"], timeout=self.timeout,
                                 verify=self.link.get("ca_file") or True)
            try:
                self._call(lambda: authenticate(client, self.link.get("auth") or {}))
            except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath):
                raise CredhelperError("OpenBao at %s refused this machine's login (%s)" % (
                    self.link.get("addr"), ", ".join(sorted(self.link.get("auth") or {})))
                ) from None
            self._client = client
        return self._client

    def _call(self, call: Any) -> Any:
        """``call()``, its failures as one line each (never the answer's body)."""
        import hvac.exceptions
        import requests

        try:
            return call()
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                hvac.exceptions.VaultDown, hvac.exceptions.BadGateway,
                hvac.exceptions.InternalServerError) as error:
            raise Unreachable("OpenBao at %s did not answer (%s)"
                              % (self.link.get("addr"), error.__class__.__name__)) from None
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            raise CredhelperError("OpenBao at %s refused access to %s (check the fleet's "
                                  "policy and this machine's login)" % (
                                      self.link.get("addr"), self.where)) from None
