"""Senders: one message out through a webhook, Slack's incoming webhooks or SMTP.

A sender returns when the receiver has taken the message, or raises ``SendFailed`` saying
whether trying again could help: a timeout, a dropped connection, a 5xx, 408 or 429 may pass
on a later attempt; a 4xx, a refused recipient or a missing SMTP server will not.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message as MailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib
import httpx
import orjson
import structlog

from shopfloor import __version__
from shopfloor.core.clock import rfc3339, utcnow
from shopfloor.notify.templates import (
    Rendered,
    alarm_context,
    digest_context,
    render,
    webhook_body,
)

log = structlog.get_logger("shopfloor.notify")

HTTP_TIMEOUT_S = 10.0
USER_AGENT = f"shopfloor/{__version__}"
RETRYABLE_STATUS = {408, 429}


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What a sender needs of a channel, read when its deliveries were claimed."""

    id: int
    name: str
    kind: str
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    delivery_id: int
    event: str  # an alarm event, or "digest"
    payload: dict[str, Any]  # the alarm event {event, alarm, at}, or the digest summary


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str | None = None
    port: int = 25
    user: str | None = None
    password: str | None = None
    security: str = "none"  # none | starttls | tls
    sender: str = "shopfloor@localhost"
    timeout_s: float = HTTP_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            security=settings.smtp_security,
            sender=settings.smtp_from,
        )


def _utf8_quoted_printable() -> Charset:
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable in the raw message, unlike base64
    return charset


UTF8 = _utf8_quoted_printable()


def _header(value: str) -> str | Header:
    """A header value; non-ASCII text as RFC 2047 encoded words, folded correctly."""
    return value if value.isascii() else Header(value, "utf-8")


def signature(secret: str, body: bytes) -> str:
    """``X-Shopfloor-Signature``: HMAC-SHA256 of the exact body bytes, hex, ``sha256=`` first."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(HTTP_TIMEOUT_S),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _checked(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    text = response.text[:300].strip()
    reason = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    if status in RETRYABLE_STATUS or status >= 500:
        raise SendFailed(reason, permanent=False, retry_after_s=_retry_after(response))
    if 300 <= status < 400:
        location = response.headers.get("location", "?")
        reason = f"HTTP {status}: redirects to {location} (not followed; fix the URL)"
    raise SendFailed(reason, permanent=True)


async def _post(http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise SendFailed(f"timed out: {type(exc).__name__}", permanent=False) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise SendFailed(f"bad URL: {exc}", permanent=True) from exc
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise SendFailed(reason, permanent=False) from exc
    _checked(response)


class Senders:
    """Sends through one shared HTTP client and the SMTP server of the settings."""

    def __init__(self, http: httpx.AsyncClient, smtp: SmtpConfig, public_url: str) -> None:
        self.http = http
        self.smtp = smtp
        self.public_url = public_url

    async def send(self, channel: ChannelInfo, message: Message) -> None:
        sender = {"webhook": self.webhook, "slack": self.slack, "email": self.email}[channel.kind]
        await sender(channel, message)

    async def webhook(self, channel: ChannelInfo, message: Message) -> None:
        document = message.payload if message.event == "digest" else message.payload["alarm"]
        body = webhook_body(message.event, document, rfc3339(utcnow()))
        headers = {
            "Content-Type": "application/json",
            "X-Shopfloor-Event": message.event,
            "X-Shopfloor-Delivery": str(message.delivery_id),
        }
        if secret := channel.config.get("secret"):
            headers["X-Shopfloor-Signature"] = signature(secret, body)
        await _post(self.http, channel.config["url"], body, headers)

    def _rendered(self, channel: ChannelInfo, message: Message) -> Rendered:
        sent_at = rfc3339(utcnow())
        if message.event == "digest":
            context = digest_context(message.payload, self.public_url, sent_at)
        else:
            context = alarm_context(message.payload, self.public_url, sent_at)
        return render(channel.kind, channel.config, context)

    async def slack(self, channel: ChannelInfo, message: Message) -> None:
        text = self._rendered(channel, message).text
        body = orjson.dumps({"text": text})
        headers = {"Content-Type": "application/json"}
        await _post(self.http, channel.config["url"], body, headers)

    def email_message(self, channel: ChannelInfo, message: Message) -> MailMessage:
        rendered = self._rendered(channel, message)
        mail: Any = MIMEText(rendered.text, "plain", UTF8)
        if rendered.html:
            mail = MIMEMultipart(
                "alternative", _subparts=[mail, MIMEText(rendered.html, "html", UTF8)]
            )
        mail["From"] = self.smtp.sender
        mail["To"] = ", ".join(channel.config["to"])
        mail["Subject"] = _header(rendered.subject or "shopfloor notification")
        mail["Date"] = format_datetime(utcnow())
        mail["Message-ID"] = make_msgid(
            domain=self.smtp.sender.rpartition("@")[2].strip("> ") or None
        )
        mail["X-Shopfloor-Event"] = message.event
        mail["X-Shopfloor-Delivery"] = str(message.delivery_id)
        return mail

    async def email(self, channel: ChannelInfo, message: Message) -> None:
        smtp = self.smtp
        if not smtp.host:
            raise SendFailed("no SMTP server is configured (SHOPFLOOR_SMTP_HOST)", permanent=True)
        mail = self.email_message(channel, message)
        try:
            refused, _ = await aiosmtplib.send(
                mail,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.user,
                password=smtp.password,
                use_tls=smtp.security == "tls",
                start_tls=smtp.security == "starttls",
                timeout=smtp.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
            permanent = all(r.code >= 500 for r in refused)
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)
            raise SendFailed(f"recipients refused: {detail}", permanent=permanent) from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.code}: {exc.message}"
            raise SendFailed(reason, permanent=exc.code >= 500) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise SendFailed(f"SMTP server: {exc}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise SendFailed(reason, permanent=False) from exc
        if refused:  # the others got it; these addresses need fixing in the channel
            detail = "; ".join(f"{to}: {r.code} {r.message}" for to, r in refused.items())
            log.warning("some recipients refused", channel=channel.id, refused=detail)
