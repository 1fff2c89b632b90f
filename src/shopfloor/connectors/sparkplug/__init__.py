"""Sparkplug B: topics, payloads and the mapping of metrics to sensor paths.

The MQTT connector hands every message under ``spBv1.0/`` to a ``SparkplugDecoder`` and
stores the readings it returns; ``rebirth_command`` builds the request it publishes when the
decoder lacks an edge node's births.
"""

from shopfloor.connectors.sparkplug.decode import Decoded, SparkplugDecoder
from shopfloor.connectors.sparkplug.encode import MetricSpec, encode_payload, rebirth_command
from shopfloor.connectors.sparkplug.paths import PathRefused, PathRule
from shopfloor.connectors.sparkplug.schema import DataType, Payload
from shopfloor.connectors.sparkplug.topic import (
    NAMESPACE,
    SparkplugTopic,
    format_topic,
    parse_topic,
    subscription,
)

__all__ = [
    "NAMESPACE",
    "DataType",
    "Decoded",
    "MetricSpec",
    "PathRefused",
    "PathRule",
    "Payload",
    "SparkplugDecoder",
    "SparkplugTopic",
    "encode_payload",
    "format_topic",
    "parse_topic",
    "rebirth_command",
    "subscription",
]
