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

from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential


class GitLabPackagesKeyring(KeyringBackend):
    # Above the OS keyrings (Secret Service is 5, macOS Keychain 5, Windows 5): keyring's
    # chainer asks backends in priority order, and this one only answers its own URLs.
    priority = 9.5

    def get_credential(self, service, username):
        answer = _lookup(service)
        if answer is None:
            return None
        # package routes ignore the Basic username: keep the one the client asked with
        return SimpleCredential(username or answer.username, answer.secret)

    def get_password(self, service, username):
        answer = _lookup(service)
        return None if answer is None else answer.secret

    # NotImplementedError is keyring's way to step aside: the chainer goes on to the next
    # backend (the user's real keyring), which stores and deletes as before.
    def set_password(self, service, username, password):
        raise NotImplementedError("credhelper stores nothing through keyring "
                                  "(GitLab tokens: credhelper add)")

    def delete_password(self, service, username):
        raise NotImplementedError("credhelper keeps nothing in keyring")


def _lookup(service):
    if not isinstance(service, str) or "/api/v4/" not in service:
        return None            # a bare host, another site: not ours
    from credhelper.rules.package_urls import request_for

    request = request_for(service)
    if request is None:
        return None
    from credhelper.errors import CredhelperError
    from credhelper.service import Service

    try:
        return Service().lookup(request)
    except CredhelperError as error:
        from credhelper.rules.redact import scrub
        from credhelper.service import warn

        warn(scrub(str(error)))     # a broken credhelper must not break pip
        return None
