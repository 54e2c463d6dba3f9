"""The compact copies the ``get`` fast path reads instead of the JSON files: ``tokens.index``
beside ``tokens.json`` and ``secrets.index`` beside the file store's ``secrets.json``.

The JSON files stay the source of truth; each copy is derived, rewritten (0600, atomically)
every time its JSON file is, under that file's lock, and names in its first line the JSON
file it was made from (inode, size, mtime in ns) and how many bytes follow (version 1, never
released, counted lines: 4% of a get beside a thousand tokens).  A copy that is missing, is cut
short, names another file (a hand edit, a crash between the two writes), is not the user's
or is writable by others, or does not parse is not used: the caller takes the full path.

Line-oriented and split-based, because json costs the hot path ``re`` and ``enum`` and
``marshal`` cannot be trusted with bytes someone else may have written::

    credhelper-tokens TAB 2 TAB inode TAB size TAB mtime_ns TAB bytes
    HOST TAB key TAB value TAB key TAB value ...      one token; every field but host
    HOST TAB !                                        a token this format cannot carry

    credhelper-secrets TAB 2 TAB inode TAB size TAB mtime_ns TAB bytes
    ID TAB SECRET

A value is typed by its first byte: ``s`` text, ``i`` integer, ``f`` float, ``b1``/``b0``,
``n`` null, ``l`` a list of texts, each after a 0x1f byte, ``o`` a non-empty object (a
fleet's link, a journal) that a fresh ``get`` never reads inside (``Unread``).  No text holds
a tab or a newline (such a token is written as ``!``, such a secret is left out).  The reader
uses ``posix`` only and is safe on any bytes.
"""

import posix

from credhelper.local.ownership import is_file, unsafe_reason

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TOKENS = "tokens.index"
SECRETS = "secrets.index"
TOKENS_MAGIC = b"credhelper-tokens"
SECRETS_MAGIC = b"credhelper-secrets"
VERSION = b"2"
# what TokenIndex.load refuses when others can write it (the secrets' files beside the index)
NEIGHBOURS = ("", "/secrets.json", "/rescued.json")
MAX_SIZE = 1 << 26
CANNOT = b"!"
ITEM = "\x1f"


class Unread(dict[str, object]):
    """A non-empty object the copy does not carry (reading inside it raises: decline)."""

    def __bool__(self) -> bool:
        return True

    def _unread(self, *args: object) -> "Any":
        raise LookupError("not in the compact copy")

    __getitem__ = get = keys = items = values = __iter__ = __len__ = __contains__ = _unread


# -- reading: the fast path -------------------------------------------------------------------

def host_records(directory: str, host: str) -> "list[dict[str, Any]] | None":
    """The JSON form of every token for ``host`` (as ``TokenRecord.to_json`` gave it), in
    registration order; None when the copy cannot be trusted to equal ``tokens.json``."""
    path = directory + "/" + TOKENS
    data = _fresh(path, TOKENS_MAGIC, directory + "/tokens.json")
    if data is None or not _safe_neighbours(directory):
        return None
    try:
        return _records(_lines_for(path, data, host), host)
    except ValueError:        # a number or UTF-8 that does not parse (UnicodeDecodeError too)
        return None


def keep_token_copies() -> None:
    """For a long-lived process (the warm daemon, credhelper/daemon/server.py): keep the
    tokens copy, and the lines found in it per host, while the file is the very same
    (device, inode, size, mtime, ctime: what the copies' own headers already rely on), so
    a get costs the same beside a thousand tokens.  Every check still runs per request, and
    the secrets copy is never kept."""
    global _kept
    _kept = {}


_kept: "dict[str, tuple[tuple[int, ...], bytes, dict[str, list[bytes]]]] | None" = None


def has_unread(items: "list[dict[str, Any]]") -> bool:
    """Does a record hold an object the copy left out (which a writer must never see)?"""
    return any(type(value) is Unread for item in items for value in item.values())


def secret(directory: str, record_id: str) -> str | None:
    """The file store's secret for ``record_id``; None when absent or the copy is not fresh."""
    data = _fresh(directory + "/" + SECRETS, SECRETS_MAGIC, directory + "/secrets.json")
    needle = b"\n" + record_id.encode() + b"\t"
    at = -1 if data is None else data.find(needle)
    if data is None or at < 0:
        return None
    start = at + len(needle)
    try:
        return data[start:data.index(b"\n", start)].decode()
    except ValueError:
        return None


