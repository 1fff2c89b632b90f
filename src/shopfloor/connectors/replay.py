"""Replaying the connectors' dead letters once their cause is fixed (a sensor registered, a
publisher corrected): MQTT payloads under a known topic prefix are read again as sent, with
the time they were first received standing in for a missing ``ts``.

Sparkplug B messages are not replayed: they refer to metrics by aliases of an edge node's
session, which may mean other metrics by now. OPC-UA values are a record, not a message.
"""

from __future__ import annotations

from shopfloor.connectors.base import ConnectorState, Message
from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.deadletters import replay_dead_letters
from shopfloor.connectors.models import ConnectorDeadLetter
from shopfloor.connectors.mqtt.payloads import TopicPaths, decode_readings
from shopfloor.readings.service import Ingestor
from shopfloor.storage import Database


class MqttLetters:
    def __init__(self, prefixes: dict[str, str], default_prefix: str) -> None:
        self.by_source = {name: TopicPaths(prefix) for name, prefix in prefixes.items()}
        self.known = [*self.by_source.values(), TopicPaths(default_prefix)]

    def decode(self, letter: ConnectorDeadLetter) -> Message | None:
        paths = self.by_source.get(letter.source)
        if paths is None or not letter.topic.startswith(paths.prefix):
            paths = next((p for p in self.known if letter.topic.startswith(p.prefix)), None)
        if paths is None:
            return None
        received_us = int(letter.received_at.timestamp() * 1_000_000)
        times, values = decode_readings(letter.payload, received_us)
        path = paths.path(letter.topic)
        return Message(
            letter.source, letter.topic, letter.payload, [path] * len(times), times, values
        )


async def replay(
    db: Database,
    ingestor: Ingestor,
    prefixes: dict[str, str],
    default_prefix: str,
    topic: str | None = None,
) -> tuple[int, int]:
    """(replayed, still failing) among the replayable letters (of ``topic``, or all)."""
    letters = MqttLetters(prefixes, default_prefix)
    batcher = Batcher(ingestor, db, ConnectorState("replay", "replay"))
    return await replay_dead_letters(db, letters.decode, batcher.store_now, topic=topic)
