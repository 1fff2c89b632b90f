"""Request and response bodies of the notifications API, and each channel kind's config."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shopfloor.alarms.events import SUBSCRIBABLE_EVENTS
from shopfloor.core.errors import ValidationFailed
from shopfloor.core.paths import path_problem
from shopfloor.notify.templates import template_problems

ChannelKind = Literal["webhook", "email", "slack"]
Severity = Literal["info", "warning", "critical"]
SubscribableEvent = Literal[
    "alarm.opened", "alarm.escalated", "alarm.acknowledged", "alarm.resolved"
]
DeliveryStatus = Literal["pending", "sending", "sent", "failed", "dead", "skipped"]

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
MAX_TEMPLATE = 20_000


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if any(char.isspace() for char in value):
        raise ValueError("must not contain spaces")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"has a bad port: {exc}") from None
    return value


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WebhookConfig(_Config):
    url: str = Field(max_length=2000, examples=["https://example.com/hooks/shopfloor"])
    secret: str | None = Field(default=None, min_length=1, max_length=500)

    _url = field_validator("url")(_http_url)


class SlackConfig(_Config):
    url: str = Field(max_length=2000, examples=["https://hooks.slack.com/services/T000/B000/XXX"])
    template: str | None = Field(default=None, max_length=MAX_TEMPLATE)

    _url = field_validator("url")(_http_url)


class EmailConfig(_Config):
    to: list[str] = Field(min_length=1, max_length=100, examples=[["maintenance@example.com"]])
    subject: str | None = Field(default=None, max_length=2000)
    template: str | None = Field(default=None, max_length=MAX_TEMPLATE)
    html_template: str | None = Field(default=None, max_length=MAX_TEMPLATE)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [address for address in value if not _EMAIL.fullmatch(address.strip())]
        if bad:
            raise ValueError(f"not valid e-mail addresses: {', '.join(map(repr, bad))}")
        return list(dict.fromkeys(address.strip() for address in value))


CONFIGS: dict[str, type[_Config]] = {
    "webhook": WebhookConfig,
    "slack": SlackConfig,
    "email": EmailConfig,
}


def checked_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` validated for ``kind`` (templates compiled), or 422 naming each bad field."""
    try:
        model = CONFIGS[kind].model_validate(config)
    except ValidationError as exc:
        errors = [
            {"loc": ["config", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        raise ValidationFailed(f"config is not valid for a {kind} channel", errors=errors) from None
    clean = model.model_dump(exclude_none=True)
    if problems := template_problems(clean):
        raise ValidationFailed("a template of the channel does not work", errors=problems)
    return clean


class RateLimit(BaseModel):
    """At most ``messages`` messages per ``window_s`` seconds; beyond that, one digest."""

    model_config = ConfigDict(extra="forbid")

    messages: int = Field(default=10, ge=1, le=1000)
    window_s: float = Field(default=60.0, ge=1, le=86_400)


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["maintenance-mail"])
    kind: ChannelKind
    config: dict[str, Any] = Field(
        description="webhook: {url, secret?}; email: {to: [...], subject?, template?, "
        "html_template?}; slack: {url, template?}"
    )
    enabled: bool = True
    rate_limit: RateLimit = Field(default_factory=RateLimit)


class ChannelUpdate(BaseModel):
    """Fields to change. A webhook ``config`` without ``secret`` keeps the secret it had;
    ``"secret": null`` removes it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    config: dict[str, Any] | None = None
    enabled: bool | None = None
    rate_limit: RateLimit | None = None


class ChannelOut(BaseModel):
    id: int
    name: str
    kind: str
    config: dict[str, Any] = Field(description="A webhook's secret is never shown: secret_set")
    enabled: bool
    rate_limit: RateLimit
    created_at: datetime
    updated_at: datetime


def channel_out(channel: Any) -> ChannelOut:
    config = dict(channel.config)
    if channel.kind == "webhook":
        config["secret_set"] = bool(config.pop("secret", None))
    return ChannelOut(
        id=channel.id,
        name=channel.name,
        kind=channel.kind,
        config=config,
        enabled=channel.enabled,
        rate_limit=RateLimit(
            messages=channel.rate_limit_messages, window_s=channel.rate_limit_window_s
        ),
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


class QuietHours(BaseModel):
    """From ``start`` to ``end`` local time (may span midnight), only critical alarms notify."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(examples=["22:00"])
    end: str = Field(examples=["06:00"])
    timezone: str = Field(examples=["Europe/Berlin"])

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _HH_MM.fullmatch(value):
            raise ValueError("must be a 24-hour time HH:MM")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name, such as Europe/Berlin") from None
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: str, info: Any) -> str:
        if info.data.get("start") == value:
            raise ValueError("must differ from start")
        return value


def _scope(value: str) -> str:
    if value != "" and (problem := path_problem(value)):
        raise ValueError(problem)
    return value


def _events(value: list[str]) -> list[str]:
    return list(dict.fromkeys(value))


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_id: int
    scope: str = Field(
        description='Alarms at this path or under it; "" for the whole plant.',
        examples=["acme/stamping/line-1"],
    )
    min_severity: Severity = "info"
    events: list[SubscribableEvent] = Field(
        default_factory=lambda: list(SUBSCRIBABLE_EVENTS), min_length=1
    )
    quiet_hours: QuietHours | None = None

    _scope = field_validator("scope")(_scope)
    _events = field_validator("events")(_events)


class SubscriptionUpdate(BaseModel):
    """Fields to change; ``"quiet_hours": null`` removes the quiet hours."""

    model_config = ConfigDict(extra="forbid")

    scope: str | None = None
    min_severity: Severity | None = None
    events: list[SubscribableEvent] | None = Field(default=None, min_length=1)
    quiet_hours: QuietHours | None = None

    _scope = field_validator("scope")(lambda value: None if value is None else _scope(value))
    _events = field_validator("events")(lambda value: None if value is None else _events(value))


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel_id: int
    scope: str
    min_severity: str
    events: list[str]
    quiet_hours: QuietHours | None
    created_at: datetime
    updated_at: datetime


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel_id: int
    subscription_id: int | None
    event_id: str = Field(description="The id of the alarm event (bus envelope) delivered")
    event: str = Field(description='An alarm event, or "digest"')
    alarm_id: int | None
    path: str | None
    severity: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    attempted_at: datetime | None = Field(description="When the latest attempt started")
    held_at: datetime | None = Field(description="When the channel's rate limit held it back")
    last_error: str | None = Field(description="Why it failed, or why it was skipped")
    sent_at: datetime | None
    created_at: datetime
    digest_id: int | None = Field(description="The digest this delivery was folded into")
    payload: dict[str, Any]