def _lines_for(path: str, data: bytes, host: str) -> list[bytes]:
    """The fields of every line for ``host`` (remembered with a kept copy)."""
    kept = None if _kept is None else _kept.get(path)
    memo = kept[2] if kept is not None and kept[1] is data else None
    if memo is not None and host in memo:
        return memo[host]
    needle = b"\n" + host.encode() + b"\t"
    found = []
    at = data.find(needle)
    while at >= 0:
        end = data.index(b"\n", at + 1)
        found.append(data[at + len(needle):end])
        at = data.find(needle, end)
    if memo is not None:
        if len(memo) > 256:
            memo.clear()           # a bound, whatever hosts are asked about
        memo[host] = found
    return found


def _records(lines: list[bytes], host: str) -> "list[dict[str, Any]] | None":
    found = []
    for line in lines:
        fields = line.split(b"\t")
        if fields == [CANNOT] or len(fields) % 2:
            return None
        record: dict[str, Any] = {"host": host}
        for index in range(0, len(fields), 2):
            record[fields[index].decode()] = _value(fields[index + 1])
        found.append(record)
    return found


def _value(raw: bytes) -> object:
    decode = _DECODERS.get(raw[:1])
    if decode is None:
        raise ValueError("unknown value")
    return decode(raw[1:])


def _null(text: bytes) -> None:
    if text:
        raise ValueError("not null")


def _flag(text: bytes) -> bool:
    if text not in (b"0", b"1"):
        raise ValueError("not a boolean")
    return text == b"1"


def _texts(text: bytes) -> list[str]:
    if text[:1] not in (b"", ITEM.encode()):
        raise ValueError("not a list")
    return [item.decode() for item in text.split(ITEM.encode())[1:]]


_DECODERS: "dict[bytes, Callable[[bytes], object]]" = {
    b"s": bytes.decode, b"i": int, b"f": float, b"n": _null, b"b": _flag, b"l": _texts,
    b"o": lambda text: _null(text) if text else Unread()}


def _fresh(path: str, magic: bytes, source: str) -> bytes | None:
    """The copy at ``path`` when it is safe and was made from ``source`` as it is now."""
    data = _read(path)
    made_from = None if data is None else _header(data, magic)
    if data is None or made_from is None:
        return None
    try:
        info = posix.stat(source)
    except OSError:
        return None
    body = len(data) - data.find(b"\n") - 1
    current = [info.st_ino, info.st_size, info.st_mtime_ns, body]
    if made_from != current or unsafe_reason(info, source) or not data.endswith(b"\n"):
        return None
    return data


def _header(data: bytes, magic: bytes) -> list[int] | None:
    """(inode, size, mtime_ns, bytes) from the first line, or None."""
    head = data[:data.find(b"\n")].split(b"\t")
    if len(head) != 6 or head[:2] != [magic, VERSION]:
        return None
    try:
        return [int(field) for field in head[2:]]
    except ValueError:
        return None


def _read(path: str) -> bytes | None:
    """The bytes of a regular file that is safe to trust (checked on the open descriptor)."""
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK)   # a FIFO must not block
    except OSError:
        return None
    try:
        info = posix.fstat(fd)
        if not is_file(info) or info.st_size > MAX_SIZE or unsafe_reason(info, path):
            return None
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        kept = None if _kept is None else _kept.get(path)
        if kept is not None and kept[0] == identity:
            return kept[1]
        data = b""
        while chunk := posix.read(fd, info.st_size + 1):
            data += chunk
    except OSError:
        return None
    finally:
        posix.close(fd)
    if _kept is not None and path.endswith("/" + TOKENS):
        _kept[path] = (identity, data, {})
    return data


def _safe_neighbours(directory: str) -> bool:
    """The data dir and the secrets' files, as ``TokenIndex.load`` checks them (absent is
    fine)."""
    for name in NEIGHBOURS:
        try:
            info = posix.stat(directory + name)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if unsafe_reason(info, directory + name):
            return False
    return True


def tokens_fresh(directory: str) -> bool:
    return bool(_fresh(directory + "/" + TOKENS, TOKENS_MAGIC, directory + "/tokens.json"))


def secrets_fresh(directory: str) -> bool:
    return bool(_fresh(directory + "/" + SECRETS, SECRETS_MAGIC, directory + "/secrets.json"))
