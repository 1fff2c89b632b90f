"""API shapes of the connectors: a configuration plus ``enabled``, and what runs where."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from shopfloor.connectors.config import MqttSettings, OpcUaSettings

HIDDEN = "***"


class MqttIn(MqttSettings):
    enabled: bool = True


class OpcUaIn(OpcUaSettings):
    enabled: bool = True


ConnectorIn = Annotated[MqttIn | OpcUaIn, Field(discriminator="kind")]


class ConnectorPatch(BaseModel):
    enabled: bool


class ConnectorStatusOut(BaseModel):
    state: Literal["running", "stale", "stopped"] = Field(
        description="running: reported within the last seconds; stale: its process stopped "
        "reporting; stopped: not running anywhere."
    )
    process: str | None = None
    connected: bool = False
    messages: int = 0
    readings: int = 0
    errors: int = 0
    rejected: int = 0
    dead_letters: int = 0
    last_message_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    reported_at: datetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ConnectorOut(BaseModel):
    name: str
    kind: Literal["mqtt", "opcua"]
    origin: Literal["api", "file", "settings", "elsewhere"] = Field(
        description="Where it is defined: the API, a connectors file or SHOPFLOOR_MQTT_URL of "
        "this process; elsewhere: only another process knows its definition."
    )
    enabled: bool
    settings: dict[str, Any] | None = Field(description="Passwords shown as ***.")
    status: ConnectorStatusOut
    created_at: datetime | None = None
    updated_at: datetime | None = None


def hide_secrets(document: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (HIDDEN if key == "password" and value else value) for key, value in document.items()
    }
