"""Building Sparkplug B payloads: the rebirth command, and births and data for tests and the
benchmark publisher."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TypedDict

from shopfloor.connectors.sparkplug.schema import DataType, Payload
from shopfloor.connectors.sparkplug.topic import format_topic

REBIRTH_METRIC = "Node Control/Rebirth"

# Signed integers travel as unsigned protobuf fields: a negative value is sent as its two's
# complement at the width of its type (so Int8 -1 is 255), as the Tahu reference library does.
_WIDTH = {
    DataType.Int8: 8,
    DataType.Int16: 16,
    DataType.Int32: 32,
    DataType.Int64: 64,
    DataType.UInt8: 8,
    DataType.UInt16: 16,
    DataType.UInt32: 32,
    DataType.UInt64: 64,
}
_SIGNED = {DataType.Int8, DataType.Int16, DataType.Int32, DataType.Int64}
_FIELD = {
    DataType.Int8: "int_value",
    DataType.Int16: "int_value",
    DataType.Int32: "int_value",
    DataType.UInt8: "int_value",
    DataType.UInt16: "int_value",
    DataType.UInt32: "int_value",
    DataType.Int64: "long_value",
    DataType.UInt64: "long_value",
    DataType.DateTime: "long_value",
    DataType.Float: "float_value",
    DataType.Double: "double_value",
    DataType.Boolean: "boolean_value",
    DataType.String: "string_value",
    DataType.Text: "string_value",
    DataType.UUID: "string_value",
    DataType.Bytes: "bytes_value",
    DataType.File: "bytes_value",
}


class MetricSpec(TypedDict, total=False):
    """One metric to encode; every key is optional.

    ``datatype`` is a ``DataType``, its number or its name ("Double"); without it the value's
    Python type decides (bool → Boolean, int → Int64 or UInt64, float → Double, str → String,
    bytes → Bytes). A ``value`` of None is sent as ``is_null``.
    """

    name: str
    alias: int
    datatype: DataType | int | str
    value: bool | int | float | str | bytes | None
    timestamp: int  # ms since the epoch
    is_historical: bool
    is_transient: bool


def encode_payload(
    metrics: Iterable[MetricSpec | dict[str, Any]] = (),
    *,
    seq: int | None = None,
    timestamp: int | None = None,
    uuid: str | None = None,
) -> bytes:
    """A serialized Sparkplug B ``Payload``; ``timestamp`` in ms since the epoch.

    Raises ``ValueError`` for a value that its datatype cannot carry.
    """
    payload = Payload()
    if timestamp is not None:
        payload.timestamp = timestamp
    if seq is not None:
        payload.seq = seq
    if uuid is not None:
        payload.uuid = uuid
    for spec in metrics:
        _add_metric(payload, spec)
    return payload.SerializeToString()


def rebirth_command(group: str, node: str, *, timestamp: int | None = None) -> tuple[str, bytes]:
    """The NCMD topic and payload that ask an edge node to publish its births again.

    The specification's form: one Boolean metric ``Node Control/Rebirth`` set to true, with a
    payload timestamp (ms, now by default) and no sequence number (commands carry none).
    """
    when = round(time.time() * 1000) if timestamp is None else timestamp
    payload = encode_payload(
        [{"name": REBIRTH_METRIC, "datatype": DataType.Boolean, "value": True}], timestamp=when
    )
    return format_topic(group, "NCMD", node), payload


def _add_metric(payload: Any, spec: MetricSpec | dict[str, Any]) -> None:
    metric = payload.metrics.add()
    name = spec.get("name")
    if name is not None:
        metric.name = name
    if spec.get("alias") is not None:
        metric.alias = spec["alias"]
    if spec.get("timestamp") is not None:
        metric.timestamp = spec["timestamp"]
    if spec.get("is_historical"):
        metric.is_historical = True
    if spec.get("is_transient"):
        metric.is_transient = True
    value = spec.get("value")
    datatype = _datatype(spec.get("datatype"), value, name)
    if datatype is not None:
        metric.datatype = datatype
    if value is None:
        metric.is_null = True
        return
    if datatype is None:
        raise ValueError(f"metric {name!r}: cannot tell the datatype of {value!r}")
    field = _FIELD.get(datatype)
    if field is None:
        raise ValueError(f"metric {name!r}: {datatype.name} values are not supported here")
    if datatype in _WIDTH:
        value = _wrapped(name, datatype, value)
    try:
        setattr(metric, field, value)
    except TypeError:
        raise ValueError(f"metric {name!r}: {value!r} is not a {datatype.name} value") from None


def _datatype(given: DataType | int | str | None, value: Any, name: str | None) -> DataType | None:
    if isinstance(given, str):
        try:
            return DataType[given]
        except KeyError:
            raise ValueError(f"metric {name!r}: unknown datatype {given!r}") from None
    if given is not None:
        return DataType(given)
    if isinstance(value, bool):
        return DataType.Boolean
    if isinstance(value, int):
        return DataType.UInt64 if value >= 2**63 else DataType.Int64
    if isinstance(value, float):
        return DataType.Double
    if isinstance(value, str):
        return DataType.String
    if isinstance(value, bytes):
        return DataType.Bytes
    return None


def _wrapped(name: str | None, datatype: DataType, value: Any) -> int:
    if not isinstance(value, int):
        raise ValueError(f"metric {name!r}: a {datatype.name} value must be an integer")
    bits = _WIDTH[datatype]
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1)) if datatype in _SIGNED else (0, 2**bits)
    if not low <= value < high:
        raise ValueError(f"metric {name!r}: {value} does not fit in {datatype.name}")
    return value % 2**bits
