"""credhelper: git and docker credential helpers for GitLab tokens.

Calls go one way: protocol adapters (``protocols/``) -> ``service`` -> ``resolver``
and ``lifecycle`` -> ``registry`` and ``stores``.  Modules on the ``get`` hot path import
nothing heavy (no requests, PyJWT, cryptography or keyring) unless a record needs it.
"""

from __future__ import annotations

__version__ = "0.1.0"
