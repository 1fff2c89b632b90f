"""The Sparkplug B payload schema (``sparkplug_b.proto`` of the Sparkplug 3.0 specification).

The messages are described by the table below and turned into protobuf classes when this
module is imported: no generated code and no build step. Every message of the specification is
declared with all its fields, even those the decoder never reads, because a field declared
with the wrong number or type would make the parser refuse (or misread) valid payloads; the
``*Extension`` messages are empty, as in the specification, so their contents are kept as
unknown fields. Names and nesting follow the specification so its text can be read alongside.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "org.eclipse.tahu.protobuf"

# Field modifiers: a plain optional field, a repeated one, a member of the message's
# ``oneof value`` (every oneof of the specification is called ``value``).
OPT, REP, ONE = "optional", "repeated", "oneof"

# message (nested names joined by '.') -> (field name, number, type, modifier); a type that is
# not a protobuf scalar names another message of this table.
MESSAGES: dict[str, tuple[tuple[str, int, str, str], ...]] = {
    "Payload": (
        ("timestamp", 1, "uint64", OPT),  # ms since the epoch, when the message was sent
        ("metrics", 2, "Payload.Metric", REP),
        ("seq", 3, "uint64", OPT),  # 0-255 per edge node, wrapping
        ("uuid", 4, "string", OPT),
        ("body", 5, "bytes", OPT),
    ),
    "Payload.Template": (
        ("version", 1, "string", OPT),
        ("metrics", 2, "Payload.Metric", REP),
        ("parameters", 3, "Payload.Template.Parameter", REP),
        ("template_ref", 4, "string", OPT),
        ("is_definition", 5, "bool", OPT),
    ),
    "Payload.Template.Parameter": (
        ("name", 1, "string", OPT),
        ("type", 2, "uint32", OPT),
        ("int_value", 3, "uint32", ONE),
        ("long_value", 4, "uint64", ONE),
        ("float_value", 5, "float", ONE),
        ("double_value", 6, "double", ONE),
        ("boolean_value", 7, "bool", ONE),
        ("string_value", 8, "string", ONE),
        ("extension_value", 9, "Payload.Template.Parameter.ParameterValueExtension", ONE),
    ),
    "Payload.Template.Parameter.ParameterValueExtension": (),
    "Payload.DataSet": (
        ("num_of_columns", 1, "uint64", OPT),
        ("columns", 2, "string", REP),
        ("types", 3, "uint32", REP),
        ("rows", 4, "Payload.DataSet.Row", REP),
    ),
    "Payload.DataSet.DataSetValue": (
        ("int_value", 1, "uint32", ONE),
        ("long_value", 2, "uint64", ONE),
        ("float_value", 3, "float", ONE),
        ("double_value", 4, "double", ONE),
        ("boolean_value", 5, "bool", ONE),
        ("string_value", 6, "string", ONE),
        ("extension_value", 7, "Payload.DataSet.DataSetValue.DataSetValueExtension", ONE),
    ),
    "Payload.DataSet.DataSetValue.DataSetValueExtension": (),
    "Payload.DataSet.Row": (("elements", 1, "Payload.DataSet.DataSetValue", REP),),
    "Payload.PropertyValue": (
        ("type", 1, "uint32", OPT),
        ("is_null", 2, "bool", OPT),
        ("int_value", 3, "uint32", ONE),
        ("long_value", 4, "uint64", ONE),
        ("float_value", 5, "float", ONE),
        ("double_value", 6, "double", ONE),
        ("boolean_value", 7, "bool", ONE),
        ("string_value", 8, "string", ONE),
        ("propertyset_value", 9, "Payload.PropertySet", ONE),
        ("propertysets_value", 10, "Payload.PropertySetList", ONE),
        ("extension_value", 11, "Payload.PropertyValue.PropertyValueExtension", ONE),
    ),
    "Payload.PropertyValue.PropertyValueExtension": (),
    "Payload.PropertySet": (
        ("keys", 1, "string", REP),
        ("values", 2, "Payload.PropertyValue", REP),
    ),
    "Payload.PropertySetList": (("propertyset", 1, "Payload.PropertySet", REP),),
    "Payload.MetaData": (
        ("is_multi_part", 1, "bool", OPT),
        ("content_type", 2, "string", OPT),
        ("size", 3, "uint64", OPT),
        ("seq", 4, "uint64", OPT),
        ("file_name", 5, "string", OPT),
        ("file_type", 6, "string", OPT),
        ("md5", 7, "string", OPT),
        ("description", 8, "string", OPT),
    ),
    "Payload.Metric": (
        ("name", 1, "string", OPT),  # in births; data messages may carry only the alias
        ("alias", 2, "uint64", OPT),
        ("timestamp", 3, "uint64", OPT),  # ms since the epoch, when the value was taken
        ("datatype", 4, "uint32", OPT),  # a DataType; required in births only
        ("is_historical", 5, "bool", OPT),
        ("is_transient", 6, "bool", OPT),
        ("is_null", 7, "bool", OPT),
        ("metadata", 8, "Payload.MetaData", OPT),
        ("properties", 9, "Payload.PropertySet", OPT),
        ("int_value", 10, "uint32", ONE),
        ("long_value", 11, "uint64", ONE),
        ("float_value", 12, "float", ONE),
        ("double_value", 13, "double", ONE),
        ("boolean_value", 14, "bool", ONE),
        ("string_value", 15, "string", ONE),
        ("bytes_value", 16, "bytes", ONE),
        ("dataset_value", 17, "Payload.DataSet", ONE),
        ("template_value", 18, "Payload.Template", ONE),
        ("extension_value", 19, "Payload.Metric.MetricValueExtension", ONE),
    ),
    "Payload.Metric.MetricValueExtension": (),
}

# Where each message's range of third-party extension numbers starts ("N to max").
EXTENSIONS_FROM: dict[str, int] = {
    "Payload": 6,
    "Payload.Template": 6,
    "Payload.Template.Parameter.ParameterValueExtension": 1,
    "Payload.DataSet": 5,
    "Payload.DataSet.DataSetValue.DataSetValueExtension": 1,
    "Payload.DataSet.Row": 2,
    "Payload.PropertyValue.PropertyValueExtension": 1,
    "Payload.PropertySet": 3,
    "Payload.PropertySetList": 2,
    "Payload.MetaData": 9,
    "Payload.Metric.MetricValueExtension": 1,
}


class DataType(IntEnum):
    """The ``datatype`` of a metric (a plain uint32 on the wire)."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19
    PropertySet = 20
    PropertySetList = 21
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31
    BooleanArray = 32
    StringArray = 33
    DateTimeArray = 34


