"""Sparkplug B: topics, the payload schema, path rules and the sessions of edge nodes."""

from __future__ import annotations

import math
import struct
import time

import pytest

from shopfloor.connectors.base import Unreadable
from shopfloor.connectors.config import SparkplugSettings
from shopfloor.connectors.sparkplug import (
    DataType,
    PathRefused,
    PathRule,
    Payload,
    SparkplugDecoder,
    SparkplugTopic,
    encode_payload,
    format_topic,
    parse_topic,
    rebirth_command,
    subscription,
)

NOW_US = 1_700_000_100_000_000
T0_MS = 1_700_000_000_000


def decoder(**settings: str) -> SparkplugDecoder:
    return SparkplugDecoder(SparkplugSettings(**settings))


def nbirth(metrics: list[dict], seq: int = 0, bd_seq: int = 0) -> bytes:
    born = [{"name": "bdSeq", "datatype": "Int64", "value": bd_seq}, *metrics]
    return encode_payload(born, seq=seq, timestamp=T0_MS)


def send(dec: SparkplugDecoder, topic: str, metrics: list[dict], **payload: int):
    return dec.decode(f"spBv1.0/{topic}", encode_payload(metrics, **payload), NOW_US)


def readings(decoded) -> dict[str, float]:
    return dict(zip(decoded.paths, decoded.values, strict=True))


# -- topics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("spBv1.0/Plant1/NBIRTH/edge-a", SparkplugTopic("Plant1", "NBIRTH", "edge-a")),
        ("spBv1.0/Plant1/NDATA/edge-a", SparkplugTopic("Plant1", "NDATA", "edge-a")),
        ("spBv1.0/g/DDATA/edge-a/press 3", SparkplugTopic("g", "DDATA", "edge-a", "press 3")),
        ("spBv1.0/g/DBIRTH/n/d", SparkplugTopic("g", "DBIRTH", "n", "d")),
        ("spBv1.0/g/DDEATH/n/d", SparkplugTopic("g", "DDEATH", "n", "d")),
        ("spBv1.0/g/NDEATH/n", SparkplugTopic("g", "NDEATH", "n")),
        ("spBv1.0/g/NCMD/n", SparkplugTopic("g", "NCMD", "n")),
        ("spBv1.0/g/DCMD/n/d", SparkplugTopic("g", "DCMD", "n", "d")),
        ("spBv1.0/STATE/scada-1", SparkplugTopic("", "STATE", "scada-1")),
        ("spBv1.0/g/STATE/scada-1", SparkplugTopic("g", "STATE", "scada-1")),
    ],
)
def test_topics_are_parsed_and_formatted_back(topic, parsed):
    assert parse_topic(topic) == parsed
    assert str(parsed) == topic


@pytest.mark.parametrize(
    ("topic", "says"),
    [
        ("spAv1.0/g/NDATA/n", "does not start with spBv1.0/"),
        ("shopfloor/v1/acme", "does not start with spBv1.0/"),
        ("spBv1.0/g/NDATA", "has 3 levels"),
        ("spBv1.0/g/DDATA/n/d/extra", "has 6 levels"),
        ("spBv1.0/g/NSTUFF/n", "unknown message type 'NSTUFF'"),
        ("spBv1.0/g/NDATA/n/d", "a NDATA topic has no device level"),
        ("spBv1.0/g/DDATA/n", "a DDATA topic needs a device level"),
        ("spBv1.0//NDATA/n", "empty level"),
        ("spBv1.0/g/NDATA/+", "wildcard"),
    ],
)
def test_other_topics_are_unreadable(topic, says):
    with pytest.raises(Unreadable, match="not a Sparkplug B topic") as caught:
        parse_topic(topic)
    assert says in str(caught.value)


def test_topic_helpers():
    assert format_topic("g", "DDATA", "n", "d") == "spBv1.0/g/DDATA/n/d"
    assert subscription() == "spBv1.0/+/#"
    assert subscription("Plant1") == "spBv1.0/Plant1/#"


