"""The Sparkplug B schema against a payload written byte by byte from the wire format, with
field numbers taken from the specification rather than from the package."""

from __future__ import annotations

import struct

import pytest

from shopfloor.connectors.base import Unreadable
from shopfloor.connectors.sparkplug import (
    DataType,
    Payload,
)
from tests.connectors.test_sparkplug import NOW_US, T0_MS, decoder, readings


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _len(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def test_the_schema_reads_a_payload_written_by_hand():
    """Bytes laid out from the specification's field numbers, not by this package's schema:
    a wrong number or wire type in the schema fails here."""
    metadata = _len(2, b"text/plain") + _key(3, 0) + _varint(12)  # content_type, size
    properties = _len(1, b"unit") + _len(2, _key(1, 0) + _varint(12) + _len(8, b"degC"))
    temp = (
        _len(1, b"Oven/Temp")  # name
        + _key(2, 0) + _varint(7)  # alias
        + _key(3, 0) + _varint(T0_MS + 1)  # timestamp
        + _key(4, 0) + _varint(10)  # datatype Double
        + _len(8, metadata)
        + _len(9, properties)
        + _key(13, 1) + struct.pack("<d", 21.5)  # double_value, fixed64
    )  # fmt: skip
    level = _len(1, b"Level") + _key(4, 0) + _varint(9) + _key(12, 5) + struct.pack("<f", 0.25)
    door = _len(1, b"Door") + _key(4, 0) + _varint(11) + _key(14, 0) + _varint(1)
    count = _len(1, b"Count") + _key(4, 0) + _varint(8) + _key(11, 0) + _varint(2**64 - 2)
    delta = _len(1, b"Delta") + _key(4, 0) + _varint(2) + _key(10, 0) + _varint(0xFFFF_FFFD)
    historical = _len(1, b"Old") + _key(5, 0) + _varint(1) + _key(4, 0) + _varint(3)
    historical += _key(10, 0) + _varint(5)
    payload = (
        _key(1, 0) + _varint(T0_MS)  # timestamp
        + b"".join(_len(2, m) for m in (temp, level, door, count, delta, historical))
        + _key(3, 0) + _varint(0)  # seq
        + _len(4, b"uuid-1")
        + _key(7, 0) + _varint(99)  # a third-party extension: skipped
    )  # fmt: skip
    # The helpers above against bytes written out by hand.
    assert door == b"\x0a\x04Door\x20\x0b\x70\x01"
    assert delta.endswith(b"\x50\xfd\xff\xff\xff\x0f")

    message = Payload.FromString(payload)
    assert (message.timestamp, message.seq, message.uuid) == (T0_MS, 0, "uuid-1")
    first = message.metrics[0]
    assert (first.name, first.alias, first.datatype) == ("Oven/Temp", 7, DataType.Double)
    assert first.timestamp == T0_MS + 1
    assert first.metadata.content_type == "text/plain" and first.metadata.size == 12
    assert first.properties.keys == ["unit"]
    assert first.properties.values[0].string_value == "degC"
    assert message.metrics[5].is_historical

    decoded = decoder().decode("spBv1.0/g/NBIRTH/n", payload, NOW_US)
    assert readings(decoded) == {
        "g/n/oven/temp": 21.5,
        "g/n/level": 0.25,
        "g/n/door": 1.0,
        "g/n/count": float(2**64 - 2),
        "g/n/delta": -3.0,
        "g/n/old": 5.0,
    }
    assert decoded.ts_us == [(T0_MS + 1) * 1000] + [T0_MS * 1000] * 5
    assert decoded.problems == []


def test_names_that_are_not_utf8_are_refused():
    broken = _len(1, b"\xff\xfe") + _key(4, 0) + _varint(10) + _key(13, 1) + bytes(8)
    good = _len(1, b"ok") + _key(4, 0) + _varint(10) + _key(13, 1) + struct.pack("<d", 1.0)
    dec = decoder()
    decoded = dec.decode("spBv1.0/g/NBIRTH/n", _len(2, broken) + _len(2, good), NOW_US)
    assert decoded.values == [1.0]
    assert decoded.problems[-1] == "a metric of the NBIRTH of g/n has a name that is not UTF-8"
    with pytest.raises(Unreadable, match="has a name that is not UTF-8"):
        dec.decode("spBv1.0/g/NDATA/n", _len(2, broken), NOW_US)