_FDP = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "uint32": _FDP.TYPE_UINT32,
    "uint64": _FDP.TYPE_UINT64,
    "float": _FDP.TYPE_FLOAT,
    "double": _FDP.TYPE_DOUBLE,
    "bool": _FDP.TYPE_BOOL,
    "string": _FDP.TYPE_STRING,
    "bytes": _FDP.TYPE_BYTES,
}
_EXTENSIONS_END = 536_870_912  # one past the largest field number: "to max"


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The table above as the descriptor ``protoc`` would produce from the ``.proto`` file."""
    file = descriptor_pb2.FileDescriptorProto(
        name="shopfloor/sparkplug_b.proto", package=PACKAGE, syntax="proto2"
    )
    built: dict[str, descriptor_pb2.DescriptorProto] = {}
    # Parents come before their nested messages in the table, so each finds its parent built.
    for full_name, fields in MESSAGES.items():
        parent, _, name = full_name.rpartition(".")
        message = built[parent].nested_type.add() if parent else file.message_type.add()
        message.name = name
        built[full_name] = message
        if any(modifier == ONE for *_, modifier in fields):
            message.oneof_decl.add(name="value")
        for field_name, number, type_name, modifier in fields:
            field = message.field.add(name=field_name, number=number)
            field.label = _FDP.LABEL_REPEATED if modifier == REP else _FDP.LABEL_OPTIONAL
            if type_name in _SCALARS:
                field.type = _SCALARS[type_name]
            else:
                field.type = _FDP.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{type_name}"
            if modifier == ONE:
                field.oneof_index = 0
        if full_name in EXTENSIONS_FROM:
            message.extension_range.add(start=EXTENSIONS_FROM[full_name], end=_EXTENSIONS_END)
    return file


# A pool of its own, so another library that registers the same file (such as Tahu's
# generated module) in the default pool cannot clash with this one.
_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(file_descriptor())
Payload: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.Payload"))
Metric: Any = Payload.Metric