# -- the path rule ------------------------------------------------------------------------

DEFAULT_RULE = SparkplugSettings().path


@pytest.mark.parametrize(
    ("template", "device", "metric", "path"),
    [
        (DEFAULT_RULE, "Press 3", "Motor/Speed", "plant1/edge-a/press-3/motor/speed"),
        (DEFAULT_RULE, "", "Motor/Speed", "plant1/edge-a/motor/speed"),
        (DEFAULT_RULE, "", "Oil Temp (°C)", "plant1/edge-a/oil-temp-c"),
        (DEFAULT_RULE, "", "--A__b--", "plant1/edge-a/a__b"),
        (DEFAULT_RULE, "", "a//b/", "plant1/edge-a/a/b"),
        ("acme/{node}/{metric}", "Press 3", "Speed", "acme/edge-a/speed"),
        ("acme/line-1/{device}/{metric}", "Press 3", "Oil/Temp", "acme/line-1/press-3/oil/temp"),
        ("{group}-{node}/{metric}", "", "x", "plant1-edge-a/x"),
        ("site/{metric}", "", "{node}", "site/node"),  # a name is not substituted again
    ],
)
def test_path_rules(template, device, metric, path):
    assert PathRule(template).path("Plant1", "Edge.A", device, metric) == path


def test_path_rules_refuse_paths_that_are_not_paths():
    rule = PathRule("{group}/{node}/{device}/{metric}")
    with pytest.raises(PathRefused, match="at most 8 are allowed") as caught:
        rule.path("g", "n", "d", "a/b/c/d/e/f")
    assert "metric 'a/b/c/d/e/f' of g/n/d" in str(caught.value)
    with pytest.raises(PathRefused, match="'温度' has no letter, digit"):
        rule.path("g", "n", "", "温度")
    with pytest.raises(PathRefused, match="at most 255"):
        rule.path("g", "n", "", "x" * 300)
    # Refusals are remembered like paths and raised again.
    with pytest.raises(PathRefused):
        rule.path("g", "n", "", "温度")


def test_a_refused_metric_is_skipped_with_its_reason():
    dec = decoder(path="{group}/{node}/{metric}")
    birth = nbirth(
        [
            {"name": "Speed", "alias": 1, "datatype": "Double", "value": 1.0},
            {"name": "温度", "alias": 2, "datatype": "Double", "value": 2.0},
        ]
    )
    decoded = dec.decode("spBv1.0/g/NBIRTH/n", birth, NOW_US)
    assert readings(decoded) == {"g/n/speed": 1.0}
    assert any("'温度'" in p and "skipped" in p for p in decoded.problems)
    # A message of nothing but such metrics is unreadable: a fixed rule can replay it.
    data = encode_payload([{"alias": 2, "value": 3.0, "datatype": "Double"}], seq=1)
    with pytest.raises(Unreadable, match="'温度' has no letter"):
        dec.decode("spBv1.0/g/NDATA/n", data, NOW_US)


# -- births and data ----------------------------------------------------------------------


def test_nbirth_then_ndata_by_alias():
    dec = decoder()
    birth = nbirth(
        [
            {"name": "Node Control/Rebirth", "alias": 90, "datatype": "Boolean", "value": False},
            {"name": "Properties/Hardware Make", "datatype": "String", "value": "acme"},
            {"name": "Line/Speed", "alias": 1, "datatype": "Double", "value": 12.5},
            {"name": "Line/Count", "alias": 2, "datatype": "Int32", "value": 7},
        ]
    )
    decoded = dec.decode("spBv1.0/Plant1/NBIRTH/Edge A", birth, NOW_US)
    assert readings(decoded) == {"plant1/edge-a/line/speed": 12.5, "plant1/edge-a/line/count": 7}
    assert decoded.ts_us == [T0_MS * 1000] * 2
    assert decoded.problems == []  # bdSeq, Node Control/, Properties/ are no readings
    assert dec.is_online("Plant1", "Edge A")

    # Data messages give the alias and no datatype: the birth says what the number is.
    data = encode_payload(
        [{"alias": 2, "value": 8, "datatype": None}, {"alias": 1, "value": 13.0}, {"alias": 90}],
        seq=1,
        timestamp=T0_MS + 1000,
    )
    decoded = dec.decode("spBv1.0/Plant1/NDATA/Edge A", data, NOW_US)
    assert readings(decoded) == {"plant1/edge-a/line/count": 8, "plant1/edge-a/line/speed": 13.0}
    assert decoded.ts_us == [(T0_MS + 1000) * 1000] * 2
    assert decoded.problems == []
    assert not dec.needs_rebirth("spBv1.0/Plant1/NDATA/Edge A")


