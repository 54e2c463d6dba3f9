"""Reading one item from the Secret Service over D-Bus with jeepney alone: the fast path of
the keyring store for the ``get`` hot path.

keyring's SecretService backend imports secretstorage, which imports cryptography for its
encrypted session: ~85 ms before the first D-Bus call.  jeepney alone costs ~3 ms.  The items
are the very ones keyring wrote (attributes ``service`` and ``username``), read in a "plain"
session, which the spec allows: the message never leaves the local session bus.  Anything
unusual (no bus, a locked collection that needs a prompt, no such item) returns None and the
caller goes the long way through keyring, which can prompt to unlock.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SECRETS = "org.freedesktop.secrets"
SERVICE_PATH = "/org/freedesktop/secrets"


READ_DEADLINE = 3.0     # seconds for the whole read: a stopped service must not hold git


class NoAnswer(Exception):
    """The Secret Service did not answer within READ_DEADLINE (hung, or stopped)."""


def read(service: str, username: str) -> str | None:
    """The secret stored for (service, username), or None if this path cannot tell; raises
    NoAnswer when the service does not answer in time (the slow path would hang too)."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg
    except ImportError:
        return None
    import time

    address = DBusAddress(SERVICE_PATH, bus_name=SECRETS,
                          interface="org.freedesktop.Secret.Service")
    ends = time.monotonic() + READ_DEADLINE
    try:
        with open_dbus_connection(bus="SESSION") as connection:
            def call(method: str, signature: str, body: tuple[Any, ...]) -> Any:
                left = ends - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                return unwrap_msg(connection.send_and_get_reply(
                    new_method_call(address, method, signature, body), timeout=left))

            _, session = call("OpenSession", "sv", ("plain", ("s", "")))
            unlocked, _locked = call("SearchItems", "a{ss}",
                                     ({"service": service, "username": username},))
            if not unlocked:
                return None
            (secrets,) = call("GetSecrets", "aoo", (unlocked[:1], session))
            _session, _parameters, value, _content_type = secrets[unlocked[0]]
            return bytes(value).decode("utf-8")
    except TimeoutError:
        raise NoAnswer from None
    except Exception:   # any other D-Bus trouble: let keyring itself try (and report)
        return None
