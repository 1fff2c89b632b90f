"""Channel and subscription forms: from what was typed to the API's bodies, and back.

A channel's settings differ by kind, so its form names them per kind (``webhook.url``,
``email.to``, ``slack.url``) and only the chosen kind's are read; the service's problems with
``config.url`` are shown at the field of that kind. A webhook's secret is never written into a
page: the edit form leaves it empty, and empty keeps the secret set before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from shopfloor.core.errors import ShopfloorError
from shopfloor.notify.models import Channel, Subscription
from shopfloor.notify.schemas import (
    ChannelCreate,
    ChannelUpdate,
    SubscriptionCreate,
    SubscriptionUpdate,
    checked_config,
)
from shopfloor.web.admin.forms import FormState, checked, optional, pydantic_errors, sentence

KINDS = (
    ("webhook", "Webhook: a signed JSON POST"),
    ("email", "E-mail, through the SMTP server in the settings"),
    ("slack", "Slack incoming webhook"),
)
KIND_LABELS = {"webhook": "Webhook", "email": "E-mail", "slack": "Slack"}
# Settings of each kind, besides the ones every kind has: input name → config key.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url", "secret"),
    "email": ("to", "subject", "template", "html_template"),
    "slack": ("url", "template"),
}
CHANNEL_LABELS = {
    "name": "Name",
    "kind": "Kind",
    "webhook.url": "Webhook URL",
    "webhook.secret": "Signing secret",
    "email.to": "Recipients",
    "email.subject": "Subject",
    "email.template": "Message template",
    "email.html_template": "HTML template",
    "slack.url": "Slack webhook URL",
    "slack.template": "Message template",
    "rate_limit.messages": "Messages",
    "rate_limit.window_s": "Per seconds",
}
SUBSCRIPTION_LABELS = {
    "scope": "Scope",
    "min_severity": "From severity",
    "events": "Events",
    "quiet_hours.start": "Quiet from",
    "quiet_hours.end": "Quiet until",
    "quiet_hours.timezone": "Time zone",
    "channel_id": "Channel",
}
_ADDRESS_SEPARATORS = re.compile(r"[\s,;]+")


def _in_kind(kind: str) -> Any:
    """Rename a service's ``config.x`` problem to the input of this kind's form."""

    def rename(key: str) -> str:
        return f"{kind}.{key.removeprefix('config.')}" if key.startswith("config.") else key

    return rename


def channel_form(form_id: str, channel: Channel | None = None) -> FormState:
    """A channel's form, filled with its settings (never the webhook's secret)."""
    if channel is None:
        values: dict[str, Any] = {"kind": "webhook", "enabled": "on"}
        return FormState(form_id, values, labels=CHANNEL_LABELS)
    config = channel.config
    values = {
        "name": channel.name,
        "kind": channel.kind,
        "rate_limit.messages": channel.rate_limit_messages,
        "rate_limit.window_s": f"{channel.rate_limit_window_s:g}",
    }
    for key in KIND_FIELDS[channel.kind]:
        if key == "secret":
            continue
        value = config.get(key)
        if key == "to" and isinstance(value, list):
            value = "\n".join(value)
        values[f"{channel.kind}.{key}"] = value
    return FormState(form_id, values, labels=CHANNEL_LABELS)


def _config(kind: str, values: Mapping[str, Any], editing: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key in KIND_FIELDS.get(kind, ()):
        raw = optional(values, f"{kind}.{key}")
        if key == "to":
            config["to"] = [a for a in _ADDRESS_SEPARATORS.split(raw or "") if a]
        elif key == "url":
            config["url"] = raw or ""
        elif key == "secret":
            if raw is not None:
                config["secret"] = raw
            elif editing and checked(values, "webhook.remove_secret"):
                config["secret"] = None  # ChannelUpdate: null removes the secret
        elif raw is not None:
            config[key] = raw
    return config


def _rate_limit(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: values[f"rate_limit.{key}"]
        for key in ("messages", "window_s")
        if optional(values, f"rate_limit.{key}") is not None
    }


def new_channel(form: FormState) -> ChannelCreate | None:
    """The body of ``POST /channels``; None when ``form`` has problems (all of them noted)."""
    values, kind = form.values, str(form.value("kind"))
    config = _config(kind, values, editing=False)
    try:
        body = ChannelCreate(
            name=form.value("name"),
            kind=kind,
            config=config,
            enabled=checked(values, "enabled"),
            rate_limit=_rate_limit(values),
        )
    except ValidationError as exc:
        form.add(pydantic_errors(exc))
        body = None
    if kind in KIND_FIELDS:
        _check_config(form, kind, config)
    return None if form.failed else body


def channel_changes(form: FormState, kind: str) -> ChannelUpdate | None:
    """The body of ``PATCH /channels/{id}``; None when ``form`` has problems."""
    values = form.values
    config = _config(kind, values, editing=True)
    try:
        body = ChannelUpdate(name=form.value("name"), config=config, rate_limit=_rate_limit(values))
    except ValidationError as exc:
        form.add(pydantic_errors(exc))
        body = None
    # A config without its secret is checked as the service will: the secret kept is valid.
    _check_config(form, kind, {k: v for k, v in config.items() if v is not None})
    return None if form.failed else body


def _check_config(form: FormState, kind: str, config: dict[str, Any]) -> None:
    try:
        checked_config(kind, config)
    except ShopfloorError as exc:
        form.add(exc.errors or [], _in_kind(kind))


def refuse_channel(form: FormState, exc: ShopfloorError) -> FormState:
    """A refusal of the service, at the fields of the form's kind."""
    if exc.status == 409:
        form.errors["name"] = sentence(exc.detail)
        return form
    return form.refuse(exc, rename=_in_kind(str(form.value("kind"))))


