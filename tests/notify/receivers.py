"""Real receivers for notifications: an HTTP/1.1 server and an SMTP server (aiosmtpd).

The HTTP receiver speaks plain HTTP/1.1 over ``asyncio.start_server`` on 127.0.0.1 and a free
port. Each path can be told to answer with another status or after a delay; the receiver can
be stopped (the port then refuses connections) and started again on the same port.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fixtures.servers import free_port


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return orjson.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        """True when X-Shopfloor-Signature is the HMAC-SHA256 of the exact body bytes."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-shopfloor-signature", ""), expected)


@dataclass
class HttpReceiver:
    port: int = field(default_factory=free_port)
    statuses: dict[str, int] = field(default_factory=dict)  # path -> status (default 200)
    delays: dict[str, float] = field(default_factory=dict)  # path -> seconds before answering
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(method, target, headers, body, time.monotonic()))
            if delay := self.delays.get(target):
                await asyncio.sleep(delay)
            status = self.statuses.get(target, 200)
            answer = b"ok" if status < 400 else f"failing on purpose ({status})".encode()
            writer.write(
                f"HTTP/1.1 {status} Status\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""


class _Collector:
    def __init__(self, refuse: set[str]) -> None:
        self.mails: list[Mail] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd's Controller (its own thread) on 127.0.0.1 and a free port.

    With ``login`` (user, password) it requires AUTH (over plain TCP: there is no certificate).
    """

    def __init__(
        self, refuse: set[str] | None = None, login: tuple[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self._collector = _Collector(refuse or set())
        options: dict[str, Any] = {}
        if login is not None:

            def authenticate(server, session, envelope, mechanism, data) -> AuthResult:
                given = (
                    isinstance(data, LoginPassword)
                    and (
                        data.login.decode(),
                        data.password.decode(),
                    )
                    == login
                )
                return AuthResult(success=given, handled=False)

            options = {
                "authenticator": authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self._controller = Controller(
            self._collector, hostname="127.0.0.1", port=self.port, **options
        )

    @property
    def mails(self) -> list[Mail]:
        return self._collector.mails

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
