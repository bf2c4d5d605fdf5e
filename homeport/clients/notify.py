"""Notification sinks: a generic webhook (JSON, HMAC-SHA256 signature), SMTP (the standard
library's ``smtplib``, STARTTLS before any login) and a Telegram-compatible bot API.

Built by ``services/notify`` from ``[[notify.sinks]]``, each with its secret read from
the secrets directory as a ``Secret``. ``send`` delivers one ``Message`` or raises
``SinkError``; retries, rate limits and queues are the caller's. Error texts never carry a
secret (the bot token lives in the URL path, so URLs are never put into messages).

Webhook body: the message as JSON (``id``, ``topic``, ``title``, ``text``, ``object``,
``at``, ``severity``, ``details``), signed as ``sha256=<hex>`` of the exact body bytes
with the HMAC key, in the configured header; ``X-Homeport-Delivery`` carries ``id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import httpx

from homeport.clients.errors import ClientError
from homeport.clients.secret import Secret


class SinkError(ClientError):
    """A delivery failed (the sink is down, refused, or answered an error)."""

    transient = True


@dataclass(frozen=True)
class Message:
    id: str
    """Stable identity of the notification (its deduplication key's digest)."""
    topic: str
    title: str
    text: str
    kind: str
    name: str
    at: str
    severity: str = "warning"
    details: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "title": self.title,
            "text": self.text,
            "object": {"kind": self.kind, "name": self.name},
            "at": self.at,
            "severity": self.severity,
            "details": dict(self.details),
        }


class Sender(Protocol):
    name: str

    async def send(self, message: Message) -> None: ...

    async def close(self) -> None: ...


def _verify(ca_file: Path | None, verify: bool) -> ssl.SSLContext | bool:
    if not verify:
        return False
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def signature(key: Secret, body: bytes) -> str:
    return "sha256=" + hmac.new(key.reveal().encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(
        self,
        name: str,
        url: str,
        *,
        key: Secret | None,
        header: str,
        timeout: float,
        ca_file: Path | None = None,
        verify: bool = True,
    ) -> None:
        self.name = name
        self.url = url
        self.key = key
        self.header = header
        self._client = httpx.AsyncClient(
            timeout=timeout, verify=_verify(ca_file, verify), trust_env=False
        )

    async def send(self, message: Message) -> None:
        body = json.dumps(message.body(), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Homeport-Delivery": message.id}
        if self.key is not None:
            headers[self.header] = signature(self.key, body)
        await _post(self._client, self.name, self.url, content=body, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()


class TelegramSender:
    def __init__(
        self,
        name: str,
        api_url: str,
        *,
        token: Secret,
        chat_id: str,
        timeout: float,
        ca_file: Path | None = None,
        verify: bool = True,
    ) -> None:
        self.name = name
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.chat_id = chat_id
        self._client = httpx.AsyncClient(
            timeout=timeout, verify=_verify(ca_file, verify), trust_env=False
        )

    async def send(self, message: Message) -> None:
        url = f"{self.api_url}/bot{self.token.reveal()}/sendMessage"
        payload = {
            "chat_id": self.chat_id,
            "text": f"{message.title}\n\n{message.text}"[:4096],
            "disable_web_page_preview": True,
        }
        answer = await _post(self._client, self.name, url, json=payload)
        if not answer.get("ok", False):
            raise SinkError(f"sink {self.name}: the bot API refused the message")

    async def close(self) -> None:
        await self._client.aclose()


async def _post(client: httpx.AsyncClient, name: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = await client.post(url, **kwargs)
    except httpx.HTTPError as exc:  # the message names the failure, never the URL
        raise SinkError(f"sink {name}: {type(exc).__name__}") from None
    if not response.is_success:
        raise SinkError(f"sink {name}: HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class SmtpSender:
    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: list[str],
        starttls: bool,
        username: str | None,
        password: Secret | None,
        timeout: float,
        ca_file: Path | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ca_file = ca_file

    async def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["Subject"] = f"[homeport] {message.title}"
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["X-Homeport-Delivery"] = message.id
        mail.set_content(message.text)
        try:
            await asyncio.to_thread(self._deliver, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise SinkError(
                f"sink {self.name}: {type(exc).__name__}: {_smtp_reason(exc)}"
            ) from None

    def _deliver(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.ehlo()
            if self.starttls:
                context = ssl.create_default_context(
                    cafile=str(self.ca_file) if self.ca_file else None
                )
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username and self.password is not None:
                smtp.login(self.username, self.password.reveal())
            smtp.send_message(mail)

    async def close(self) -> None:
        return None


def _smtp_reason(exc: BaseException) -> str:
    code = getattr(exc, "smtp_code", None)
    return f"code {code}" if code else (getattr(exc, "strerror", None) or "failed")