def test_data_without_datatype_takes_the_signed_type_of_the_birth():
    dec = decoder()
    birth = nbirth([{"name": "t", "alias": 5, "datatype": "Int16", "value": -2}])
    assert dec.decode("spBv1.0/g/NBIRTH/n", birth, NOW_US).values == [-2.0]
    data = Payload(seq=1)
    metric = data.metrics.add(alias=5)
    metric.int_value = 0xFFFF_FFF6  # -10, wrapped at 32 bits as Java senders do
    decoded = dec.decode("spBv1.0/g/NDATA/n", data.SerializeToString(), NOW_US)
    assert decoded.values == [-10.0]


def test_dbirth_and_ddata_share_the_aliases_of_their_edge_node():
    dec = decoder()
    dec.decode("spBv1.0/g/NBIRTH/n", nbirth([{"name": "Up", "alias": 1, "value": 1.0}]), NOW_US)
    press = [{"name": "Oil/Temp", "alias": 10, "datatype": "Float", "value": 40.5}]
    decoded = dec.decode("spBv1.0/g/DBIRTH/n/Press 3", encode_payload(press, seq=1), NOW_US)
    assert readings(decoded) == {"g/n/press-3/oil/temp": 40.5}
    oven = [{"name": "Temp", "alias": 11, "datatype": "Double", "value": 180.0}]
    dec.decode("spBv1.0/g/DBIRTH/n/oven", encode_payload(oven, seq=2), NOW_US)
    assert dec.is_online("g", "n", "Press 3") and dec.is_online("g", "n", "oven")

    data = encode_payload([{"alias": 10, "value": 41.0}, {"name": "Oil/Temp", "value": 4.2}], seq=3)
    decoded = dec.decode("spBv1.0/g/DDATA/n/Press 3", data, NOW_US + 1)
    assert decoded.paths == ["g/n/press-3/oil/temp"] * 2
    assert decoded.values == [41.0, 4.2]
    assert decoded.ts_us == [NOW_US + 1] * 2  # no timestamps at all: when it was received

    # The oven's alias in a message of the press belongs elsewhere.
    data = encode_payload([{"alias": 11, "value": 1.0}, {"alias": 10, "value": 43.0}], seq=4)
    decoded = dec.decode("spBv1.0/g/DDATA/n/Press 3", data, NOW_US)
    assert decoded.values == [43.0]
    assert decoded.problems == [
        "alias 11 of g/n belongs to device 'oven', not to g/n/Press 3; skipped"
    ]

    dec.decode("spBv1.0/g/DDEATH/n/oven", encode_payload(seq=5), NOW_US)
    assert not dec.is_online("g", "n", "oven") and dec.is_online("g", "n", "Press 3")


