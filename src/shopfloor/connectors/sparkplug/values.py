"""The number a Sparkplug metric carries, by its datatype."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf.message import DecodeError

from shopfloor.connectors.base import Unreadable
from shopfloor.connectors.sparkplug.schema import DataType, Payload

NUMERIC = frozenset(range(DataType.Int8, DataType.Boolean + 1))
NUMERIC_FIELDS = frozenset(
    {"int_value", "long_value", "float_value", "double_value", "boolean_value"}
)
# Signed integers travel in unsigned fields. Reading the low bits of the type's width as two's
# complement gives the right number whether the sender wrapped the value at the type's width
# (Int8 -1 sent as 255) or at the field's (sent as 4294967295).
_SIGNED_BITS = {DataType.Int8: 8, DataType.Int16: 16, DataType.Int32: 32, DataType.Int64: 64}
# Without a datatype from the message or a birth, the field holding the value is all there
# is; integers are then taken as unsigned since nothing says otherwise.
_BY_FIELD = {
    "int_value": DataType.UInt32,
    "long_value": DataType.UInt64,
    "float_value": DataType.Float,
    "double_value": DataType.Double,
    "boolean_value": DataType.Boolean,
    "string_value": DataType.String,
    "bytes_value": DataType.Bytes,
    "dataset_value": DataType.DataSet,
    "template_value": DataType.Template,
}


def parse_payload(payload: bytes) -> Any:
    try:
        return Payload.FromString(payload)
    except DecodeError as exc:
        raise Unreadable(f"not a Sparkplug B payload: {exc}") from None


def bd_seq_of(message: Any) -> int | None:
    for metric in message.metrics:
        if metric.name == "bdSeq":
            kind = metric.WhichOneof("value")
            if kind in ("int_value", "long_value"):
                return getattr(metric, kind)
    return None


def datatype_of(metric: Any) -> int:
    """The metric's datatype, else the one its value's field suggests."""
    if metric.HasField("datatype"):
        return metric.datatype
    return _BY_FIELD.get(metric.WhichOneof("value"), DataType.Unknown)


def metric_value(metric: Any, datatype: int) -> float | str:
    """The metric's number, or why it has none."""
    if metric.is_null:
        return "null value"
    if datatype not in NUMERIC:
        try:
            return f"{DataType(datatype).name} is not numeric"
        except ValueError:
            return f"unknown datatype {datatype}"
    kind = metric.WhichOneof("value")
    if kind not in NUMERIC_FIELDS:
        carries = f"carries a {kind}" if kind else "has no value"
        return f"a {DataType(datatype).name} metric that {carries}"
    raw = getattr(metric, kind)
    bits = _SIGNED_BITS.get(datatype)
    if bits is not None and kind in ("int_value", "long_value"):
        raw &= (1 << bits) - 1
        if raw >> (bits - 1):
            raw -= 1 << bits
    value = float(raw)
    if not math.isfinite(value):
        return f"value {value} is not finite"
    return value
