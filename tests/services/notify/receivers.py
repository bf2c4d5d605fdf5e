"""Local receivers for the notification tests, on loopback: a webhook endpoint that also
speaks the Telegram bot API (aiohttp), and an SMTP server with STARTTLS and AUTH (aiosmtpd,
in its own thread)."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import Message as MailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from homeport.simulator.listeners import close_runner, serve_runner
from homeport.simulator.pki import ensure_pki


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class WebReceiver:
    """Records every POST; answers with ``statuses`` in turn (then 200); hangs on ``/hang``."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hanging: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/hang":
            self.hanging += 1
            await self.release.wait()  # until the test ends
            return web.json_response({"ok": True})
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        if "/bot" in request.path:
            return web.json_response({"ok": status == 200, "result": {}}, status=status)
        return web.json_response({"ok": True}, status=status)


async def web_receiver() -> AsyncIterator[WebReceiver]:
    receiver = WebReceiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    sock = await serve_runner(runner, "127.0.0.1")
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        receiver.release.set()
        await close_runner(runner, sock)


@dataclass
class Mailbox:
    host: str
    port: int
    ca_file: Path
    messages: list[MailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tls.append(session.ssl is not None)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smtp_server(tmp: Path, *, user: str, password: str) -> Iterator[Mailbox]:
    pki = ensure_pki(tmp / "smtp-pki")
    box = Mailbox("127.0.0.1", _free_port(), pki.ca_cert)

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        if ok:
            box.logins.append(user)
        return AuthResult(success=ok)

    controller = Controller(
        box,
        hostname=box.host,
        port=box.port,
        tls_context=pki.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticate,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
