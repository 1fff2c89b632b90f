"""The MQTT connector over TLS, against a real Mosquitto with throw-away certificates.

The broker has a plain listener and a TLS listener: the test publishes on the plain one with
the same ``Publisher`` as the plain tests, and the connector receives over TLS. That the
connector verifies the broker (CA and host name) and presents a client certificate when asked
is what is under test here; the ingest path itself is covered by ``test_mqtt``. SQLite only:
TLS does not touch the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopfloor.connectors.config import MqttSettings
from tests.connectors.helpers import eventually
from tests.connectors.test_mqtt import PREFIX, T0, Harness, Publisher, running
from tests.fixtures.certificates import TlsFiles, make_tls_files
from tests.fixtures.mosquitto import MosquittoServer, TlsListener, mosquitto_server

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "pki")


def _listener(files: TlsFiles, require_certificate: bool = False) -> TlsListener:
    return TlsListener(
        files.ca_file, files.server.cert_file, files.server.key_file, require_certificate
    )


@pytest.fixture
def tls_broker(tls_files: TlsFiles) -> Iterator[MosquittoServer]:
    with mosquitto_server(tls=_listener(tls_files)) as server:
        yield server


@pytest.fixture
def mtls_broker(tls_files: TlsFiles) -> Iterator[MosquittoServer]:
    """A broker that accepts only clients with a certificate signed by the test CA."""
    with mosquitto_server(tls=_listener(tls_files, require_certificate=True)) as server:
        yield server


def tls_settings(broker: MosquittoServer, **options: Any) -> MqttSettings:
    return MqttSettings(name="plant", url=broker.tls_url(), reconnect_max_s=0.5, **options)


async def _stores_what_is_published(harness: Harness, broker: MosquittoServer, count: int) -> None:
    """``count`` QoS 1 messages published on the plain listener all end up stored."""
    publisher = Publisher(broker.port)
    try:
        for i in range(count):
            publisher.send(f"{PREFIX}/acme/line/tls", json.dumps({"ts": T0 + i, "value": i}))

        async def all_stored() -> bool:
            return await harness.count("acme/line/tls") == count

        await eventually(all_stored, f"the {count} messages stored")
    finally:
        publisher.close()
    stored = await harness.values("acme/line/tls")
    assert [value for _, value in stored] == [float(i) for i in range(count)]


async def _refused_repeatedly(harness: Harness) -> str:
    """The connector fails, retries and fails again (it keeps running); the last error."""
    state = harness.connector.state

    async def failed() -> bool:
        return state.errors >= 1

    await eventually(failed, "the first failed attempt", 5)
    first = state.errors

    # reconnect_max_s is 0.5: a few more attempts fit well within the deadline, and more errors
    # mean the run loop is still retrying rather than dead.
    async def retried() -> bool:
        return state.errors >= first + 2

    await eventually(retried, "further attempts, each failing", 5)
    assert not state.connected
    return state.last_error or ""


async def test_connects_over_tls_with_the_ca_file_and_stores_messages(
    database_url: str, tmp_path: Path, tls_broker: MosquittoServer, tls_files: TlsFiles
) -> None:
    settings = tls_settings(tls_broker, ca_file=str(tls_files.ca_file))
    async with running(database_url, tmp_path, settings) as harness:
        await harness.connected()
        # Enough messages to span many TLS records and many reads of the event-loop driver.
        await _stores_what_is_published(harness, tls_broker, 500)
        state = harness.connector.state
        assert (state.errors, state.last_error) == (0, None)


async def test_refuses_a_broker_certificate_the_system_store_does_not_trust(
    database_url: str, tmp_path: Path, tls_broker: MosquittoServer
) -> None:
    # No ca_file: the system's trust store, which knows nothing of the test CA.
    async with running(database_url, tmp_path, tls_settings(tls_broker)) as harness:
        error = await _refused_repeatedly(harness)
        assert f"cannot connect to 127.0.0.1:{tls_broker.tls_port}" in error
        assert "CERTIFICATE_VERIFY_FAILED" in error
        assert harness.connector.state.messages == 0


async def test_refuses_a_broker_signed_by_another_ca(
    database_url: str, tmp_path: Path, tls_broker: MosquittoServer
) -> None:
    other = make_tls_files(tmp_path / "other-pki")
    settings = tls_settings(tls_broker, ca_file=str(other.ca_file))
    async with running(database_url, tmp_path, settings) as harness:
        error = await _refused_repeatedly(harness)
        assert "CERTIFICATE_VERIFY_FAILED" in error


async def test_checks_the_host_name_unless_tls_insecure(database_url: str, tmp_path: Path) -> None:
    # A certificate the CA vouches for, but issued to another host than the one dialled.
    files = make_tls_files(tmp_path / "pki", server_hosts=("broker.plant.example",))
    with mosquitto_server(tls=_listener(files)) as broker:
        strict = tls_settings(broker, ca_file=str(files.ca_file))
        async with running(database_url, tmp_path, strict) as harness:
            error = await _refused_repeatedly(harness)
            assert "CERTIFICATE_VERIFY_FAILED" in error
            assert "mismatch" in error
        # tls_insecure skips only the host name: the chain is still checked against ca_file.
        lenient = tls_settings(broker, ca_file=str(files.ca_file), tls_insecure=True)
        async with running(database_url, tmp_path, lenient) as harness:
            await harness.connected()


async def test_presents_a_client_certificate_when_the_broker_requires_one(
    database_url: str, tmp_path: Path, mtls_broker: MosquittoServer, tls_files: TlsFiles
) -> None:
    settings = tls_settings(
        mtls_broker,
        ca_file=str(tls_files.ca_file),
        cert_file=str(tls_files.client.cert_file),
        key_file=str(tls_files.client.key_file),
    )
    async with running(database_url, tmp_path, settings) as harness:
        await harness.connected()
        await _stores_what_is_published(harness, mtls_broker, 20)


async def test_is_refused_without_a_client_certificate(
    database_url: str, tmp_path: Path, mtls_broker: MosquittoServer, tls_files: TlsFiles
) -> None:
    settings = tls_settings(mtls_broker, ca_file=str(tls_files.ca_file))
    async with running(database_url, tmp_path, settings) as harness:
        await _refused_repeatedly(harness)
    assert "peer did not return a certificate" in mtls_broker.log_tail()
