"""A keyring backend that serves GitLab package-registry credentials to pip, uv and twine.

Registered through the ``keyring.backends`` entry point, so every program that uses keyring
(pip's default, ``keyring get`` for ``--keyring-provider subprocess``, twine) asks it.  It
answers only for package API URLs of GitLab hosts credhelper knows (see packages.py), with the
token the resolver picks after the usual lifecycle checks and self-rotation.  For every other
service it returns nothing and refuses nothing of its own, so keyring's chainer goes on to the
user's real keyring, which keeps working as before.

It never recurses into itself: tokens kept in the OS keyring are read through the one backend
class recorded when they were added (stores/keyring_store.py), never through keyring's
chainer, and that choice never picks this class.
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from credhelper.rules.model import Answer
    from credhelper.service import Service

PROG = "credhelper"


class GitLabPackagesKeyring(KeyringBackend):
    # Above the OS keyrings (Secret Service is 5, macOS Keychain 5, Windows 5): keyring's
    # chainer asks backends in priority order, and this one only answers its own URLs.
    priority = 9.5

    def get_credential(self, service: str, username: str | None) -> SimpleCredential | None:
        answer = _lookup(service)
        if answer is None:
            return None
        # package routes ignore the Basic username: keep the one the client asked with
        return SimpleCredential(username or answer.username, answer.secret)

    def get_password(self, service: str, username: str) -> str | None:
        answer = _lookup(service)
        return None if answer is None else answer.secret

    # NotImplementedError is keyring's way to step aside: the chainer goes on to the next
    # backend (the user's real keyring), which stores and deletes as before.
    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError("credhelper stores nothing through keyring "
                                  "(GitLab tokens: credhelper add)")

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError("credhelper keeps nothing in keyring")


def _lookup(url: object) -> Answer | None:
    """The credential for a package URL of a known GitLab host, or None.  A broken
    credhelper must not break pip: an error is one line on stderr, and the answer None."""
    if not isinstance(url, str) or "/api/v4/" not in url:
        return None            # a bare host, another site: not ours
    from credhelper.protocols import lazy_service, settle

    return settle(PROG, lambda: _find(url, lazy_service()), _warn)


def _find(url: str, service: Callable[[], Service]) -> Answer | None:
    from credhelper.rules.package_urls import request_for

    request = request_for(url)
    return None if request is None else service().lookup(request)


def _warn(line: str) -> None:
    """One line on stderr; we run inside pip, so a closed stderr must not raise into it."""
    import sys

    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
