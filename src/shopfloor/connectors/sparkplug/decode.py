"""Sparkplug B messages to readings, following each edge node's session.

What becomes a reading: every numeric metric (Int8 … UInt64, Float, Double, and Boolean as
0/1) of a birth or data message. Everything else is skipped with a line in ``problems``: a
string, date, bytes, data set or template metric, a null value, a value that is not finite.
Metrics that describe the session rather than the machine are skipped silently: ``bdSeq``
and anything under ``Node Control/``, ``Device Control/`` (commands such as Rebirth) or
``Properties/`` (hardware make, firmware version …). Historical and transient metrics are
readings like any other: their own timestamps put them in place.

A reading's time is the metric's timestamp, else the payload's, else when it was received.

Sessions: an NBIRTH starts a new session of its edge node, forgetting every alias and
datatype it had declared (its devices' too: they are born again after it); a DBIRTH replaces
what its device had declared. Aliases are per edge node, shared by its devices. Data messages
name metrics or give their alias, and usually omit the datatype, which the birth gave. An
NDEATH ends the session unless its ``bdSeq`` shows it belongs to an earlier one (a broker may
deliver it late); the aliases are kept so that stragglers still decode.

Not thread-safe: call it from the one thread that receives the messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shopfloor.connectors.base import Unreadable
from shopfloor.connectors.config import SparkplugSettings
from shopfloor.connectors.sparkplug.paths import PathRefused, PathRule
from shopfloor.connectors.sparkplug.topic import STATE, SparkplugTopic, parse_topic
from shopfloor.connectors.sparkplug.values import (
    bd_seq_of,
    datatype_of,
    metric_value,
    parse_payload,
)
from shopfloor.readings.columns import MAX_TS_US

_IGNORED = frozenset({"NCMD", "DCMD", STATE})  # commands and host states carry no readings


@dataclass(slots=True)
class Decoded:
    """The readings of one message, and the metrics skipped with why."""

    paths: list[str] = field(default_factory=list)
    ts_us: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(slots=True)
class _Known:
    """A metric as declared: its path (or why it has none) worked out once."""

    name: str
    device: str
    datatype: int
    path: str = ""
    refused: str | None = None
    skip: bool = False


@dataclass(slots=True)
class _Node:
    """What is known of one edge node's session."""

    born: bool = False  # an NBIRTH seen and no NDEATH since
    ever_born: bool = False
    bd_seq: int | None = None
    seq: int | None = None
    aliases: dict[int, _Known] = field(default_factory=dict)
    names: dict[tuple[str, str], _Known] = field(default_factory=dict)  # (device, name)
    devices: dict[str, bool] = field(default_factory=dict)  # device -> online
    want_rebirth: bool = False
    asked_us: int | None = None
    last_us: int = 0


