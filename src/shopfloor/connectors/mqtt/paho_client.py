"""paho-mqtt on the asyncio event loop, reading in large chunks.

paho reads each packet's fixed header a byte at a time, one ``recv`` per byte; at tens of
thousands of messages a second those system calls cost more than the parsing. ``Client`` here
serves paho's small reads from one large ``recv``. paho's own loop runs from the event loop
(``add_reader``/``add_writer``), not from a thread of its own, so message callbacks run on
the loop and can hand messages to the batcher directly.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

READ_CHUNK = 256 * 1024
PACKETS_PER_TURN = 500
PUBACK = struct.Struct("!BBH")


class Client(mqtt.Client):
    def __init__(self, client_id: str, protocol: int) -> None:
        super().__init__(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            manual_ack=True,
            **({"clean_session": False} if protocol != mqtt.MQTTv5 else {}),
        )
        self._chunk = b""
        self._offset = 0
        self._acks: list[int] = []
        self.ack_soon: Callable[[], None] = self.flush_acks
        # paho logs and swallows socket errors; kept so that a failure can say what happened
        # (a TLS alert from the broker, a reset …).
        self.last_socket_error: OSError | None = None

    def _sock_send(self, buf: bytes | bytearray) -> int:
        try:
            return super()._sock_send(buf)
        except BlockingIOError:
            raise
        except OSError as exc:
            self.last_socket_error = exc
            raise

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._offset >= len(self._chunk):
            try:
                self._chunk = super()._sock_recv(READ_CHUNK)
            except BlockingIOError:
                raise
            except OSError as exc:
                self.last_socket_error = exc
                raise
            self._offset = 0
            if not self._chunk:
                return b""  # the broker closed the connection
        start = self._offset
        self._offset = min(len(self._chunk), start + bufsize)
        return self._chunk[start : self._offset]

    def _sock_close(self) -> None:
        self._chunk, self._offset = b"", 0
        super()._sock_close()

    def _handle_publish(self) -> MQTTErrorCode:
        # paho builds a Properties object for every MQTT 5 PUBLISH (two dicts, 27 hasattr
        # calls): a quarter of the connector's time. A QoS 0/1 PUBLISH without properties is
        # read here; anything else (topic aliases, user properties, QoS 2) goes to paho.
        if self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        packet = self._in_packet["packet"]
        end = 2 + ((packet[0] << 8) | packet[1])
        mid = 0
        if qos:
            mid = (packet[end] << 8) | packet[end + 1]
            end += 2
        if qos > 1 or end >= len(packet) or packet[end] != 0:
            return super()._handle_publish()
        message = mqtt.MQTTMessage(mid, bytes(packet[2 : end - (2 if qos else 0)]))
        message.dup = bool(header & 0x08)
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.payload = bytes(packet[end + 1 :])
        message.timestamp = time.monotonic()
        self._handle_on_message(message)
        if qos and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        # A batch commit acknowledges thousands of messages at once: one write for all of their
        # PUBACKs instead of a queued packet and a send() each.
        if qos != 1:
            return super().ack(mid, qos)
        self._acks.append(mid)
        if len(self._acks) == 1:
            self.ack_soon()
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def flush_acks(self) -> None:
        mids, self._acks = self._acks, []
        if mids and self._sock is not None:
            self._packet_queue(0x40, b"".join(PUBACK.pack(0x40, 2, m) for m in mids), 0, 0)

    @property
    def has_buffered(self) -> bool:
        return self._offset < len(self._chunk)


class LoopDriver:
    """Drives one connected ``Client`` from the event loop until the connection ends."""

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.sock: socket.socket | Any = client.socket()
        self.paused = False
        self._again = False
        client.on_socket_register_write = lambda *_: self._want_write()
        client.on_socket_unregister_write = lambda *_: self._no_write()
        client.on_socket_close = lambda *_: self.detach()
        loop.add_reader(self.sock, self.read)
        client.ack_soon = lambda: loop.call_soon(client.flush_acks)
        if client.want_write():
            self._want_write()

    def read(self) -> None:
        # A bounded turn: a broker sending without pause must not starve the batcher's commits
        # (and with them the acknowledgements and the backpressure) on the same loop.
        self._again = False
        client = self.client
        for _ in range(PACKETS_PER_TURN):
            if self.paused or self.sock is None:
                return
            rc = client.loop_read()
            if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                return
            if not client.has_buffered:
                return
        if not self._again:
            self._again = True
            self.loop.call_soon(self.read)

    def pause(self) -> None:
        """Stop reading: the broker stops sending once our in-flight window is full."""
        if not self.paused and self.sock is not None:
            self.paused = True
            self.loop.remove_reader(self.sock)

    def resume(self) -> None:
        if self.paused and self.sock is not None:
            self.paused = False
            self.loop.add_reader(self.sock, self.read)
            self.read()

    def _write(self) -> None:
        self.client.loop_write()

    def _want_write(self) -> None:
        if self.sock is not None:
            self.loop.add_writer(self.sock, self._write)

    def _no_write(self) -> None:
        if self.sock is not None:
            self.loop.remove_writer(self.sock)

    def detach(self) -> None:
        if self.sock is not None:
            self.loop.remove_reader(self.sock)
            self.loop.remove_writer(self.sock)
            self.sock = None

    async def keep_alive(self, on_end: Callable[[], None]) -> None:
        """paho's timers (keep-alive pings, a broker that went silent) once a second."""
        while self.sock is not None:
            if self.client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            await asyncio.sleep(1.0)
        on_end()
