"""The D-Bus wire format, as far as a Secret Service read needs it: marshalling of the basic
and container types (no ``d`` double, no ``h`` file descriptor) and the message header.

Written for the ``get`` hot path (``secret_service.py``): builtins only, no ``struct``, no
imports at all.  The reader is for bytes another process sent: every length is bounded
(``MAX_MESSAGE``), nesting is bounded (``MAX_DEPTH``), padding must be zero, texts must be
UTF-8 without NUL, and whatever does not parse raises ``WireError``, never anything else.

Values: integers as ``int``, ``b`` as ``bool``, ``s``/``o``/``g`` as ``str``, ``ay`` as
``bytes``, other arrays as ``list``, ``a{..}`` as ``dict``, structs as ``tuple``, a variant
as ``(signature, value)``.  Reference: the D-Bus Specification, "Message Protocol".
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    Order = Literal["little", "big"]

MAX_MESSAGE = 1 << 20      # far more than an answer about one secret needs
MAX_DEPTH = 64             # the specification's limit on nested containers
FIXED = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8}
SIGNED = "nix"
BASIC = "ybnqiuxtsog"
ALIGN = dict(FIXED, s=4, o=4, g=1, v=1, a=4, **{"(": 8, "{": 8})
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER, SIGNATURE = range(1, 9)
FIELD_TYPES = {PATH: "o", INTERFACE: "s", MEMBER: "s", ERROR_NAME: "s", REPLY_SERIAL: "u",
               DESTINATION: "s", SENDER: "s", SIGNATURE: "g", 9: "u"}
HEADER = "(yyyyuua(yv))"


class WireError(Exception):
    """Bytes or values that are not D-Bus this module handles."""


# -- signatures ---------------------------------------------------------------------------------

def split(signature: str) -> list[str]:
    """The complete types of ``signature``, in order."""
    if len(signature) > 255:
        raise WireError("signature too long")
    types, at = [], 0
    while at < len(signature):
        end = _end(signature, at, 0)
        types.append(signature[at:end])
        at = end
    return types


def _end(signature: str, at: int, depth: int) -> int:
    """Where the complete type starting at ``at`` ends."""
    if depth > MAX_DEPTH or at >= len(signature):
        raise WireError("incomplete signature")
    code = signature[at]
    if code in BASIC or code == "v":
        return at + 1
    if code == "a" and signature[at + 1:at + 2] == "{":
        if signature[at + 2:at + 3] not in tuple(BASIC):
            raise WireError("dict key not basic")
        end = _end(signature, at + 3, depth + 1)
        if signature[end:end + 1] != "}":
            raise WireError("dict entry not closed")
        return end + 1
    if code == "a":
        return _end(signature, at + 1, depth + 1)
    if code != "(" or signature[at + 1:at + 2] == ")":
        raise WireError("bad type code")
    at += 1
    while signature[at:at + 1] != ")":
        at = _end(signature, at, depth + 1)
    return at + 1


def _single(signature: str) -> str:
    if len(split(signature)) != 1:
        raise WireError("not one complete type")
    return signature


# -- writing ------------------------------------------------------------------------------------

class Writer:
    def __init__(self, order: "Order" = "little") -> None:
        self.data = bytearray()
        self.order = order

    def pad(self, size: int) -> None:
        self.data += bytes(-len(self.data) % size)

    def put(self, kind: str, value: "Any", depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise WireError("too deep")
        self.pad(ALIGN[kind[0]])
        if kind in FIXED:
            if kind == "b" and type(value) is not bool:
                raise WireError("not a boolean")
            self.data += int(value).to_bytes(FIXED[kind], self.order, signed=kind in SIGNED)
        elif kind in ("s", "o", "g"):
            self._text(kind, value)
        elif kind == "v":
            signature, inner = value
            self.put("g", _single(signature))
            self.put(signature, inner, depth + 1)
        elif kind[0] == "a":
            self._array(kind[1:], value, depth)
        else:
            items = split(kind[1:-1])
            if len(items) != len(value):
                raise WireError("struct length")
            for item, part in zip(items, value, strict=True):
                self.put(item, part, depth + 1)

    def _text(self, kind: str, value: str) -> None:
        data = value.encode()
        if b"\0" in data:
            raise WireError("NUL in a text")
        if kind == "g":
            split(value)
            self.data += bytes([len(data)])
        else:
            self.data += len(data).to_bytes(4, self.order)
        self.data += data + b"\0"

    def _array(self, element: str, value: "Any", depth: int) -> None:
        at = len(self.data)
        self.data += bytes(4)
        self.pad(ALIGN[element[0]])
        start = len(self.data)
        if element == "y":
            self.data += bytes(value)
        elif element[0] == "{":
            key, item = split(element[1:-1])
            for entry in value.items():
                self.put("(%s%s)" % (key, item), entry, depth + 1)
        else:
            for item in value:
                self.put(element, item, depth + 1)
        self.data[at:at + 4] = (len(self.data) - start).to_bytes(4, self.order)


def marshal(signature: str, values: "tuple[Any, ...]", order: "Order" = "little") -> bytes:
    """A body (which starts 8-aligned) holding ``values`` of ``signature``."""
    if not signature and not values:
        return b""
    writer = Writer(order)
    writer.put("(%s)" % signature, values)
    return bytes(writer.data)


def message(kind: int, serial: int, fields: "dict[int, Any]", signature: str = "",
            body: "tuple[Any, ...]" = (), order: "Order" = "little") -> bytes:
    """One whole message: header fields ``{code: value}`` (typed by ``FIELD_TYPES``)."""
    data = marshal(signature, body, order)
    if signature:
        fields = dict(fields)
        fields[SIGNATURE] = signature
    header = Writer(order)
    header.put(HEADER, (ord("l" if order == "little" else "B"), kind, 0, 1, len(data), serial,
                        [(code, (FIELD_TYPES[code], value)) for code, value in fields.items()]))
    header.pad(8)
    return bytes(header.data) + data


# -- reading ------------------------------------------------------------------------------------

class Reader:
    def __init__(self, data: bytes, at: int = 0, order: "Order" = "little") -> None:
        self.data, self.at, self.order = data, at, order

    def take(self, size: int) -> bytes:
        end = self.at + size
        if size < 0 or end > len(self.data):
            raise WireError("truncated")
        chunk = self.data[self.at:end]
        self.at = end
        return chunk

    def align(self, size: int) -> None:
        if any(self.take(-self.at % size)):
            raise WireError("padding not zero")

    def get(self, kind: str, depth: int = 0) -> "Any":
        if depth > MAX_DEPTH:
            raise WireError("too deep")
        self.align(ALIGN[kind[0]])
        if kind in FIXED:
            number = int.from_bytes(self.take(FIXED[kind]), self.order, signed=kind in SIGNED)
            if kind == "b" and number not in (0, 1):
                raise WireError("not a boolean")
            return bool(number) if kind == "b" else number
        if kind in ("s", "o", "g"):
            return self._text(kind)
        if kind == "v":
            signature = _single(self.get("g"))
            return signature, self.get(signature, depth + 1)
        if kind[0] == "a":
            return self._array(kind[1:], depth)
        return tuple(self.get(item, depth + 1) for item in split(kind[1:-1]))

    def _text(self, kind: str) -> str:
        size = self.take(1)[0] if kind == "g" else self.get("u")
        raw = self.take(size)
        if self.take(1) != b"\0" or b"\0" in raw:
            raise WireError("text not NUL-terminated")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise WireError("text not UTF-8") from None
        if kind == "g":
            split(text)
        return text

    def _array(self, element: str, depth: int) -> "Any":
        size = self.get("u")
        self.align(ALIGN[element[0]])
        if size > len(self.data) - self.at:
            raise WireError("array too long")
        if element == "y":
            return self.take(size)
        end = self.at + size
        if element[0] == "{":
            key, item = split(element[1:-1])
            entries = self._items("(%s%s)" % (key, item), end, depth)
            return dict(entries)
        return self._items(element, end, depth)

    def _items(self, element: str, end: int, depth: int) -> list["Any"]:
        items = []
        while self.at < end:
            items.append(self.get(element, depth + 1))
        if self.at != end:
            raise WireError("array length")
        return items


def unmarshal(signature: str, data: bytes, at: int = 0, order: "Order" = "little"
              ) -> "tuple[Any, ...]":
    """The values of ``signature`` in ``data[at:]``, which they must fill exactly."""
    reader = Reader(data, at, order)
    values = tuple(reader.get(kind) for kind in split(signature))
    if reader.at != len(data):
        raise WireError("bytes after the body")
    return values


class Message:
    """One message read: its type, serial, header fields ``{code: value}`` and body."""

    __slots__ = ("kind", "serial", "fields", "body")

    def __init__(self, kind: int, serial: int, fields: "dict[int, Any]",
                 body: "tuple[Any, ...]") -> None:
        self.kind, self.serial, self.fields, self.body = kind, serial, fields, body


def parse(data: bytes) -> "tuple[Message | None, int]":
    """The first message in ``data`` and its length, or (None, 0) while it is incomplete."""
    if len(data) < 16:
        return None, 0
    orders: "dict[int, Order]" = {0x6C: "little", 0x42: "big"}
    order = orders.get(data[0])
    if order is None or data[3] != 1:
        raise WireError("not a D-Bus message")
    fields_size = int.from_bytes(data[12:16], order)
    total = 16 + fields_size + (-fields_size % 8) + int.from_bytes(data[4:8], order)
    if total > MAX_MESSAGE:
        raise WireError("message too long")
    if len(data) < total:
        return None, 0
    whole = data[:total]
    reader = Reader(whole, 0, order)
    _, kind, _, _, _, serial, items = reader.get(HEADER)
    reader.align(8)
    fields = {}
    for code, (signature, value) in items:
        if FIELD_TYPES.get(code, signature) != signature:
            raise WireError("header field of the wrong type")
        fields[code] = value
    return Message(kind, serial, fields, unmarshal(fields.get(SIGNATURE, ""), whole,
                                                   reader.at, order)), total
