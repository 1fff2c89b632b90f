"""Message texts and the rate-limit decision, through their public functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from shopfloor.notify import ratelimit
from shopfloor.notify.senders import signature
from shopfloor.notify.templates import (
    SAMPLE_EVENT,
    alarm_context,
    digest_context,
    num,
    render,
    template_problems,
    webhook_body,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def context(**alarm):
    payload = {**SAMPLE_EVENT, "alarm": {**SAMPLE_EVENT["alarm"], **alarm}}
    return alarm_context(payload, "https://sf.example/", "2026-11-22T08:00:01Z")


def test_numbers_read_well():
    assert [num(None), num(3), num(93.25), num(0.000123456), num(1234567.0)] == [
        "—",
        "3",
        "93.25",
        "0.0001235",
        "1.235e+06",
    ]


def test_a_custom_template_that_fails_at_send_time_falls_back_to_the_default():
    config = {"template": "{{ 100 / alarm.count }} per reading"}
    assert template_problems(config) == []  # the sample alarm has a count
    rendered = render("slack", config, context(count=0))
    assert rendered.text.startswith(":rotating_light: *CRITICAL* Alarm opened")


def test_templates_are_sandboxed():
    problems = template_problems({"template": "{{ alarm.__class__.__mro__ }}"})
    assert problems and problems[0]["loc"] == ["config", "template"]


def test_a_digest_lists_twenty_alarms_and_counts_the_rest():
    listed = [
        {
            "event": "alarm.opened",
            "severity": "warning",
            "path": f"acme/m{n}",
            "message": "hot",
            "value": n,
            "at": "t",
        }
        for n in range(20)
    ]
    digest = {
        "channel": "ops",
        "count": 75,
        "alarm_count": 60,
        "limit": 10,
        "window_s": 60.0,
        "first_at": "2026-11-22T08:00:00Z",
        "last_at": "2026-11-22T08:01:00Z",
        "by_event": {"alarm.opened": 70, "alarm.resolved": 5},
        "by_severity": {"critical": 5, "warning": 70},
        "top_severity": "critical",
        "listed": listed,
        "more": 55,
    }
    mail = render("email", {}, digest_context(digest, "https://sf.example", "now"))
    assert mail.subject == "[CRITICAL] 75 alarm notifications (digest)"
    assert "limit of 10 per 1 min" in mail.text
    assert "Alarm opened         70" in mail.text and "critical             5" in mail.text
    assert mail.text.count("\n- [WARNING] Alarm opened: acme/m") == 20
    assert "... and 55 more." in mail.text
    slack = render("slack", {}, digest_context(digest, "https://sf.example", "now")).text
    assert slack.startswith(":bell: *Digest*: 75 alarm notifications")
    assert slack.count("\n• :warning:") == 20 and "… and 55 more" in slack


def test_the_webhook_signature_covers_the_exact_body():
    body = webhook_body("alarm.opened", SAMPLE_EVENT["alarm"], "2026-11-22T08:00:01Z")
    assert orjson.loads(body)["alarm"]["path"] == SAMPLE_EVENT["alarm"]["path"]
    assert signature("k", body) == signature("k", bytes(body))
    assert signature("k", body) != signature("k", body + b" ")
    assert signature("k", body).startswith("sha256=") and len(signature("k", body)) == 71


def usage(*attempts: tuple[float, bool, bool]) -> ratelimit.Usage:
    used = ratelimit.Usage()
    for seconds_ago, flying, digest in attempts:
        used.add(NOW - timedelta(seconds=seconds_ago), flying, digest)
    return used


def decide(waiting: int, held: int, used: ratelimit.Usage, slots: int = 4):
    return ratelimit.decide(
        limit=10, window_s=60, waiting=waiting, held=held, usage=used, slots=slots, now=NOW
    )


def test_rate_limit_sends_what_fits_and_holds_the_rest():
    assert decide(3, 0, usage()) == ratelimit.Decision(send=3, free=10)
    assert decide(30, 0, usage()) == ratelimit.Decision(send=4, hold_beyond=10, free=10)
    full = usage(*[(30 - n, False, False) for n in range(10)])
    decision = decide(5, 0, full)
    assert decision.hold_beyond == 0 and decision.send == 0
    assert decision.look_again_at == NOW + timedelta(seconds=30)  # the oldest ages out


def test_rate_limit_digests_what_was_held_and_keeps_digesting_while_the_storm_lasts():
    assert decide(40, 40, usage((61, False, False))).digest
    assert decide(1, 1, usage()) == ratelimit.Decision(send=1, free=10)
    after_digest = decide(7, 0, usage((20, False, True)))
    assert after_digest.hold_beyond == 0
    assert after_digest.look_again_at == NOW + timedelta(seconds=40)
    assert decide(7, 0, usage((61, False, True))) == ratelimit.Decision(send=4, free=10)
