"""The administration forms' reading: what was typed becomes the API's bodies, and the services'
problems land at the fields they are about."""

from __future__ import annotations

from datetime import UTC, datetime

from shopfloor.alarms.models import AlarmRule
from shopfloor.auth.models import AuditEntry
from shopfloor.notify.models import Channel
from shopfloor.web.admin.channel_forms import (
    channel_changes,
    channel_form,
    new_channel,
    target_of,
)
from shopfloor.web.admin.forms import FormState
from shopfloor.web.admin.rule_forms import new_rule, params_summary, rule_changes, rule_form
from shopfloor.web.pages.admin_audit import changes_of


def typed(form: FormState, **values: object) -> FormState:
    form.values = {key.replace("__", "."): value for key, value in values.items()}
    return form


def test_problems_of_one_field_join_and_lose_pydantics_prefix() -> None:
    form = FormState("f")
    form.add(
        [
            {"loc": ["body", "password"], "msg": "must be at least 12 characters long"},
            {"loc": ["password"], "msg": "Value error, must not contain the user name"},
            {"loc": ["scopes", 1], "msg": "unknown scope 'x'"},
        ]
    )
    assert form.errors == {
        "password": "Must be at least 12 characters long; must not contain the user name",
        "scopes": "Unknown scope 'x'",
    }
    assert form.input_id("quiet_hours.start") == "f-quiet-hours-start"


def test_a_rules_refused_parameters_are_named_by_the_inputs_of_its_kind() -> None:
    form = typed(
        rule_form("new-rule"),
        name="",
        scope="Acme/Line 1",
        kind="threshold",
        severity="warning",
        threshold__low="90",
        threshold__high="40",
        life__clear_seconds="-1",
        anomaly__threshold="7",  # another kind's field: not read
    )
    assert new_rule(form) is None
    assert set(form.errors) == {"name", "scope", "threshold.high", "life.clear_seconds"}
    assert form.errors["threshold.high"] == "High must be above low"


def test_a_rule_sends_only_the_parameters_typed_so_defaults_keep_applying() -> None:
    form = typed(
        rule_form("new-rule"),
        name="spindle-too-fast",
        scope="",
        kind="rate_of_change",
        severity="critical",
        for_seconds="",
        enabled="on",
        rate_of_change__max_per_second="2.5",
        life__escalate_to="",
    )
    body = new_rule(form)
    assert body is not None and not form.failed
    assert body.params == {"max_per_second": "2.5"}  # the service stores it as 2.5
    assert (body.kind, body.severity, body.for_seconds, body.enabled) == (
        "rate_of_change",
        "critical",
        0.0,
        True,
    )


def test_a_stored_rule_fills_its_form_and_saves_back_unchanged() -> None:
    rule = AlarmRule(
        id=3,
        name="spc-line-1",
        scope="acme/line-1",
        kind="spc",
        params={"rules": ["WE1", "N2"], "remind_every_seconds": 600.0},
        severity="info",
        for_seconds=30.0,
        enabled=True,
    )
    form = rule_form("rule-3", rule)
    assert form.values_of("spc.rules") == ["WE1", "N2"]
    assert form.value("life.remind_every_seconds") == "600"
    body = rule_changes(form)
    assert body is not None
    assert body.params == {"rules": ["WE1", "N2"], "remind_every_seconds": "600"}
    assert body.for_seconds == 30.0
    assert params_summary(rule) == ["Tests WE1, N2", "Reminds every (s) 600"]


def test_a_channels_config_problems_land_at_its_kinds_fields() -> None:
    form = typed(
        channel_form("new-channel"),
        name="andon",
        kind="webhook",
        webhook__url="ftp://example.com",
        email__to="not read",
        rate_limit__messages="0",
    )
    assert new_channel(form) is None
    assert set(form.errors) == {"webhook.url", "rate_limit.messages"}

    email = typed(
        channel_form("new-channel"),
        name="maintenance-mail",
        kind="email",
        enabled="on",
        email__to="a@example.com, b@example.com\nc@example.com",
    )
    body = new_channel(email)
    assert body is not None
    assert body.config == {"to": ["a@example.com", "b@example.com", "c@example.com"]}


def test_a_webhooks_secret_is_kept_when_left_empty_and_removed_when_asked() -> None:
    channel = Channel(
        id=4,
        name="andon",
        kind="webhook",
        config={"url": "https://example.com/hook", "secret": "s3cret"},
        rate_limit_messages=10,
        rate_limit_window_s=60.0,
    )
    form = channel_form("channel-4", channel)
    assert "s3cret" not in map(str, form.values.values())
    kept = channel_changes(typed(form, **{**form.values, "webhook.secret": ""}), "webhook")
    assert kept is not None and kept.config == {"url": "https://example.com/hook"}
    removed = channel_changes(
        typed(
            channel_form("channel-4", channel),
            name="andon",
            webhook__url="https://example.com/hook",
            webhook__remove_secret="on",
        ),
        "webhook",
    )
    assert removed is not None and removed.config == {
        "url": "https://example.com/hook",
        "secret": None,
    }


def test_a_slack_channels_card_shows_only_the_host_of_its_url() -> None:
    channel = Channel(kind="slack", config={"url": "https://hooks.slack.com/services/T0/B0/XYZ"})
    assert target_of(channel) == "hooks.slack.com/…"


def test_an_audit_entry_shows_what_changed_without_the_bookkeeping() -> None:
    at = datetime(2026, 11, 29, tzinfo=UTC)
    entry = AuditEntry(
        action="channel.updated",
        before={"enabled": True, "updated_at": "2026-11-29T10:00:00"},
        after={"enabled": False, "updated_at": "2026-11-29T10:05:00"},
        at=at,
    )
    assert [(c.field, c.before, c.after) for c in changes_of(entry)] == [
        ("enabled", "true", "false")
    ]
    touched = AuditEntry(
        action="user.updated", before={"updated_at": "a"}, after={"updated_at": "b"}
    )
    assert [c.field for c in changes_of(touched)] == ["updated_at"]
