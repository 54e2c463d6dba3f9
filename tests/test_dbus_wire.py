"""The D-Bus wire format of the Secret Service read (credhelper/stores/dbus_wire.py): generated
types and values round-trip in both byte orders, agree with jeepney (an independent
implementation) both ways, and any bytes at all either parse or raise WireError, never
anything else.

Deterministic (``derandomize=True``); ``CREDHELPER_HYPOTHESIS_EXAMPLES=N`` runs N cases
instead (tests/support/hypothesis_profiles.py).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credhelper.stores import dbus_wire as wire
from credhelper.stores.secret_service import bus_path
from tests.support.hypothesis_profiles import examples

BASE = dict(max_examples=examples(200), derandomize=True, deadline=None)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               max_size=12)
PATHS = st.sampled_from(["/", "/org/freedesktop/secrets", "/a/b_1/C"])
SIGNATURES = st.sampled_from(["", "s", "a{sv}", "(ii)", "aoao"])
BASIC_VALUES = {
    "y": st.integers(0, 255), "b": st.booleans(),
    "n": st.integers(-2 ** 15, 2 ** 15 - 1), "q": st.integers(0, 2 ** 16 - 1),
    "i": st.integers(-2 ** 31, 2 ** 31 - 1), "u": st.integers(0, 2 ** 32 - 1),
    "x": st.integers(-2 ** 63, 2 ** 63 - 1), "t": st.integers(0, 2 ** 64 - 1),
    "s": TEXT, "o": PATHS, "g": SIGNATURES}
BASIC = st.sampled_from(sorted(BASIC_VALUES))


def containers(inner):
    return st.one_of(inner.map(lambda kind: "a" + kind),
                     st.lists(inner, min_size=1, max_size=3).map(lambda k: "(%s)" % "".join(k)),
                     st.tuples(BASIC, inner).map(lambda kv: "a{%s%s}" % kv))


TYPES = st.recursive(st.one_of(BASIC, st.just("v")), containers, max_leaves=4)


@st.composite
def values(draw, kind):
    if kind in BASIC_VALUES:
        return draw(BASIC_VALUES[kind])
    if kind == "v":
        inner = draw(st.one_of(BASIC, BASIC.map(lambda kind: "a" + kind), st.just("v")))
        return inner, draw(values(inner))
    if kind == "ay":
        return draw(st.binary(max_size=20))
    if kind.startswith("a{"):
        key, item = wire.split(kind[2:-1])
        return draw(st.dictionaries(values(key), values(item), max_size=3))
    if kind[0] == "a":
        return draw(st.lists(values(kind[1:]), max_size=3))
    return tuple(draw(values(part)) for part in wire.split(kind[1:-1]))


@st.composite
def bodies(draw):
    kinds = draw(st.lists(TYPES, max_size=4))
    return "".join(kinds), tuple(draw(values(kind)) for kind in kinds)


@settings(**BASE)
@given(body=bodies(), order=st.sampled_from(["little", "big"]))
def test_values_round_trip(body, order):
    signature, items = body
    data = wire.marshal(signature, items, order)
    assert wire.unmarshal(signature, data, 0, order) == items


@settings(**BASE)
@given(body=bodies(), serial=st.integers(1, 2 ** 32 - 1), tail=st.binary(max_size=8),
       order=st.sampled_from(["little", "big"]))
def test_messages_round_trip_and_agree_with_jeepney(body, serial, tail, order):
    from jeepney import DBusAddress, new_method_call
    from jeepney.low_level import Message

    signature, items = body
    fields = {wire.PATH: "/org/x", wire.MEMBER: "Get", wire.DESTINATION: "org.x"}
    data = wire.message(wire.METHOD_CALL, serial, fields, signature, items, order)
    parsed, size = wire.parse(data + tail)       # what follows is the next message's
    assert size == len(data) and parsed.serial == serial and parsed.kind == wire.METHOD_CALL
    assert parsed.body == items
    assert {k: v for k, v in parsed.fields.items() if k != wire.SIGNATURE} == fields
    theirs = Message.from_buffer(data)
    assert theirs.body == items and theirs.header.serial == serial
    ours = new_method_call(DBusAddress("/org/x", "org.x"), "Get", signature or None, items)
    assert wire.parse(ours.serialise(serial))[0].body == items


@settings(**BASE)
@given(data=st.binary(max_size=300), kind=TYPES)
def test_any_bytes_parse_or_raise_wire_error(data, kind):
    for attempt in (lambda: wire.parse(data), lambda: wire.unmarshal(kind, data),
                    lambda: wire.parse(b"l\x02\x00\x01" + data)):
        try:
            attempt()
        except wire.WireError:
            pass


@settings(**BASE)
@given(body=bodies(), flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)),
                                     min_size=1, max_size=4), cut=st.integers(0, 10 ** 6))
def test_damaged_messages_parse_or_raise_wire_error(body, flips, cut):
    """Valid messages with bytes changed or cut off, which reach the deep parts of the
    reader that random bytes rarely do."""
    data = bytearray(wire.message(wire.METHOD_RETURN, 7, {wire.REPLY_SERIAL: 3}, *body))
    for at, value in flips:
        data[at % len(data)] = value
    for damaged in (bytes(data), bytes(data[:cut % (len(data) + 1)])):
        try:
            found, size = wire.parse(damaged)
        except wire.WireError:
            continue
        assert (found is None and size == 0) or 0 < size <= len(damaged)


@pytest.mark.parametrize("signature", ["a", "a{vs}", "()", "(s", "a{s}", "a{sss}", "z", "{ss}",
                                       "a" * 70 + "s", "(" * 70 + "s" + ")" * 70, "x" * 256])
def test_bad_signatures_are_refused(signature):
    with pytest.raises(wire.WireError):
        wire.split(signature)


def test_limits_are_enforced():
    with pytest.raises(wire.WireError):     # a header that announces more than MAX_MESSAGE
        wire.parse(b"l\x02\x00\x01" + (wire.MAX_MESSAGE).to_bytes(4, "little") + bytes(8))
    assert wire.parse(wire.message(wire.SIGNAL, 1, {})[:-1]) == (None, 0)    # incomplete
    with pytest.raises(wire.WireError):
        wire.unmarshal("s", b"\x01\x00\x00\x00a\x01")       # not NUL-terminated
    with pytest.raises(wire.WireError):
        wire.unmarshal("yu", b"\x01\x01\x00\x00\x05\x00\x00\x00")   # padding not zero
    with pytest.raises(wire.WireError):
        wire.unmarshal("b", b"\x02\x00\x00\x00")


@pytest.mark.parametrize("address, path", [
    ("unix:path=/run/user/1000/bus", b"/run/user/1000/bus"),
    ("unix:abstract=/tmp/dbus-Xy1,guid=0123abcd", b"\0/tmp/dbus-Xy1"),
    ("unix:guid=01,path=/tmp/a%20b%2c", b"/tmp/a b,"),
    ("tcp:host=localhost,port=1;unix:path=/s", b"/s"),
    ("tcp:host=localhost,port=1", None), ("unix:runtime=yes", None), ("", None),
    ("unix:tmpdir=/tmp", None), ("nonsense", None)])
def test_bus_addresses(address, path):
    assert bus_path(address) == path
