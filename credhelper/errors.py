"""One exception tree. Only the entry points (cli, protocol mains) turn these into a line."""

from __future__ import annotations


class CredhelperError(Exception):
    """Base of every error this package raises on purpose; its text is shown to the user.

    Messages must never contain a secret: build them with ``redact.redact()``.
    """

    exit_code: int = 1


class InvalidInput(CredhelperError):
    """A value given by the user or a client is malformed (bad host, date, token...).

    Exit code 1: usage errors (exit 2) are argparse's, for a malformed command line.
    """


class ConfigError(CredhelperError):
    """The config file or a data file cannot be read or is invalid."""


class ProtocolError(CredhelperError):
    """A helper protocol input was rejected (e.g. CR, LF or NUL in a value)."""


class StoreError(CredhelperError):
    """A secret store failed (keyring unavailable, file unreadable...)."""


class NotFound(CredhelperError):
    """Nothing registered matches."""


class Cancelled(CredhelperError):
    """The person ended a prompt (Ctrl-D, or Ctrl-C: exit 130) before answering it; nothing
    was done."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