def test_an_alias_never_born_makes_the_message_unreadable_and_asks_for_a_rebirth():
    dec = SparkplugDecoder(SparkplugSettings(), rebirth_holdoff_s=10)
    topic = "spBv1.0/Plant1/NDATA/edge-a"
    data = encode_payload([{"alias": 4, "value": 1.5}, {"alias": 5, "value": 2.5}], seq=3)
    with pytest.raises(Unreadable) as caught:
        dec.decode(topic, data, NOW_US)
    assert str(caught.value) == (
        "alias 4 of Plant1/edge-a is unknown: no NBIRTH seen since the connector started"
        " (and 1 more)"
    )
    assert dec.needs_rebirth(topic)
    # Asked once: not again until the holdoff has passed.
    with pytest.raises(Unreadable):
        dec.decode(topic, data, NOW_US + 5_000_000)
    assert not dec.needs_rebirth(topic)
    with pytest.raises(Unreadable):
        dec.decode(topic, data, NOW_US + 11_000_000)
    assert dec.needs_rebirth(topic)
    assert not dec.needs_rebirth("spBv1.0/Plant1/NDATA/other")

    # The birth answers: no more rebirths wanted; named metrics decode without any birth.
    birth = nbirth([{"name": "x", "alias": 4, "value": 0.0}])
    dec.decode(topic.replace("NDATA", "NBIRTH"), birth, NOW_US + 12_000_000)
    assert not dec.needs_rebirth(topic)
    data = encode_payload([{"alias": 4, "value": 1.0}, {"alias": 6, "value": 2.0}], seq=1)
    decoded = dec.decode(topic, data, NOW_US)
    assert decoded.values == [1.0]
    assert decoded.problems == [
        "alias 6 of Plant1/edge-a is unknown: its last NBIRTH did not declare it; skipped"
    ]


def test_data_before_any_birth_decodes_named_metrics_and_wants_a_rebirth():
    dec = decoder()
    data = encode_payload([{"name": "Speed", "value": 3.0}], seq=9)
    assert readings(dec.decode("spBv1.0/g/NDATA/n", data, NOW_US)) == {"g/n/speed": 3.0}
    assert dec.needs_rebirth("spBv1.0/g/NDATA/n")


def test_a_new_nbirth_forgets_the_aliases_of_the_previous_session():
    dec = decoder()
    dec.decode("spBv1.0/g/NBIRTH/n", nbirth([{"name": "a", "alias": 1, "value": 1.0}]), NOW_US)
    send(dec, "g/DBIRTH/n/d", [{"name": "b", "alias": 2, "value": 2.0}], seq=1)
    birth = nbirth([{"name": "c", "alias": 3, "value": 3.0}], bd_seq=1)
    dec.decode("spBv1.0/g/NBIRTH/n", birth, NOW_US)
    assert not dec.is_online("g", "n", "d")  # its devices are born again after the node
    with pytest.raises(Unreadable, match="alias 1 of g/n is unknown: its last NBIRTH did not"):
        send(dec, "g/NDATA/n", [{"alias": 1, "value": 0.0}], seq=1)
    with pytest.raises(Unreadable, match="the DBIRTH of 'd' did not declare it"):
        send(dec, "g/DDATA/n/d", [{"alias": 2, "value": 0.0}], seq=2)


def test_ndeath_ends_the_session_unless_it_is_from_an_earlier_one():
    dec = decoder()
    birth = nbirth([{"name": "a", "alias": 1, "value": 1.0}], bd_seq=4)
    dec.decode("spBv1.0/g/NBIRTH/n", birth, NOW_US)
    send(dec, "g/DBIRTH/n/d", [{"name": "b", "value": 2.0}], seq=1)
    late = encode_payload([{"name": "bdSeq", "datatype": "Int64", "value": 3}])
    decoded = dec.decode("spBv1.0/g/NDEATH/n", late, NOW_US)
    assert len(decoded) == 0 and "earlier session" in decoded.problems[0]
    assert dec.is_online("g", "n", "d")

    death = encode_payload([{"name": "bdSeq", "datatype": "Int64", "value": 4}])
    decoded = dec.decode("spBv1.0/g/NDEATH/n", death, NOW_US)
    assert len(decoded) == 0 and decoded.problems == []
    assert not dec.is_online("g", "n") and not dec.is_online("g", "n", "d")
    # A straggler still decodes, and the node is asked to come back.
    data = encode_payload([{"alias": 1, "value": 5.0}], seq=2)
    assert dec.decode("spBv1.0/g/NDATA/n", data, NOW_US).values == [5.0]
    assert dec.needs_rebirth("spBv1.0/g/NDATA/n")


