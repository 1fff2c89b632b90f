"""Message texts: Jinja2 templates, sandboxed, with good defaults per channel kind.

A channel may override its text with ``config.template`` (and ``config.subject`` for e-mail,
``config.html_template`` for an HTML part). Templates are checked when a channel is created or
changed: one that does not compile, or that names a field an alarm does not have, is refused
then, not discovered at 3 a.m. Should a custom template still fail at send time, the default is
used instead: a broken template never silences an alarm.

Webhook bodies are not templated: they follow the contract ``{event, alarm, sent_at}``.

The default texts name an alarm by ``where``: its path, or for an SPC alarm filed under no path
(``path`` and ``sensor`` null), its characteristic. Custom templates see the same ``where``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from jinja2 import StrictUndefined, Template, Undefined
from jinja2.sandbox import SandboxedEnvironment

log = structlog.get_logger("shopfloor.notify")

TEMPLATE_KEYS = ("template", "subject", "html_template")
MAX_TEXT = 100_000  # characters of a rendered text; Slack's own limit is 40,000
MAX_SLACK_TEXT = 39_000
DIGEST_ITEMS = 20

EVENT_TITLES = {
    "alarm.opened": "Alarm opened",
    "alarm.escalated": "Alarm escalated",
    "alarm.reminder": "Alarm still open",
    "alarm.acknowledged": "Alarm acknowledged",
    "alarm.resolved": "Alarm resolved",
}
SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
}
RESOLVED_EMOJI = ":white_check_mark:"


def num(value: Any) -> str:
    """A reading, score or count for people: 4 significant digits, ``—`` when missing."""
    if value is None or isinstance(value, Undefined):
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def slack_escape(value: Any) -> str:
    """Slack mrkdwn: only ``&``, ``<`` and ``>`` must be escaped."""
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def duration(seconds: Any) -> str:
    seconds = float(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def title_of(event: str) -> str:
    return EVENT_TITLES.get(event, event)


def _environment(*, autoescape: bool, strict: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined if strict else Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, slack=slack_escape, duration=duration, event_title=title_of)
    return env


_ENVIRONMENTS = {
    (html, strict): _environment(autoescape=html, strict=strict)
    for html in (False, True)
    for strict in (False, True)
}


@functools.lru_cache(maxsize=512)
def _compiled(source: str, html: bool, strict: bool) -> Template:
    return _ENVIRONMENTS[html, strict].from_string(source)


EMAIL_SUBJECT = "[{{ alarm.severity|upper }}] {{ title }}: {{ where }} — {{ alarm.message }}"
EMAIL_BODY = """\
{{ title }}: {{ where }}
{{ alarm.message }}

Severity:   {{ alarm.severity }}
State:      {{ alarm.state }}
Rule:       {{ alarm.rule }} ({{ alarm.kind }})
Value:      {{ alarm.value|num }}
Score:      {{ alarm.score|num }}
Count:      {{ alarm.count|num }}
Opened:     {{ alarm.opened_at }}
Last seen:  {{ alarm.last_seen_at }}
{% if alarm.acknowledged_at %}
Acknowledged: {{ alarm.acknowledged_at }} by {{ alarm.acknowledged_by or "—" }}
{% endif %}
{% if alarm.resolved_at %}
Resolved:   {{ alarm.resolved_at }} by {{ alarm.resolved_by or "—" }}
{% endif %}
{% if alarm.assignee %}
Assignee:   {{ alarm.assignee }}
{% endif %}
Event time: {{ at }}

Open in shopfloor: {{ link }}
"""
SLACK_TEXT = (
    "{{ emoji }} *{{ alarm.severity|upper }}* {{ title }}: "
    "<{{ link }}|{{ where|slack }}> — {{ alarm.message|slack }} · "
    "value {{ alarm.value|num }} · score {{ alarm.score|num }} · "
    "count {{ alarm.count|num }} · {{ alarm.state }}"
)
DIGEST_SUBJECT = "[{{ digest.top_severity|upper }}] {{ digest.count }} alarm notifications (digest)"
DIGEST_BODY = """\
{{ digest.count }} alarm notifications for channel "{{ digest.channel }}" came in faster than \
its limit of {{ digest.limit }} per {{ digest.window_s|duration }}; here they are in one message.
Between {{ digest.first_at }} and {{ digest.last_at }}, {{ digest.alarm_count }} alarm(s).

By event:
{% for event, count in digest.by_event.items() %}
  {{ "%-20s"|format(event|event_title) }} {{ count }}
{% endfor %}
By severity:
{% for severity, count in digest.by_severity.items() %}
  {{ "%-20s"|format(severity) }} {{ count }}
{% endfor %}

{% for item in digest.listed %}
- [{{ item.severity|upper }}] {{ item.event|event_title }}: {{ item.path or "—" }} — \
{{ item.message }} \
(value {{ item.value|num }}, {{ item.at }})
{% endfor %}
{% if digest.more %}
... and {{ digest.more }} more.
{% endif %}

All alarms: {{ alarms_link }}
"""
SLACK_DIGEST = """\
:bell: *Digest*: {{ digest.count }} alarm notifications \
(limit {{ digest.limit }} per {{ digest.window_s|duration }}) — \
{% for event, count in digest.by_event.items() %}{{ event|event_title }} {{ count }}\
{{ ", " if not loop.last }}{% endfor %} · \
{% for severity, count in digest.by_severity.items() %}{{ severity }} {{ count }}\
{{ ", " if not loop.last }}{% endfor %}