class SparkplugDecoder:
    """Decodes the Sparkplug B messages of one connector, remembering each edge node's births.

    ``rebirth_holdoff_s``: how long to wait before asking the same edge node to rebirth again.
    """

    def __init__(self, settings: SparkplugSettings, *, rebirth_holdoff_s: float = 30.0) -> None:
        self.settings = settings
        self.rule = PathRule(settings.path)
        self._group = None if settings.group == "+" else settings.group
        self._holdoff_us = round(rebirth_holdoff_s * 1_000_000)
        self._nodes: dict[tuple[str, str], _Node] = {}

    def decode(self, topic: str, payload: bytes, received_us: int) -> Decoded:
        """The readings of a message received at ``received_us`` (epoch µs).

        Raises ``Unreadable`` for a topic or payload that is not Sparkplug B, and for a message
        none of whose metrics can be placed (aliases never born, paths the rule refuses).
        """
        where = parse_topic(topic)
        kind = where.message_type
        if kind in _IGNORED:
            return Decoded()
        if self._group is not None and where.group != self._group:
            return Decoded(problems=[f"group {where.group!r} is not {self._group!r}: ignored"])
        message = parse_payload(payload)
        node = self._nodes.get((where.group, where.edge_node))
        if node is None:
            node = self._nodes[(where.group, where.edge_node)] = _Node()
        node.last_us = received_us
        out = Decoded()
        if kind == "NDEATH":
            self._death(where, node, message, out.problems)
            return out
        self._check_seq(where, node, message, out.problems)
        device = where.device or ""
        if kind == "NBIRTH":
            node.born = node.ever_born = True
            node.want_rebirth = False
            node.aliases, node.names, node.devices = {}, {}, {}
            node.bd_seq = bd_seq_of(message)
        elif kind == "DBIRTH":
            node.aliases = {a: k for a, k in node.aliases.items() if k.device != device}
            node.names = {key: k for key, k in node.names.items() if key[0] != device}
            node.devices[device] = True
            node.want_rebirth |= not node.born
        elif kind == "DDEATH":
            node.devices[device] = False
            return out
        elif not node.born or (device and not node.devices.get(device)):
            node.want_rebirth = True
        self._metrics(where, node, message, received_us, out)
        return out

    def needs_rebirth(self, topic: str) -> bool:
        """Whether to send ``rebirth_command`` to the edge node of ``topic`` now.

        True when its births are missing (none seen since start, a data message after its
        NDEATH, a device without DBIRTH, an unknown alias), at most once per holdoff; a True
        answer counts as the request sent. Call it after ``decode``, whether that returned or
        raised.
        """
        try:
            where = parse_topic(topic)
        except Unreadable:
            return False
        node = self._nodes.get((where.group, where.edge_node))
        if node is None or not node.want_rebirth:
            return False
        if node.asked_us is not None and 0 <= node.last_us - node.asked_us < self._holdoff_us:
            return False
        node.asked_us = node.last_us
        return True

    def is_online(self, group: str, edge_node: str, device: str | None = None) -> bool:
        """Whether the edge node (or its device) is born and has not died since."""
        node = self._nodes.get((group, edge_node))
        if node is None or not node.born:
            return False
        return device is None or node.devices.get(device, False)

    def _metrics(
        self, where: SparkplugTopic, node: _Node, message: Any, received_us: int, out: Decoded
    ) -> None:
        birth = where.message_type in ("NBIRTH", "DBIRTH")
        device = where.device or ""
        default_us = message.timestamp * 1000 if message.HasField("timestamp") else received_us
        problems, unplaced = out.problems, []
        paths, stamps, values = out.paths, out.ts_us, out.values
        for metric in message.metrics:
            if birth:
                known = self._learn(where, node, device, metric, problems)
            else:
                known = self._resolve(where, node, device, metric, unplaced)
            if known is None or known.skip:
                continue
            if known.refused is not None:
                unplaced.append(known.refused)
                continue
            datatype = metric.datatype if metric.HasField("datatype") else known.datatype
            value = metric_value(metric, datatype)
            if isinstance(value, str):
                problems.append(f"metric {known.name!r} of {_label(where)}: {value}; skipped")
                continue
            ts_us = metric.timestamp * 1000 if metric.HasField("timestamp") else default_us
            if ts_us >= MAX_TS_US:
                problems.append(
                    f"metric {known.name!r} of {_label(where)}: timestamp {ts_us // 1000} ms "
                    "is after 2100 (µs instead of ms?); skipped"
                )
                continue
            paths.append(known.path)
            stamps.append(ts_us)
            values.append(value)
        if unplaced:
            if len(unplaced) == len(message.metrics):
                more = f" (and {len(unplaced) - 1} more)" if len(unplaced) > 1 else ""
                raise Unreadable(unplaced[0] + more)
            problems.extend(f"{reason}; skipped" for reason in unplaced)

    def _learn(
        self, where: SparkplugTopic, node: _Node, device: str, metric: Any, problems: list[str]
    ) -> _Known | None:
        name = metric.name
        if not name or not isinstance(name, str):
            lacks = "no name" if not name else "a name that is not UTF-8"
            problems.append(f"a metric of the {where.message_type} of {_label(where)} has {lacks}")
            return None
        known = self._known(where, device, name, datatype_of(metric))
        node.names[(device, name)] = known
        if metric.HasField("alias"):
            alias = metric.alias
            before = node.aliases.get(alias)
            if before is not None and (before.device, before.name) != (device, name):
                problems.append(
                    f"alias {alias} of {where.group}/{where.edge_node} is declared for both "
                    f"{before.name!r} and {name!r}; the latter wins"
                )
            node.aliases[alias] = known
        return known

    def _resolve(
        self, where: SparkplugTopic, node: _Node, device: str, metric: Any, unplaced: list[str]
    ) -> _Known | None:
        name = metric.name
        if name:
            if not isinstance(name, str):  # proto2 strings come back as bytes when not UTF-8
                unplaced.append(f"a metric of {_label(where)} has a name that is not UTF-8")
                return None
            known = node.names.get((device, name))
            if known is None:
                known = self._known(where, device, name, datatype_of(metric))
            return known
        if not metric.HasField("alias"):
            unplaced.append(f"a metric of {_label(where)} has neither a name nor an alias")
            return None
        alias = metric.alias
        known = node.aliases.get(alias)
        if known is None:
            node.want_rebirth = True
            if not node.ever_born:
                why = "no NBIRTH seen since the connector started"
            else:
                births = f"NBIRTH or the DBIRTH of {device!r}" if device else "NBIRTH"
                why = f"its last {births} did not declare it"
            unplaced.append(f"alias {alias} of {where.group}/{where.edge_node} is unknown: {why}")
            return None
        if known.device != device:
            owner = f"device {known.device!r}" if known.device else "the edge node itself"
            unplaced.append(
                f"alias {alias} of {where.group}/{where.edge_node} belongs to {owner}, "
                f"not to {_label(where)}"
            )
            return None
        return known

    def _known(self, where: SparkplugTopic, device: str, name: str, datatype: int) -> _Known:
        known = _Known(name, device, datatype)
        if name == "bdSeq" or name.startswith(("Node Control/", "Device Control/", "Properties/")):
            known.skip = True
            return known
        try:
            known.path = self.rule.path(where.group, where.edge_node, device, name)
        except PathRefused as exc:
            known.refused = str(exc)
        return known

    def _check_seq(
        self, where: SparkplugTopic, node: _Node, message: Any, problems: list[str]
    ) -> None:
        if not message.HasField("seq"):
            problems.append(f"the {where.message_type} of {_label(where)} has no seq")
            return
        seq = message.seq
        if where.message_type != "NBIRTH" and node.seq is not None:
            expected = (node.seq + 1) % 256
            if seq != expected:
                problems.append(
                    f"seq gap on {where.group}/{where.edge_node}: expected {expected}, got "
                    f"{seq} (messages lost or out of order)"
                )
        node.seq = seq

    def _death(self, where: SparkplugTopic, node: _Node, message: Any, problems: list[str]) -> None:
        bd_seq = bd_seq_of(message)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            problems.append(
                f"NDEATH of {where.group}/{where.edge_node} has bdSeq {bd_seq}, the session "
                f"is {node.bd_seq}: a late one from an earlier session, ignored"
            )
            return
        node.born = False
        node.devices = dict.fromkeys(node.devices, False)


def _label(where: SparkplugTopic) -> str:
    tail = f"/{where.device}" if where.device is not None else ""
    return f"{where.group}/{where.edge_node}{tail}"