def test_rebirth_command_round_trip():
    topic, payload = rebirth_command("Plant1", "edge-a", timestamp=T0_MS)
    assert topic == "spBv1.0/Plant1/NCMD/edge-a"
    message = Payload.FromString(payload)
    assert message.timestamp == T0_MS and not message.HasField("seq")
    (metric,) = message.metrics
    assert metric.name == "Node Control/Rebirth"
    assert metric.datatype == DataType.Boolean
    assert metric.WhichOneof("value") == "boolean_value" and metric.boolean_value is True
    # Commands (ours included, echoed by the broker) and host states carry no readings.
    dec = decoder()
    assert dec.decode(topic, payload, NOW_US).paths == []
    assert dec.decode("spBv1.0/STATE/scada", b'{"online": true}', NOW_US).problems == []
    sent_ms = Payload.FromString(rebirth_command("g", "n")[1]).timestamp
    assert abs(sent_ms - time.time() * 1000) < 60_000  # now, by default


# -- values -------------------------------------------------------------------------------


def test_every_numeric_datatype():
    numbers = [
        ("Int8", -5),
        ("Int16", -300),
        ("Int32", -70_000),
        ("Int64", -(2**40)),
        ("UInt8", 200),
        ("UInt16", 60_000),
        ("UInt32", 4_000_000_000),
        ("UInt64", 2**64 - 1),
        ("Float", 1.5),
        ("Double", 2.25),
        ("Boolean", True),
        ("Boolean", False),
    ]
    metrics = [{"name": f"m{i}", "datatype": t, "value": v} for i, (t, v) in enumerate(numbers)]
    decoded = decoder().decode("spBv1.0/g/DDATA/n/d", encode_payload(metrics, seq=0), NOW_US)
    assert decoded.values == [float(v) for _, v in numbers]
    assert decoded.paths == [f"g/n/d/m{i}" for i in range(len(numbers))]
    int8 = Payload.FromString(encode_payload([{"datatype": "Int8", "value": -1}])).metrics[0]
    assert int8.int_value == 255  # wrapped at the width of the type
    with pytest.raises(ValueError, match="does not fit in UInt8"):
        encode_payload([{"name": "x", "datatype": "UInt8", "value": 256}])


def test_non_numeric_metrics_are_skipped_with_why():
    metrics = [
        {"name": "ok", "datatype": "Double", "value": 1.0},
        {"name": "status", "datatype": "String", "value": "running"},
        {"name": "note", "datatype": "Text", "value": "…"},
        {"name": "since", "datatype": "DateTime", "value": T0_MS},
        {"name": "blob", "datatype": "Bytes", "value": b"\x00"},
        {"name": "gone", "datatype": "Double", "value": None},
        {"name": "nan", "datatype": "Double", "value": math.nan},
    ]
    with pytest.raises(ValueError, match="'12' is not a Double value"):
        encode_payload([{"name": "odd", "datatype": "Double", "value": "12"}])
    payload = Payload.FromString(encode_payload(metrics, seq=0))
    payload.metrics.add(name="odd", datatype=DataType.Double, string_value="12")
    table = payload.metrics.add(name="table", datatype=DataType.DataSet)
    table.dataset_value.num_of_columns = 1
    payload.metrics.add(name="tpl", datatype=DataType.Template).template_value.version = "1"
    payload.metrics.add(name="weird", datatype=99, double_value=1.0)
    decoded = decoder().decode("spBv1.0/g/NDATA/n", payload.SerializeToString(), NOW_US)
    assert readings(decoded) == {"g/n/ok": 1.0}
    assert decoded.problems == [
        "metric 'status' of g/n: String is not numeric; skipped",
        "metric 'note' of g/n: Text is not numeric; skipped",
        "metric 'since' of g/n: DateTime is not numeric; skipped",
        "metric 'blob' of g/n: Bytes is not numeric; skipped",
        "metric 'gone' of g/n: null value; skipped",
        "metric 'nan' of g/n: value nan is not finite; skipped",
        "metric 'odd' of g/n: a Double metric that carries a string_value; skipped",
        "metric 'table' of g/n: DataSet is not numeric; skipped",
        "metric 'tpl' of g/n: Template is not numeric; skipped",
        "metric 'weird' of g/n: unknown datatype 99; skipped",
    ]


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x12\x05ab", b'{"temp": 21.5}'])
def test_garbage_is_unreadable(payload):
    with pytest.raises(Unreadable, match=r"^not a Sparkplug B payload: "):
        decoder().decode("spBv1.0/g/NDATA/n", payload, NOW_US)


