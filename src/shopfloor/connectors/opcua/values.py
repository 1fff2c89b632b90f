"""From an OPC-UA DataValue to a reading, a rejected value or an unreadable one.

Status codes decide first. A **bad** value (``BadSensorFailure``, ``BadCommunicationError`` …)
is the server saying "this is not a measurement": it is never stored as a reading, but kept as
a rejected dead letter and counted, so that a failing sensor shows. An **uncertain** value
(``UncertainLastUsableValue``, ``UncertainSensorNotAccurate`` …) is stored: the server still
vouches for it as the best value it has, and dropping it would leave a gap exactly where an
operator wants to see what the machine did; its status stays in the payload of the message.

A reading's time is the source timestamp (when the device sampled it), else the server
timestamp, else the time it arrived. Booleans become 0/1; any other non-numeric value (a
string, an array, a date) cannot be a reading and goes to the dead letters with the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from asyncua import ua

from shopfloor.connectors.base import REJECTED, ConnectorState, DeadLetterIn, Message
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.status import note_message
from shopfloor.observe.metrics import READINGS_REJECTED

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# OPC-UA's "no time": DateTime 0 decodes to 1601-01-01, which some servers send for "unknown".
NO_TIME_BEFORE = datetime(1601, 1, 2, tzinfo=UTC)
_BAD = 0x80000000  # the severity bit: both Bad (10) and the reserved 11 count as bad


@dataclass(slots=True)
class NodeSpec:
    """One configured node and what the connector remembers of it across reconnects."""

    node_id: str
    path: str
    deadband: float
    # The value last offered: the deadband is measured from it, as the OPC-UA specification
    # measures it from the last value reported (some servers compare with the last sample).
    last_value: float | None = None
    # What a poll read last (source time, status, value): a poll offers only what changed.
    last_read: tuple[Any, int, Any] | None = None


def epoch_us(moment: datetime | None) -> int | None:
    """Exact epoch microseconds; naive datetimes are UTC, as asyncua's are."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment < NO_TIME_BEFORE:
        return None
    return (moment - EPOCH) // MICROSECOND


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def kind_of(data: ua.DataValue) -> str:
    """What a value is, as the server typed it: ``String``, ``Double array``, ``Null``."""
    variant = data.Value
    if variant is None:
        return "Null"
    name = variant.VariantType.name
    return f"{name} array" if isinstance(variant.Value, list) else name


def payload(data: ua.DataValue, status: str) -> bytes:
    """The raw value as JSON, small, kept with a dead letter or a message refused at commit."""
    value = data.Value.Value if data.Value is not None else None
    document = {
        "value": value,
        "status": status,
        "source_ts": data.SourceTimestamp,
        "server_ts": data.ServerTimestamp,
    }
    return orjson.dumps(document, default=str, option=orjson.OPT_NAIVE_UTC)


class Decoder:
    """Turns DataValues of the configured nodes into offers to the batcher."""

    def __init__(self, source: str, state: ConnectorState, batcher: Batcher) -> None:
        self.source = source
        self.state = state
        self.batcher = batcher
        self._bad_status = READINGS_REJECTED.labels("bad_status")

    def changed(self, node: NodeSpec, data: ua.DataValue) -> bool:
        """Whether a polled value differs from the previous read of the node (and remember it).

        The source timestamp tells a new sample from the same one read again; a server that
        sends none is compared on status and value.
        """
        status = data.StatusCode.value if data.StatusCode is not None else 0
        value = data.Value.Value if data.Value is not None else None
        key = (data.SourceTimestamp, status, value)
        if key == node.last_read:
            return False
        node.last_read = key
        return True

    def accept(self, node: NodeSpec, data: ua.DataValue) -> None:
        """Offer one value: stored, rejected for its bad status, dead-lettered, or dropped
        inside the deadband."""
        note_message(self.state)
        status = data.StatusCode
        code = status.value if status is not None else 0
        if code & _BAD:
            self._reject(node, data, _name(code))
            return
        number = as_number(data.Value.Value if data.Value is not None else None)
        if number is None:
            reason = f"value of node {node.node_id} is a {kind_of(data)}, not a number"
            letter = DeadLetterIn(
                self.source,
                node.node_id,
                payload(data, _name(code)),
                reason,
                received_at=time.time(),
            )
            self.batcher.dead_letter(letter)
            return
        last = node.last_value
        if last is not None and node.deadband > 0 and abs(number - last) <= node.deadband:
            return
        node.last_value = number
        ts = epoch_us(data.SourceTimestamp) or epoch_us(data.ServerTimestamp)
        message = Message(
            source=self.source,
            topic=node.node_id,
            payload=payload(data, _name(code)),
            paths=[node.path],
            ts_us=[ts if ts is not None else time.time_ns() // 1000],
            values=[number],
        )
        self.batcher.offer(message)

    def _reject(self, node: NodeSpec, data: ua.DataValue, status: str) -> None:
        letter = DeadLetterIn(
            self.source,
            node.node_id,
            payload(data, status),
            f"bad status {status}",
            kind=REJECTED,
            received_at=time.time(),
        )
        self.batcher.dead_letter(letter)
        self.state.rejected += 1
        self._bad_status.inc()
        # The first good value after a failure is stored even inside the deadband: it shows
        # when the sensor recovered.
        node.last_value = None


def _name(code: int) -> str:
    # The low 16 bits are flags (overflow, limits): the name is in the high ones.
    return "Good" if code == 0 else ua.StatusCode(code & 0xFFFF0000).name
