"""Sparkplug B: topics, the payload schema, path rules and the sessions of edge nodes."""

from __future__ import annotations

import math
import time

import pytest

from shopfloor.connectors.base import Unreadable
from shopfloor.connectors.config import SparkplugSettings
from shopfloor.connectors.sparkplug import (
    DataType,
    Payload,
    SparkplugDecoder,
    encode_payload,
    rebirth_command,
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
