"""Connector configuration: the same models read from a TOML file, the API and the settings.

A file holds a list of connectors::

    [[connectors]]
    kind = "mqtt"
    name = "plant-broker"
    url = "mqtts://shopfloor:secret@broker.plant:8883"

    [[connectors]]
    kind = "opcua"
    name = "press-3"
    endpoint = "opc.tcp://press-3.plant:4840"
    nodes = [{ node_id = "ns=2;s=OilTemp", path = "acme/stamping/line-1/press-3/oil-temp" }]
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from shopfloor.core.errors import ShopfloorError
from shopfloor.core.paths import path_problem

NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SparkplugSettings(_Strict):
    """Sparkplug B on the same broker: ``spBv1.0/<group>/<type>/<edge node>[/<device>]``."""

    group: str = Field(default="+", description="The group id to subscribe to; + for all.")
    path: str = Field(
        default="{group}/{node}/{device}/{metric}",
        description=(
            "How a metric becomes a sensor path. Placeholders: {group}, {node}, {device} (empty "
            "for node metrics: its segment is dropped), {metric} (its '/' become segments). "
            "Each segment is lower-cased and characters outside [a-z0-9_-] become '-'."
        ),
    )

    @field_validator("path")
    @classmethod
    def _has_metric(cls, value: str) -> str:
        if "{metric}" not in value:
            raise ValueError("the path rule must contain {metric}")
        unknown = set(re.findall(r"{(\w*)}", value)) - {"group", "node", "device", "metric"}
        if unknown:
            raise ValueError(f"unknown placeholder(s): {', '.join(sorted(unknown))}")
        return value


class MqttSettings(_Strict):
    kind: Literal["mqtt"] = "mqtt"
    name: str = Field(pattern=NAME)
    url: str = Field(description="mqtt://[user:password@]host[:port], mqtts:// for TLS.")
    username: str | None = Field(default=None, description="Overrides the URL's user.")
    password: str | None = Field(default=None, description="Overrides the URL's password.")
    topic_prefix: str = "shopfloor/v1"
    client_id: str | None = Field(
        default=None,
        description="Fixed per connector so the broker keeps its session (and queued messages) "
        "across restarts; default shopfloor-<name>.",
    )
    qos: Literal[0, 1] = 1
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT 5 lets the connector set its in-flight window (receive_maximum); "
        "with 3.1.1 the broker's own limit applies (Mosquitto: max_inflight_messages, 20).",
    )
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = Field(default=False, description="Skip the broker's host name check.")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(
        default=10_000, ge=1, le=65_535, description="Unacknowledged QoS 1 messages in flight."
    )
    batch_max_readings: int = Field(default=20_000, ge=1)
    batch_max_wait_ms: int = Field(default=20, ge=0, le=10_000)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    sparkplug: SparkplugSettings | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError("must look like mqtt://[user:password@]host[:port] or mqtts://…")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or any(c in value for c in "+#"):
            raise ValueError("must be a topic without wildcards, such as shopfloor/v1")
        return value


class OpcUaNode(_Strict):
    node_id: str = Field(min_length=1, description="e.g. ns=2;s=Press3.OilTemp or ns=2;i=1001")
    path: str
    deadband: float | None = Field(default=None, ge=0, description="Overrides the connector's.")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        problem = path_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class OpcUaSettings(_Strict):
    kind: Literal["opcua"] = "opcua"
    name: str = Field(pattern=NAME)
    endpoint: str = Field(description="opc.tcp://host:port[/path]")
    username: str | None = None
    password: str | None = None
    security: str | None = Field(
        default=None,
        description="asyncua security string: Policy,Mode,certificate,private_key "
        "(e.g. Basic256Sha256,SignAndEncrypt,cert.der,key.pem); none when unset.",
    )
    mode: Literal["subscribe", "poll"] = Field(
        default="subscribe",
        description="Subscriptions, falling back to polling when the server refuses them; or "
        "polling only.",
    )
    publishing_interval_ms: int = Field(default=1000, ge=10)
    sampling_interval_ms: int | None = Field(default=None, ge=0)
    deadband: float = Field(default=0.0, ge=0, description="Absolute deadband of every node.")
    poll_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    nodes: list[OpcUaNode] = Field(min_length=1)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "opc.tcp" or not parts.hostname:
            raise ValueError("must look like opc.tcp://host:port")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> OpcUaSettings:
        seen: set[str] = set()
        for node in self.nodes:
            if node.node_id in seen:
                raise ValueError(f"node {node.node_id!r} is listed twice")
            seen.add(node.node_id)
        return self


ConnectorSettings = Annotated[MqttSettings | OpcUaSettings, Field(discriminator="kind")]
_ONE = TypeAdapter(ConnectorSettings)


class ConnectorsFile(_Strict):
    connectors: list[ConnectorSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ConnectorsFile:
        names = [c.name for c in self.connectors]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"connector names must be unique: {', '.join(twice)}")
        return self


def credentials_apart(settings: MqttSettings) -> MqttSettings:
    """The same settings with the URL's user and password moved into their own fields, so
    that stored configurations, API answers and the audit log can hide the password."""
    parts = urlsplit(settings.url)
    if parts.username is None and parts.password is None:
        return settings
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return settings.model_copy(
        update={
            "url": parts._replace(netloc=netloc).geturl(),
            "username": settings.username or unquote(parts.username or "") or None,
            "password": settings.password or unquote(parts.password or "") or None,
        }
    )


def parse_connector(document: dict[str, Any]) -> MqttSettings | OpcUaSettings:
    return _ONE.validate_python(document)


class InvalidConnectorFile(ShopfloorError):
    status, slug, title = 422, "invalid-connector-file", "Invalid connector configuration"


def describe_errors(exc: ValidationError) -> str:
    """``connectors.0.url: must look like …`` for each problem, joined: without the tag of
    the kind pydantic puts in the location, nor its "Value error, " prefix."""
    found = []
    for error in exc.errors():
        where = [str(part) for part in error["loc"] if part not in ("mqtt", "opcua")]
        message = str(error["msg"]).removeprefix("Value error, ")
        found.append(f"{'.'.join(where) or '(top)'}: {message}")
    return "; ".join(found)


def load_file(path: Path) -> list[MqttSettings | OpcUaSettings]:
    """Connectors of a TOML file; raises ``InvalidConnectorFile`` naming the file and the
    problem."""
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InvalidConnectorFile(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConnectorFile(f"{path} is not valid TOML: {exc}") from None
    try:
        return list(ConnectorsFile.model_validate(document).connectors)
    except ValidationError as exc:
        raise InvalidConnectorFile(f"{path}: {describe_errors(exc)}") from None


def mqtt_from_settings(url: str | None, topic_prefix: str) -> MqttSettings | None:
    """The connector that ``SHOPFLOOR_MQTT_URL`` asks for, if any."""
    if not url:
        return None
    return MqttSettings(name="mqtt", url=url, topic_prefix=topic_prefix)
