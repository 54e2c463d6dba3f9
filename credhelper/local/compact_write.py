"""Writing the compact copies ``local/compact.py`` reads (its docstring gives the format):
beside each JSON write, under that file's lock, best effort.  Apart from the reader so the
hot path never loads the writer.
"""

from credhelper.local.compact import (
    CANNOT,
    ITEM,
    SECRETS,
    SECRETS_MAGIC,
    TOKENS,
    TOKENS_MAGIC,
    VERSION,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def write_tokens(directory: str, items: "list[dict[str, Any]]") -> None:
    """The copy of ``tokens.json``, just written with ``items`` (``TokenRecord.to_json``)."""
    lines = [line for line in (_token_line(item) for item in items) if line is not None]
    _write(directory, TOKENS, TOKENS_MAGIC, "tokens.json", lines)


def write_secrets(directory: str, secrets: "dict[str, Any]") -> None:
    """The copy of ``secrets.json``, just written with ``secrets``."""
    lines = [_text(key) + b"\t" + _text(value) for key, value in secrets.items()
             if _plain(key) and _plain(value)]
    _write(directory, SECRETS, SECRETS_MAGIC, "secrets.json", lines)


def _write(directory: str, name: str, magic: bytes, source: str, lines: list[bytes]) -> None:
    """Best effort: a copy that could not be written is left stale, so it is not used."""
    import os

    from credhelper.local.files import write_private

    try:
        info = os.stat(os.path.join(directory, source))
        body = b"".join(line + b"\n" for line in lines)
        head = [magic, VERSION] + [b"%d" % n for n in (info.st_ino, info.st_size,
                                                       info.st_mtime_ns, len(body))]
        write_private(os.path.join(directory, name), b"\t".join(head) + b"\n" + body)
    except OSError:
        pass


def _token_line(item: "dict[str, Any]") -> bytes | None:
    """One token's line; None for a token no request can reach (its host holds a tab or a
    newline, which no normalised host does)."""
    host = item.get("host")
    if not _plain(host):
        return None
    fields = []
    for key, value in item.items():
        encoded = _encoded(value)
        if not _plain(key) or encoded is None:
            return _text(host) + b"\t" + CANNOT
        if key != "host":
            fields += [_text(key), encoded]
    return b"\t".join([_text(host)] + fields)


def _encoded(value: object) -> bytes | None:
    """The typed field for ``value``; None when this format cannot carry it."""
    if value is None or type(value) is bool:
        return {None: b"n", True: b"b1", False: b"b0"}[value]
    if type(value) is dict:
        return b"o" if value else None
    encode = _ENCODERS.get(type(value))
    return None if encode is None else encode(value)


def _number(value: int) -> bytes:
    return b"i%d" % value


def _real(value: float) -> bytes | None:
    return b"f" + repr(value).encode() if value - value == 0 else None   # not inf or nan


def _string(value: str) -> bytes | None:
    return b"s" + _text(value) if _plain(value) else None


def _strings(value: list[object]) -> bytes | None:
    if not all(_plain(item) and ITEM not in str(item) for item in value):
        return None
    return b"l" + b"".join(ITEM.encode() + _text(item) for item in value)


_ENCODERS: "dict[type, Callable[[Any], bytes | None]]" = {
    int: _number, float: _real, str: _string, list: _strings}


def _plain(text: object) -> bool:
    """A text this format carries as it is: no tab, no newline, valid UTF-8."""
    if type(text) is not str or "\t" in text or "\n" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:    # a lone surrogate ("\ud800" in JSON)
        return False
    return True


def _text(text: object) -> bytes:
    assert isinstance(text, str)
    return text.encode()