{% for item in digest.listed %}
• {{ severity_emoji[item.severity] }} {{ item.event|event_title }}: \
{{ (item.path or "—")|slack }} — \
{{ item.message|slack }} (value {{ item.value|num }})
{% endfor %}
{% if digest.more %}
… and {{ digest.more }} more: <{{ alarms_link }}|all alarms>
{% endif %}"""

SAMPLE_ALARM: dict[str, Any] = {
    "id": 1,
    "sensor": 1,
    "characteristic": None,
    "asset": None,
    "path": "acme/stamping/line-1/press-3/oil-temp",
    "rule": "limits",
    "kind": "threshold",
    "severity": "critical",
    "state": "open",
    "message": "reading outside limits",
    "value": 93.25,
    "score": 0.98,
    "count": 3,
    "opened_at": "2026-11-22T08:00:00Z",
    "last_seen_at": "2026-11-22T08:00:05Z",
    "acknowledged_by": None,
    "acknowledged_at": None,
    "resolved_by": None,
    "resolved_at": None,
    "assignee": None,
    "notes": [],
    "resolution": None,
    "escalation_level": 0,
}
SAMPLE_EVENT = {"event": "alarm.opened", "alarm": SAMPLE_ALARM, "at": "2026-11-22T08:00:00Z"}


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    subject: str | None = None
    html: str | None = None


def where_of(alarm: dict[str, Any]) -> str:
    """What an alarm is about, for people: its path, else its characteristic (SPC)."""
    if alarm.get("path"):
        return str(alarm["path"])
    if alarm.get("characteristic") is not None:
        return f"characteristic {alarm['characteristic']}"
    if alarm.get("sensor") is not None:
        return f"sensor {alarm['sensor']}"
    return "—"


def alarm_context(payload: dict[str, Any], public_url: str, sent_at: str) -> dict[str, Any]:
    """What a template sees for one alarm event."""
    alarm, event = payload["alarm"], payload["event"]
    severity = str(alarm.get("severity", "info"))
    return {
        "event": event,
        "title": title_of(event),
        "alarm": alarm,
        "where": where_of(alarm),
        "at": payload.get("at", ""),
        "sent_at": sent_at,
        "link": f"{public_url.rstrip('/')}/alarms/{alarm.get('id', '')}",
        "alarms_link": f"{public_url.rstrip('/')}/alarms",
        "emoji": RESOLVED_EMOJI
        if event == "alarm.resolved"
        else SEVERITY_EMOJI.get(severity, ":bell:"),
        "severity_emoji": SEVERITY_EMOJI,
    }


def digest_context(digest: dict[str, Any], public_url: str, sent_at: str) -> dict[str, Any]:
    return {
        "event": "digest",
        "digest": digest,
        "sent_at": sent_at,
        "alarms_link": f"{public_url.rstrip('/')}/alarms",
        "severity_emoji": SEVERITY_EMOJI,
    }


def _render(
    source: str, context: dict[str, Any], *, html: bool = False, strict: bool = False
) -> str:
    text = _compiled(source, html, strict).render(context)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _defaults(kind: str, digest: bool) -> dict[str, str]:
    if kind == "email":
        if digest:
            return {"subject": DIGEST_SUBJECT, "template": DIGEST_BODY}
        return {"subject": EMAIL_SUBJECT, "template": EMAIL_BODY}
    return {"template": SLACK_DIGEST if digest else SLACK_TEXT}


def _render_with(kind: str, sources: dict[str, str], context: dict[str, Any]) -> Rendered:
    subject = sources.get("subject")
    html = sources.get("html_template")
    text = _render(sources["template"], context)
    if kind == "slack" and len(text) > MAX_SLACK_TEXT:
        text = text[: MAX_SLACK_TEXT - 1] + "…"
    return Rendered(
        text=text,
        # A header is one line: a template's stray newlines must not break the message.
        subject=" ".join(_render(subject, context).split()) if subject else None,
        html=_render(html, context, html=True) if html else None,
    )


def render(kind: str, config: dict[str, Any], context: dict[str, Any]) -> Rendered:
    """The message for an e-mail or Slack channel; the channel's templates, else the defaults."""
    digest = context["event"] == "digest"
    defaults = _defaults(kind, digest)
    custom = {} if digest else {key: config[key] for key in TEMPLATE_KEYS if config.get(key)}
    if custom:
        try:
            return _render_with(kind, {**defaults, **custom}, context)
        except Exception as exc:
            log.warning("custom template failed; using the default", kind=kind, error=str(exc))
    return _render_with(kind, defaults, context)


def template_problems(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors of the templates in ``config`` (compile, then render a sample alarm strictly)."""
    problems = []
    context = alarm_context(SAMPLE_EVENT, "http://shopfloor.example", "2026-11-22T08:00:01Z")
    for key in TEMPLATE_KEYS:
        source = config.get(key)
        if source is None:
            continue
        try:
            _render(str(source), context, html=key == "html_template", strict=True)
        except Exception as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            msg = f"template does not work{where}: {exc}"
            problems.append({"loc": ["config", key], "msg": msg, "type": "template_error"})
    return problems


def webhook_body(event: str, document: dict[str, Any], sent_at: str) -> bytes:
    """The exact bytes a webhook receives (and its signature covers)."""
    key = "digest" if event == "digest" else "alarm"
    return orjson.dumps({"event": event, key: document, "sent_at": sent_at})
