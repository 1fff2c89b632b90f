"""Sparkplug B topics: ``spBv1.0/<group>/<message type>/<edge node>[/<device>]``."""

from __future__ import annotations

from dataclasses import dataclass

from shopfloor.connectors.base import Unreadable

NAMESPACE = "spBv1.0"

NODE_TYPES = frozenset({"NBIRTH", "NDEATH", "NDATA", "NCMD"})
DEVICE_TYPES = frozenset({"DBIRTH", "DDEATH", "DDATA", "DCMD"})
STATE = "STATE"
MESSAGE_TYPES = NODE_TYPES | DEVICE_TYPES | {STATE}


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """A parsed topic. For a host application's ``STATE`` message (Sparkplug 3.0 publishes it
    on ``spBv1.0/STATE/<host id>``, without a group) ``group`` is empty and ``edge_node`` holds
    the host id."""

    group: str
    message_type: str
    edge_node: str
    device: str | None = None

    def __str__(self) -> str:
        if self.message_type == STATE and not self.group:
            return f"{NAMESPACE}/{STATE}/{self.edge_node}"
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.message_type}/{self.edge_node}{tail}"


def format_topic(group: str, message_type: str, edge_node: str, device: str | None = None) -> str:
    """The topic of a message; the inverse of ``parse_topic``."""
    return str(SparkplugTopic(group, message_type, edge_node, device))


def subscription(group: str = "+") -> str:
    """The topic filter that receives every Sparkplug B message of ``group`` (+ for all)."""
    return f"{NAMESPACE}/{group}/#"


def parse_topic(topic: str) -> SparkplugTopic:
    """The parts of a Sparkplug B topic; ``Unreadable`` saying what is wrong otherwise."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE:
        raise Unreadable(f"not a Sparkplug B topic: {topic!r} does not start with {NAMESPACE}/")
    if len(parts) == 3 and parts[1] == STATE:
        _check_ids(topic, parts[2:])
        return SparkplugTopic("", STATE, parts[2])
    if len(parts) not in (4, 5):
        raise Unreadable(
            f"not a Sparkplug B topic: {topic!r} has {len(parts)} levels; expected "
            f"{NAMESPACE}/<group>/<message type>/<edge node>[/<device>]"
        )
    group, message_type, edge_node = parts[1:4]
    device = parts[4] if len(parts) == 5 else None
    if message_type not in MESSAGE_TYPES:
        raise Unreadable(
            f"not a Sparkplug B topic: {topic!r} has the unknown message type {message_type!r}"
        )
    if message_type in NODE_TYPES and device is not None:
        raise Unreadable(f"not a Sparkplug B topic: a {message_type} topic has no device level")
    if message_type in DEVICE_TYPES and device is None:
        raise Unreadable(f"not a Sparkplug B topic: a {message_type} topic needs a device level")
    _check_ids(topic, parts[1:])
    return SparkplugTopic(group, message_type, edge_node, device)


def _check_ids(topic: str, ids: list[str]) -> None:
    for part in ids:
        if not part or "+" in part or "#" in part:
            raise Unreadable(f"not a Sparkplug B topic: {topic!r} has an empty level or a wildcard")
