"""E-mail through a real SMTP server (aiosmtpd) and Slack's incoming-webhook body."""

from __future__ import annotations

import pytest

from shopfloor.notify.senders import SmtpConfig
from tests.notify.conftest import PATH, alarm_event
from tests.notify.receivers import SmtpReceiver


async def test_an_email_has_a_clear_subject_and_the_alarm_in_its_body(notify, smtp):
    channel = await notify.channel(
        "maintenance", "email", {"to": ["maint@example.com", "lead@example.com"]}
    )
    await notify.subscribe(channel)
    await notify.publish(alarm_event(severity="critical", alarm_id=12, value=93.4, count=3))
    await notify.wait_for(lambda: len(smtp.mails) == 1, what="one e-mail")
    mail = smtp.mails[0]
    assert mail.sender == "alarms@acme.example"
    assert mail.recipients == ["maint@example.com", "lead@example.com"]
    assert mail.subject == f"[CRITICAL] Alarm opened: {PATH} — reading outside the sensor's limits"
    assert mail.message["To"] == "maint@example.com, lead@example.com"
    text = mail.text
    for expected in (
        "Value:      93.4",
        "Score:      0.97",
        "Count:      3",
        "State:      open",
        "Opened:     2026-11-22T08:00:00Z",
        "https://shopfloor.acme.example/alarms/12",
    ):
        assert expected in text, (expected, text)
    [delivery] = await notify.wait_statuses({"sent": 1})
    assert mail.message["X-Shopfloor-Delivery"] == str(delivery["id"])


async def test_an_email_channel_can_bring_its_own_templates(notify, smtp):
    config = {
        "to": ["ops@example.com"],
        "subject": "{{ alarm.severity }} on {{ alarm.path }}",
        "template": "Look at {{ alarm.path }}: {{ alarm.value|num }} ({{ title }})",
        "html_template": "<p>{{ alarm.message }}</p>",
    }
    channel = await notify.channel("custom", "email", config)
    await notify.subscribe(channel)
    await notify.publish(alarm_event("alarm.resolved", message="<b>oil</b> & water", value=1.5))
    await notify.wait_for(lambda: len(smtp.mails) == 1, what="one e-mail")
    mail = smtp.mails[0]
    assert mail.subject == f"warning on {PATH}"
    assert mail.text.strip() == f"Look at {PATH}: 1.5 (Alarm resolved)"
    html = mail.message.get_body(("html",)).get_content()
    assert "<p>&lt;b&gt;oil&lt;/b&gt; &amp; water</p>" in html  # autoescaped in HTML only


async def test_a_refused_recipient_is_dead_at_once(notify, smtp):
    channel = await notify.channel("nobody", "email", {"to": ["nobody@example.com"]})
    await notify.subscribe(channel)
    await notify.publish(alarm_event())
    [dead] = await notify.wait_statuses({"dead": 1})
    assert dead["attempts"] == 1
    assert "550" in dead["last_error"] and "nobody@example.com" in dead["last_error"]
    assert smtp.mails == []


async def test_without_an_smtp_server_emails_are_dead_with_the_reason(notify_factory):
    async with notify_factory(smtp=None) as notify:
        channel = await notify.channel("mail", "email", {"to": ["ops@example.com"]})
        await notify.subscribe(channel)
        await notify.publish(alarm_event())
        [dead] = await notify.wait_statuses({"dead": 1})
        assert "SHOPFLOOR_SMTP_HOST" in dead["last_error"]


async def test_slack_gets_one_concise_line(notify, receiver):
    channel = await notify.channel("slack", "slack", {"url": receiver.url("/slack")})
    await notify.subscribe(channel)
    await notify.publish(alarm_event(severity="critical", alarm_id=5, message="too <hot> & loud"))
    await notify.wait_for(lambda: len(receiver.requests) == 1, what="the Slack message")
    body = receiver.requests[0].json()
    assert set(body) == {"text"}
    text = body["text"]
    assert "\n" not in text
    assert text.startswith(":rotating_light: *CRITICAL* Alarm opened: ")
    assert f"<https://shopfloor.acme.example/alarms/5|{PATH}>" in text
    assert "too &lt;hot&gt; &amp; loud" in text  # Slack's own escaping
    assert "value 93.4" in text and "score 0.97" in text and "count 3" in text


async def test_slack_severities_have_their_own_emoji(notify, receiver):
    channel = await notify.channel("slack", "slack", {"url": receiver.url("/slack")})
    await notify.subscribe(channel)
    await notify.publish(alarm_event(severity="warning"))
    await notify.publish(alarm_event("alarm.resolved", severity="warning"))
    await notify.wait_for(lambda: len(receiver.requests) == 2, what="two Slack messages")
    texts = sorted(request.json()["text"] for request in receiver.requests)
    assert texts[0].startswith(":warning: *WARNING* Alarm opened")
    assert texts[1].startswith(":white_check_mark: *WARNING* Alarm resolved")


async def test_one_refused_recipient_does_not_stop_the_others(notify, smtp):
    channel = await notify.channel(
        "mixed", "email", {"to": ["ops@example.com", "nobody@example.com"]}
    )
    await notify.subscribe(channel)
    await notify.publish(alarm_event())
    await notify.wait_statuses({"sent": 1})
    assert [mail.recipients for mail in smtp.mails] == [["ops@example.com"]]


# The test server has no certificate, so it takes AUTH over plain TCP and says so.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_email_logs_in_to_the_smtp_server_when_configured(notify_factory):
    server = SmtpReceiver(login=("alarms", "right"))
    server.start()
    try:
        for password, status in (("right", "sent"), ("wrong", "dead")):
            smtp = SmtpConfig(host="127.0.0.1", port=server.port, user="alarms", password=password)
            async with notify_factory(smtp=smtp) as notify:
                channel = await notify.channel(password, "email", {"to": ["ops@example.com"]})
                await notify.subscribe(channel)
                await notify.publish(alarm_event())
                [row] = await notify.wait_statuses({status: 1}, channel_id=channel["id"])
                if status == "dead":
                    assert row["last_error"].startswith("SMTP 535")
        assert len(server.mails) == 1
    finally:
        server.stop()