def test_names_that_are_not_utf8_are_refused():
    broken = _len(1, b"\xff\xfe") + _key(4, 0) + _varint(10) + _key(13, 1) + bytes(8)
    good = _len(1, b"ok") + _key(4, 0) + _varint(10) + _key(13, 1) + struct.pack("<d", 1.0)
    dec = decoder()
    decoded = dec.decode("spBv1.0/g/NBIRTH/n", _len(2, broken) + _len(2, good), NOW_US)
    assert decoded.values == [1.0]
    assert decoded.problems[-1] == "a metric of the NBIRTH of g/n has a name that is not UTF-8"
    with pytest.raises(Unreadable, match="has a name that is not UTF-8"):
        dec.decode("spBv1.0/g/NDATA/n", _len(2, broken), NOW_US)


def test_seq_gaps_are_noted_and_wrap_at_256():
    dec = decoder()
    birth = nbirth([{"name": "a", "alias": 1, "value": 0.0}], seq=254)
    dec.decode("spBv1.0/g/NBIRTH/n", birth, NOW_US)
    one = [{"alias": 1, "value": 1.0}]
    assert dec.decode("spBv1.0/g/NDATA/n", encode_payload(one, seq=255), NOW_US).problems == []
    assert dec.decode("spBv1.0/g/NDATA/n", encode_payload(one, seq=0), NOW_US).problems == []
    decoded = dec.decode("spBv1.0/g/NDATA/n", encode_payload(one, seq=3), NOW_US)
    assert decoded.values == [1.0]
    assert decoded.problems == ["seq gap on g/n: expected 1, got 3 (messages lost or out of order)"]
    assert dec.decode("spBv1.0/g/NDATA/n", encode_payload(one, seq=4), NOW_US).problems == []


def test_timestamps_come_from_the_metric_else_the_payload_else_the_arrival():
    metrics = [
        {"name": "a", "value": 1.0, "timestamp": T0_MS - 5000},
        {"name": "b", "value": 2.0},
        {"name": "c", "value": 3.0, "timestamp": T0_MS * 1000},  # µs by mistake
    ]
    decoded = decoder().decode(
        "spBv1.0/g/NDATA/n", encode_payload(metrics, seq=0, timestamp=T0_MS), NOW_US
    )
    assert decoded.ts_us == [(T0_MS - 5000) * 1000, T0_MS * 1000]
    assert "after 2100" in decoded.problems[0]
    decoded = decoder().decode("spBv1.0/g/NDATA/n", encode_payload(metrics[1:2]), NOW_US)
    assert decoded.ts_us == [NOW_US]


def test_other_groups_are_ignored():
    dec = decoder(group="Plant1")
    data = encode_payload([{"name": "a", "value": 1.0}], seq=0)
    assert dec.decode("spBv1.0/Plant1/NDATA/n", data, NOW_US).values == [1.0]
    decoded = dec.decode("spBv1.0/Plant2/NDATA/n", data, NOW_US)
    assert decoded.paths == [] and "is not 'Plant1'" in decoded.problems[0]


# -- the schema against the wire format ---------------------------------------------------


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