def target_of(channel: Channel) -> str:
    """Where a channel sends, for its card; a Slack URL is a credential, so only its host."""
    config = channel.config
    if channel.kind == "email":
        return ", ".join(config.get("to", []))
    url = str(config.get("url", ""))
    if channel.kind == "slack":
        return f"{urlsplit(url).hostname or 'Slack'}/…"
    return url


# --- subscriptions ----------------------------------------------------------------------------


def subscription_form(form_id: str, subscription: Subscription | None = None) -> FormState:
    if subscription is None:
        values: dict[str, Any] = {
            "min_severity": "warning",
            "events": ["alarm.opened", "alarm.escalated"],
        }
        return FormState(form_id, values, labels=SUBSCRIPTION_LABELS)
    quiet = subscription.quiet_hours or {}
    values = {
        "scope": subscription.scope,
        "min_severity": subscription.min_severity,
        "events": list(subscription.events),
        "quiet_hours.start": quiet.get("start", ""),
        "quiet_hours.end": quiet.get("end", ""),
        "quiet_hours.timezone": quiet.get("timezone", ""),
    }
    return FormState(form_id, values, labels=SUBSCRIPTION_LABELS)


def _quiet_hours(values: Mapping[str, Any]) -> dict[str, Any] | None:
    parts = {key: optional(values, f"quiet_hours.{key}") for key in ("start", "end", "timezone")}
    if all(value is None for value in parts.values()):
        return None
    return {key: value or "" for key, value in parts.items()}


def new_subscription(form: FormState, channel_id: int) -> SubscriptionCreate | None:
    values = form.values
    try:
        return SubscriptionCreate(
            channel_id=channel_id,
            scope=form.value("scope"),
            min_severity=form.value("min_severity"),
            events=form.values_of("events"),
            quiet_hours=_quiet_hours(values),
        )
    except ValidationError as exc:
        form.add(pydantic_errors(exc))
        return None


def subscription_changes(form: FormState) -> SubscriptionUpdate | None:
    values = form.values
    try:
        return SubscriptionUpdate(
            scope=form.value("scope"),
            min_severity=form.value("min_severity"),
            events=form.values_of("events"),
            quiet_hours=_quiet_hours(values),
        )
    except ValidationError as exc:
        form.add(pydantic_errors(exc))
        return None
