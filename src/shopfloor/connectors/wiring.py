"""Which connectors a process runs: from the settings, a file, and the API's table."""

from __future__ import annotations

from pathlib import Path

from shopfloor.config import Settings
from shopfloor.connectors.config import InvalidConnectorFile, load_file, mqtt_from_settings
from shopfloor.connectors.runner import AnySettings, ConnectorRunner
from shopfloor.readings.service import Ingestor
from shopfloor.storage import Database


def fixed_connectors(
    settings: Settings, config: Path | None = None
) -> list[tuple[AnySettings, str]]:
    """Connectors of ``SHOPFLOOR_MQTT_URL`` and of the file (``config`` or the setting's).

    Raises ``InvalidConnectorFile`` naming the file and the problem.
    """
    found: list[tuple[AnySettings, str]] = []
    from_url = mqtt_from_settings(settings.mqtt_url, settings.mqtt_topic_prefix)
    if from_url is not None:
        found.append((from_url, "settings"))
    path = config or settings.connectors_file
    if path is not None:
        for connector in load_file(path):
            if any(existing.name == connector.name for existing, _ in found):
                raise InvalidConnectorFile(
                    f"{path}: connector {connector.name!r} is also defined by SHOPFLOOR_MQTT_URL"
                )
            found.append((connector, "file"))
    return found


def build_runner(
    db: Database, ingestor: Ingestor, settings: Settings, config: Path | None = None
) -> ConnectorRunner:
    return ConnectorRunner(db, ingestor, fixed_connectors(settings, config), from_database=True)
