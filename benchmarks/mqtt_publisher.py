"""A load generator for ``benchmarks.mqtt``: one process publishing QoS 1 messages as fast as
the broker takes them, counting the broker's PUBACKs.

paho-mqtt's publisher spends ~100 µs of Python per message on this machine, so two of them
saturate both cores before the connector under test does. This one encodes MQTT 3.1.1 PUBLISH
packets up front (the format is three fields) and streams them, keeping a window of
unacknowledged packet ids, so the broker and the connector are what is measured.

Run: python -m benchmarks.mqtt_publisher PORT TOPIC COUNT READINGS_PER_MESSAGE FIRST_TS [--paho]
Prints one line: ``published N acknowledged M seconds S``. ``--paho`` publishes the same
messages with paho-mqtt instead (its network loop on a thread, as applications use it), to show
what that publisher costs.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

WINDOW = 20_000  # unacknowledged messages in flight (packet ids are 16 bits)
PAHO_WINDOW = 100


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(text: bytes) -> bytes:
    return struct.pack("!H", len(text)) + text


def connect_packet(client_id: str) -> bytes:
    body = _string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _string(client_id.encode())
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    body = _string(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _remaining_length(len(body)) + body


def payload(first_ts: float, index: int, per_message: int) -> bytes:
    """``{"ts", "value"}`` for one reading, a list of them for more; times never repeat."""
    if per_message == 1:
        return b'{"ts":%.3f,"value":%d}' % (first_ts + index * 0.001, index % 1000)
    start = first_ts + index * per_message * 0.001
    items = b",".join(
        b'{"ts":%.3f,"value":%d}' % (start + k * 0.001, k) for k in range(per_message)
    )
    return b"[" + items + b"]"


def publish(port: int, topic: str, count: int, per_message: int, first_ts: float) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(f"bench-pub-{topic}-{time.monotonic_ns()}"))
    if sock.recv(4)[:1] != b"\x20":
        raise SystemExit("the broker refused the connection")
    topic_bytes = topic.encode()
    acknowledged = sent = 0
    pending = b""
    started = time.perf_counter()
    sock.setblocking(False)
    while acknowledged < count:
        if sent < count and sent - acknowledged < WINDOW:
            chunk = b"".join(
                publish_packet(topic_bytes, i % 65535 + 1, payload(first_ts, i, per_message))
                for i in range(sent, min(count, sent + 200))
            )
            sent = min(count, sent + 200)
            sock.setblocking(True)
            sock.sendall(chunk)
            sock.setblocking(False)
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            if sent >= count or sent - acknowledged >= WINDOW:
                sock.setblocking(True)
                sock.settimeout(30)
                data = sock.recv(1 << 16)
                sock.setblocking(False)
            else:
                continue
        if not data:
            raise SystemExit(f"the broker closed the connection after {acknowledged} PUBACKs")
        pending += data
        # Every packet the broker sends us here is a 4-byte PUBACK (0x40 0x02 id id).
        whole = len(pending) // 4
        acknowledged += whole
        pending = pending[whole * 4 :]
    elapsed = time.perf_counter() - started
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    print(f"published {sent} acknowledged {acknowledged} seconds {elapsed:.3f}", flush=True)


def publish_with_paho(port: int, topic: str, count: int, per_message: int, first_ts: float) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-paho-{time.monotonic_ns()}")
    # Not the raw publisher's window: paho walks its table of in-flight messages on every
    # acknowledgement, so 20,000 in flight makes it ~5x slower than 100 (its fastest here).
    client.max_inflight_messages_set(PAHO_WINDOW)
    acknowledged = 0

    def on_publish(*_: object) -> None:
        nonlocal acknowledged
        acknowledged += 1

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.perf_counter()
    for index in range(count):
        client.publish(topic, payload(first_ts, index, per_message), qos=1)
    while acknowledged < count:
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    print(f"published {count} acknowledged {acknowledged} seconds {elapsed:.3f}", flush=True)


if __name__ == "__main__":
    port, topic, count, per_message, first_ts = sys.argv[1:6]
    publisher = publish_with_paho if "--paho" in sys.argv[6:] else publish
    publisher(int(port), topic, int(count), int(per_message), float(first_ts))
