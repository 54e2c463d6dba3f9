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


def read(service: str, username: str) -> str | None:
    """The secret stored for (service, username), or None if this path cannot tell."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg
    except ImportError:
        return None
    address = DBusAddress(SERVICE_PATH, bus_name=SECRETS,
                          interface="org.freedesktop.Secret.Service")
    try:
        with open_dbus_connection(bus="SESSION") as connection:
            def call(method: str, signature: str, body: tuple[Any, ...]) -> Any:
                return unwrap_msg(connection.send_and_get_reply(
                    new_method_call(address, method, signature, body), timeout=5))

            _, session = call("OpenSession", "sv", ("plain", ("s", "")))
            unlocked, _locked = call("SearchItems", "a{ss}",
                                     ({"service": service, "username": username},))
            if not unlocked:
                return None
            (secrets,) = call("GetSecrets", "aoo", (unlocked[:1], session))
            _session, _parameters, value, _content_type = secrets[unlocked[0]]
            return bytes(value).decode("utf-8")
    except Exception:   # any D-Bus trouble: let keyring itself try (and report)
        return None
